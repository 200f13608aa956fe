"""Every message a delivery posts or edits, rendered here and only here, at delivery time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.approvers import Asked
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
    # Who a request goes to (True: the level above, for an escalation); None: nobody.
    approvers: Callable[[Case, Compensation, bool], Asked | None]
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
        asked = self.approvers(case, comp, False)
        return case_messages.approval_request(
            case, comp, self.style, asked.mentions if asked else "Managers:",
            level=asked.level if asked and asked.ladder else None,
            endorsable=bool(asked and asked.endorsable),
            own_limit_minor=asked.own_limit_minor if asked else None)

    def endorsed_note(self, case: Case, comp: Compensation, by: str) -> Message:
        asked = self.approvers(case, comp, False)
        return case_messages.endorsed_note(
            case, comp, self.style, by=by, who=asked.mentions if asked else "Managers:",
            level=asked.level if asked else None)

    def approval_passed_up(self, case: Case, comp: Compensation, since: datetime
                           ) -> Message | None:
        """The escalation up the ladder, when there is a level above the one asked."""
        higher = self.approvers(case, comp, True)
        if higher is None or not higher.ladder:
            return None
        return msgs.approval_passed_up(
            case_id=case.id or 0, amount=self.style.amount(comp.amount_minor),
            requester=comp.requested_by, since=since, who=higher.mentions, level=higher.level)

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
            managers=self._mentions(case, comp))

    def _mentions(self, case: Case, comp: Compensation) -> str:
        asked = self.approvers(case, comp, False)
        return asked.mentions if asked else "Managers:"

    def approval_escalation(self, case: Case, comp: Compensation, since: datetime,
                            approver: str | None, managers: frozenset[str]) -> Message:
        return msgs.approval_escalation(
            case_id=case.id or 0, amount=self.style.amount(comp.amount_minor),
            requester=comp.requested_by, since=since, approver=approver,
            can_decide=bool(approver) and approver in managers
            and approver != comp.requested_by)
