"""Every message a delivery posts or edits, rendered here and only here, at delivery time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.blocks import case_messages
from bot.blocks import reminders as msgs
from bot.blocks.base import Message
from bot.blocks.case_messages import Style
from bot.domain.history import CustomerHistory
from bot.domain.lifecycle import Case, Compensation, FollowUp
from bot.domain.playbook import Playbook
from bot.domain.playbook_library import PlaybookLibrary
from bot.domain.survey import Survey
from bot.ids import Message as Part
from bot.surveys.links import SurveyLinks

CARD = "card"


@dataclass(frozen=True)
class Renderer:
    library: PlaybookLibrary
    style: Style
    names: Callable[[str], str]  # a person's display name ("" when Slack can't say)
    deciders: Callable[[str | None], str]  # who may decide, to mention, never the requester
    links: SurveyLinks | None = None  # None: surveys are off, and no message shows one

    def playbook(self, case: Case) -> Playbook:
        playbook = self.library.get(case.playbook_id)
        if playbook is None:
            raise LookupError(f"The playbook '{case.playbook_id}' is no longer installed.")
        return playbook

    def title(self, playbook_id: str) -> str:
        """A playbook's title, or its id once it is no longer installed."""
        playbook = self.library.get(playbook_id)
        return playbook.title if playbook is not None else playbook_id

    def part(self, case: Case, part: str, history: CustomerHistory | None = None) -> Message:
        """The card, or one of the walkthrough messages in its thread."""
        playbook = self.playbook(case)
        if part == CARD:
            return case_messages.case_card(case, playbook, self.style, history, self.title)
        if part == Part.APOLOGY:
            return case_messages.apology(case, playbook, self.names(case.opened_by))
        if part == Part.FIX:
            return case_messages.fix(case, playbook)
        return case_messages.compensation(case, playbook, self.style, history)

    def approval_request(self, case: Case, comp: Compensation) -> Message:
        return case_messages.approval_request(case, comp, self.style,
                                              self.deciders(comp.requested_by))

    def follow_up_dm(self, case: Case, follow_up: FollowUp,
                     history: CustomerHistory | None = None, survey: Survey | None = None,
                     now: datetime | None = None) -> Message:
        link = None
        if survey is not None and self.links is not None:
            link = case_messages.SurveyLink(survey, self.links.url(survey),
                                            expired=now is not None and survey.expired(now))
        return case_messages.follow_up_dm(case, self.playbook(case), follow_up, self.style,
                                          history, self.title, link)

    def approval_reminder(self, case: Case, comp: Compensation, since: datetime) -> Message:
        return msgs.approval_reminder(
            case_id=case.id or 0, amount=self.style.amount(comp.amount_minor),
            requester=comp.requested_by, since=since,
            managers=self.deciders(comp.requested_by))

    def approval_escalation(self, case: Case, comp: Compensation, since: datetime,
                            approver: str | None, managers: frozenset[str]) -> Message:
        return msgs.approval_escalation(
            case_id=case.id or 0, amount=self.style.amount(comp.amount_minor),
            requester=comp.requested_by, since=since, approver=approver,
            can_decide=bool(approver) and approver in managers
            and approver != comp.requested_by)
