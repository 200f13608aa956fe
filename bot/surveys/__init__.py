"""The customer survey over the web: its signed links (links) and its page (page)."""
