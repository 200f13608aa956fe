"""The database layer: schema, migrations and queries. Knows nothing of Slack's API."""
