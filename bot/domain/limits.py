"""How long each piece of case text may be: one table for the forms, the playbook check and
the database columns, so that what a form or a playbook accepts always fits the database."""

from __future__ import annotations

USER_ID = 32  # Slack user ids are 9-11 characters; Enterprise Grid ids a little more
CUSTOMER_NAME = 200
CONTACT = 200
SUMMARY = 2000  # what happened
ORDER_REF = 100
LOCATION = 100
PURCHASE_TEXT = 20
COMPENSATION_LABEL = 200
AMOUNT_TEXT = 20
REASON = 500  # a denial's or a cancellation's reason
ACTION_TAKEN = 1000
NOTES = 1000
ROOT_CAUSE = 150  # a playbook cause, offered as a select option (Slack: value <= 150)

PLAYBOOK_ID = 64
PLAYBOOK_VERSION = 32
SEVERITY_KEY = 32
OPTION_KEY = 64

# What one Slack message's blocks may carry in all: Slack refuses about 12,000 characters
# of block text (msg_blocks_too_long); messages are cut to this, with a margin.
MESSAGE_TEXT = 11_000

SURVEY_COMMENT = 1000  # what a customer may write with their survey answer
