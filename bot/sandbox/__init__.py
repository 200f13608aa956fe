"""`amends sandbox`: the real bot against a local stand-in for Slack, in a browser.

The stand-in is the fake Slack Web API the tests use (fake_slack.py), grown up: it keeps
channels, threads, direct messages, modals and Home tabs, and it sends the bot correctly
signed commands, clicks and submissions on the page's behalf.
"""
