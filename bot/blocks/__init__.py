"""Block Kit builders for messages and views. Built with slack_sdk's models, so each one is
validated against Slack's limits when it is turned into JSON."""
