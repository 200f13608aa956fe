"""Who may give how much: the staff limit, manager approval and the ceiling."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import money
from bot.domain.errors import CompensationRefused, NotAuthorised


@dataclass(frozen=True, kw_only=True)
class CompensationPolicy:
    staff_limit_minor: int
    managers: frozenset[str]
    currency: str

    def is_manager(self, user: str) -> bool:
        return user in self.managers

    def needs_approval(self, amount_minor: int) -> bool:
        """Within the staff limit it is approved at once; above it, a manager decides."""
        return amount_minor > self.staff_limit_minor

    def check_decider(self, *, decider: str, requester: str) -> None:
        if not self.is_manager(decider):
            raise NotAuthorised("Only a manager can approve or deny compensation.")
        if decider == requester:
            raise NotAuthorised("You asked for this compensation, so another manager has to "
                                "decide on it.")

    def check_ceiling(self, *, amount_minor: int, already_minor: int,
                      ceiling_minor: int | None, purchase_minor: int | None) -> None:
        """More than the ceiling (by default 150% of the purchase) stops helping: refuse it."""
        if ceiling_minor is None or purchase_minor is None:
            return
        total = already_minor + amount_minor
        if total > ceiling_minor:
            def fmt(minor: int) -> str:
                return money.format_amount(minor, self.currency)

            raise CompensationRefused(
                f"That would bring this case's compensation to {fmt(total)}, above the ceiling of "
                f"{fmt(ceiling_minor)} for a {fmt(purchase_minor)} purchase. Past that point "
                "more compensation stops helping; choose a smaller option.")
