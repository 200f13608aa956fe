"""The approval ladder as configured, resolved against Slack: the policy each change is
checked with, and who a request (or its escalation) asks."""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.text import deciders
from bot.domain.compensation import CompensationPolicy, Level
from bot.domain.lifecycle import Case, Compensation
from bot.managers import ManagerDirectory
from bot.settings import Settings


def policy(settings: Settings, managers: ManagerDirectory) -> CompensationPolicy:
    """The policy as it is now: the ladder's user groups read through the directory's cache."""
    confined: dict[str, frozenset[str]] = {}
    if settings.approvals_by_location:
        for location, user in settings.location_managers.items():
            confined[user] = confined.get(user, frozenset()) | {location}
    return CompensationPolicy(
        staff_limit_minor=settings.staff_limit_minor, managers=managers.all(),
        currency=settings.currency,
        ladder=tuple(Level(name=step.name, limit_minor=step.limit_minor,
                           members=managers.on(step)) for step in settings.approval_ladder),
        personal_limits=settings.personal_limits, approver_locations=confined)


@dataclass(frozen=True)
class Asked:
    """Who a request goes to: the level, described ("Operations (up to £1,000.00)"), and
    their mentions (the level's user groups and up to ten people, never the requester)."""

    level: str
    mentions: str
    ladder: bool  # a ladder is configured (else: "the managers", as before it existed)
    endorsable: bool = False  # someone below the level may endorse it on the way up
    own_limit_minor: int | None = None  # the requester's own limit, when raised for them


def asked(settings: Settings, managers: ManagerDirectory, case: Case, comp: Compensation, *,
          higher: bool = False) -> Asked | None:
    """The level a request goes to (`higher`: the one above it, for an escalation). None:
    nobody (else) on the ladder may decide it."""
    rules = policy(settings, managers)
    found = rules.asked(comp.amount_minor, comp.requested_by, case.location)
    if found is not None and higher:
        found = rules.above(found[0] + 1, comp.requested_by, case.location)
    if found is None:
        return None
    index, people = found
    own = rules.own_limit(comp.requested_by)
    if settings.approval_ladder:
        step = settings.approval_ladder[index]
        # A group mention reaches people a location rule may exclude: then only names.
        confined = settings.approvals_by_location and any(
            p in settings.location_managers.values() for p in managers.on(step))
        groups = () if confined else step.groups
    else:
        groups = (settings.manager_group,) if settings.manager_group else ()
    return Asked(level=rules.describe(index),
                 mentions=deciders(people, besides=comp.requested_by, groups=groups),
                 ladder=bool(settings.approval_ladder),
                 endorsable=bool(settings.approval_ladder) and index > 0,
                 own_limit_minor=own if own > settings.staff_limit_minor else None)
