"""Telling Slack (and the shop's own systems) what changed: the delivery side.

`outbox` claims queued effects and runs them with retries; `handlers` does each kind of
delivery, rendering with `render` from the database as it is at delivery time;
`webhooks` signs and sends to the shop's own systems. Where each message of a case lives is
`storage.cases`. Nothing here imports the listeners.
"""
