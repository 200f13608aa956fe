"""Who may give how much: the staff limit, the approval ladder and the ceiling.

Authority comes in steps. Everyone may give up to the staff limit (a trusted person up to
their own, higher limit) at once. Above it, a request goes to the lowest level of the ladder
whose limit covers it; anyone on that level or higher approves or denies it, never the one
who asked. Someone on a lower level may endorse it, which passes it up with their support
and shows in the thread. Optionally, a location's managers act on that location's cases
only. Without a ladder, there is one level, the managers, with no limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.domain import money
from bot.domain.errors import CompensationRefused, NotAuthorised

MANAGERS = "Managers"  # the one level when no ladder is set


@dataclass(frozen=True, kw_only=True)
class Level:
    """One step of authority: who is on it (Slack user groups already resolved to people)
    and the most they may approve; None: no limit."""

    name: str
    limit_minor: int | None
    members: frozenset[str]

    def covers(self, amount_minor: int) -> bool:
        return self.limit_minor is None or amount_minor <= self.limit_minor


def place_key(location: str | None) -> str:
    """A location as compared: case and spacing don't make two shops."""
    return " ".join((location or "").split()).lower()


@dataclass(frozen=True, kw_only=True)
class CompensationPolicy:
    staff_limit_minor: int
    managers: frozenset[str]  # with no ladder: the one level; with one, also on it
    currency: str
    ladder: tuple[Level, ...] = ()  # lowest limit first; () is one level of `managers`
    personal_limits: Mapping[str, int] = field(default_factory=dict)  # own limits, raised
    # Approvers confined to some locations' cases (as named in the settings); absent: any.
    approver_locations: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def levels(self) -> tuple[Level, ...]:
        return self.ladder or (Level(name=MANAGERS, limit_minor=None, members=self.managers),)

    def is_manager(self, user: str) -> bool:
        """On the ladder at any level (a manager for working cases and follow-ups too)."""
        return user in self.managers or any(user in level.members for level in self.levels)

    def own_limit(self, user: str | None) -> int:
        """What `user` may give without asking: the staff limit, or their own if higher."""
        personal = self.personal_limits.get(user or "", 0)
        return max(self.staff_limit_minor, personal)

    def needs_approval(self, amount_minor: int, requester: str | None = None) -> bool:
        """Within the requester's own limit it is approved at once; above it, the ladder."""
        return amount_minor > self.own_limit(requester)

    def needed(self, amount_minor: int) -> int | None:
        """The index of the lowest level whose limit covers the amount; None: none does."""
        return next((i for i, level in enumerate(self.levels) if level.covers(amount_minor)),
                    None)

    def rank(self, user: str) -> int | None:
        """The index of the highest level `user` is on; None: not on the ladder."""
        return max((i for i, level in enumerate(self.levels) if user in level.members),
                   default=None)

    def serves(self, user: str, location: str | None) -> bool:
        """Whether `user` acts on cases at `location` (a location manager: theirs only)."""
        mine = self.approver_locations.get(user)
        return mine is None or place_key(location) in {place_key(m) for m in mine}

    def check_request(self, amount_minor: int, requester: str) -> None:
        """Refuse, before anything is recorded, what no level may approve."""
        if self.needs_approval(amount_minor, requester) and self.needed(amount_minor) is None:
            top = max((lv.limit_minor or 0) for lv in self.levels)
            raise CompensationRefused(
                f"{self._fmt(amount_minor)} is more than anyone here may approve (the most is "
                f"{self._fmt(top)}, by {self.levels[-1].name}). Choose a smaller amount, or "
                "ask leadership outside Amends.")

    def _acting_rank(self, person: str, requester: str, location: str | None, *,
                     verb: str, requester_says: str) -> int:
        """The rank of someone acting on a request: on the ladder, not its requester, and
        serving the case's location; else NotAuthorised, saying which."""
        rank = self.rank(person)
        if rank is None:
            raise NotAuthorised(f"Only a manager can {verb}.")
        if person == requester:
            raise NotAuthorised(f"You asked for this compensation, so {requester_says}.")
        if not self.serves(person, location):
            raise NotAuthorised(f"You approve for {self._yours(person)} only; this case is at "
                                f"{location or 'no location'}.")
        return rank

    def check_decider(self, *, decider: str, requester: str, amount_minor: int | None = None,
                      location: str | None = None) -> None:
        """Approve or deny: on the ladder at or above the level the amount needs, serving the
        case's location, and not the one who asked."""
        rank = self._acting_rank(decider, requester, location,
                                 verb="approve or deny compensation",
                                 requester_says="another manager has to decide on it")
        if amount_minor is None:
            return
        needed = self.needed(amount_minor)
        if needed is None or rank < needed:
            level = self.levels[rank]
            wanted = (f"it needs {self.levels[needed].name} (up to "
                      f"{self._limit(self.levels[needed])})" if needed is not None
                      else "no level may approve it")
            raise NotAuthorised(
                f"{self._fmt(amount_minor)} is above what {level.name} may approve "
                f"({self._limit(level)}): {wanted}. Endorse it to pass it up with your "
                "support.")

    def check_endorser(self, *, endorser: str, requester: str, amount_minor: int,
                       location: str | None, endorsed_by: tuple[str, ...]) -> None:
        """Endorse: on the ladder below the needed level (whoever may decide, decides)."""
        rank = self._acting_rank(endorser, requester, location,
                                 verb="endorse a request for compensation",
                                 requester_says="another manager has to endorse or decide "
                                                "on it")
        needed = self.needed(amount_minor)
        if needed is not None and rank >= needed:
            raise NotAuthorised("You may approve this yourself: approve or deny it rather "
                                "than passing it up.")
        if endorser in endorsed_by:
            raise NotAuthorised("You have already endorsed this request.")

    def asked(self, amount_minor: int, requester: str | None,
              location: str | None) -> tuple[int, frozenset[str]] | None:
        """Who a request goes to: the lowest level that covers it and has someone who may
        decide it (not the requester, serving the location), with those people; a level
        with nobody eligible passes it up. None: nobody on the ladder may."""
        return self.above(self.needed(amount_minor), requester, location)

    def above(self, start: int | None, requester: str | None,
              location: str | None) -> tuple[int, frozenset[str]] | None:
        """The first level from `start` up with someone eligible, and those people."""
        if start is None:
            return None
        for i in range(start, len(self.levels)):
            people = frozenset(m for m in self.levels[i].members
                               if m != requester and self.serves(m, location))
            if people:
                return i, people
        return None

    def check_ceiling(self, *, amount_minor: int, already_minor: int,
                      ceiling_minor: int | None, purchase_minor: int | None) -> None:
        """More than the ceiling (by default 150% of the purchase) stops helping: refuse it."""
        if ceiling_minor is None or purchase_minor is None:
            return
        total = already_minor + amount_minor
        if total > ceiling_minor:
            raise CompensationRefused(
                f"That would bring this case's compensation to {self._fmt(total)}, above the "
                f"ceiling of {self._fmt(ceiling_minor)} for a {self._fmt(purchase_minor)} "
                "purchase. Past that point more compensation stops helping; choose a smaller "
                "option.")

    def describe(self, index: int) -> str:
        """A level for people: "Operations (up to £1,000.00)"."""
        level = self.levels[index]
        return f"{level.name} ({self._limit(level)})"

    def _limit(self, level: Level) -> str:
        return ("no limit" if level.limit_minor is None
                else f"up to {self._fmt(level.limit_minor)}")

    def _yours(self, user: str) -> str:
        return ", ".join(sorted(self.approver_locations.get(user, ()))) or "no location"

    def _fmt(self, minor: int) -> str:
        return money.format_amount(minor, self.currency)
