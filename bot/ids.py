"""Every action_id, callback_id and block_id Amends uses: the one home of those strings."""

from __future__ import annotations

import re
from enum import StrEnum


class Action(StrEnum):
    APOLOGY_GIVEN = "apology_given"
    FIX_STEP = "fix_step"  # suffixed ":<step>" so each button in a block is unique
    COMPENSATION_OPTION = "compensation_option"  # suffixed ":<option key>"
    COMPENSATION_CUSTOM = "compensation_custom"
    APPROVE = "approve"
    DENY = "deny"
    ENDORSE = "endorse"  # pass a request up the approval ladder with one's support
    RESOLVE = "resolve"
    CANCEL = "cancel_case"
    FOLLOWED_UP = "followed_up"
    SNOOZE = "follow_up_snooze"
    PLAYBOOK_PICKED = "playbook_picked"  # the playbook select in the new-case modal
    OPEN_CASE = "open_case"  # the Home tab's "New case" button
    SHOW_SUMMARY = "show_summary"  # "Read all" under a long "What happened"
    SHOW_TIMELINE = "show_timeline"  # "History" on the card
    TIMELINE_PAGE = "timeline_page"  # "Older" / "Newer" in the History modal

    def pattern(self) -> re.Pattern[str]:
        """Matches this action with or without its ':<suffix>'."""
        return re.compile(rf"^{re.escape(self.value)}(:.+)?$")

    def with_suffix(self, suffix: str | int) -> str:
        return f"{self.value}:{suffix}"


class Shortcut(StrEnum):
    """callback_id of each shortcut declared in manifest.yml."""

    OPEN_FROM_MESSAGE = "open_recovery_case"  # a message's "Open a recovery case"


class View(StrEnum):
    NEW_CASE = "new_case"
    CUSTOM_COMPENSATION = "custom_compensation"
    DENY = "deny_compensation"
    RESOLVE = "resolve_case"
    FOLLOW_UP = "record_follow_up"
    CANCEL = "cancel_case"
    SUMMARY = "case_summary"  # read-only: the whole of "What happened"
    TIMELINE = "case_timeline"  # read-only: who did what and when


class Field(StrEnum):
    """block_id of each modal input: what inline errors are keyed on."""

    CUSTOMER = "customer"
    CONTACT = "contact"
    WHAT_HAPPENED = "what_happened"
    PLAYBOOK = "playbook"
    SEVERITY = "severity"
    ORDER_REF = "order_ref"
    LOCATION = "location"
    PURCHASE = "purchase"
    COMP_TYPE = "comp_type"
    COMP_LABEL = "comp_label"
    AMOUNT = "amount"
    REASON = "reason"
    REACTION = "reaction"
    ROOT_CAUSE = "root_cause"
    ACTION_TAKEN = "action_taken"
    NOTES = "notes"
    MANAGER = "manager"


class Message(StrEnum):
    """The walkthrough messages in a case thread, each edited in place."""

    APOLOGY = "apology"
    FIX = "fix"
    COMPENSATION = "compensation"
