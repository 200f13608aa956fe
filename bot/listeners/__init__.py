"""Bolt listeners: each module has register(app) and only translates Slack <-> use cases."""
