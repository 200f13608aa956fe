"""A playbook as readable terminal text, for `amends playbooks show` and authors' previews."""

from __future__ import annotations

import textwrap

from bot.domain import money, templates
from bot.domain.durations import describe
from bot.domain.lifecycle import DEFAULT_FOLLOW_UP_HOURS
from bot.domain.playbook import TEMPLATE_SAMPLES, Playbook


def render(playbook: Playbook, *, currency: str, purchase_minor: int = 4000) -> str:
    def fmt(minor: int) -> str:
        return money.format_amount(minor, currency)

    out: list[str] = []
    add = out.append
    add(f"{playbook.title}  [{playbook.id}, version {playbook.version}, {playbook.content_hash}]")
    add("=" * min(len(out[0]), 78))
    if playbook.description:
        add(textwrap.fill(playbook.description, 78))
    if playbook.keywords or playbook.categories:
        add(f"Suggested for: {', '.join((*playbook.categories, *playbook.keywords))}")
    add("")
    add("Severity levels")
    for severity in playbook.severities:
        add(f"  {severity.key}: {severity.description}")
    add("")
    add("1. Apology")
    add(textwrap.indent(textwrap.fill(playbook.apology.guidance, 74), "   "))
    for point in playbook.apology.do:
        add(f"   Do:    {point}")
    for point in playbook.apology.dont:
        add(f"   Don't: {point}")
    add("   Suggested wording (with sample values):")
    wording = templates.render(playbook.apology.wording, TEMPLATE_SAMPLES)
    add(textwrap.indent(wording, "   | "))
    add("")
    add("2. Fix")
    for number, step in enumerate(playbook.fix, start=1):
        extra = ", ".join(x for x in (step.who, step.within and f"within {describe(step.within)}")
                          if x)
        add(f"   [{number}] {step.text}" + (f"  ({extra})" if extra else ""))
    add("")
    add(f"3. Compensation (amounts for a sample purchase of {fmt(purchase_minor)})")
    ceiling = playbook.ceiling_minor(purchase_minor)
    if ceiling is not None:
        add(f"   Ceiling: {playbook.ceiling_percent}% of the purchase = {fmt(ceiling)}")
    for severity in playbook.severities:
        add(f"   {severity.key}:")
        for option in playbook.options_for(severity.key):
            amount = option.amount_minor(currency=currency, purchase_minor=purchase_minor)
            how = f"{option.percent}% of the purchase" if option.percent is not None else "fixed"
            shown = fmt(amount) if amount is not None else "?"
            add(f"     - {option.label} ({option.type.label}, {shown}, {how})")
    add("")
    add("Root causes: " + "; ".join(playbook.causes))
    add("")
    policy = playbook.follow_up
    window = (describe(policy.within) if policy.within
              else f"the default window ({DEFAULT_FOLLOW_UP_HOURS} hours)")
    add(f"4. Follow-up in person: {policy.who}, within {window}")
    for point in policy.talking_points:
        add(f"   - {point}")
    if policy.escalate_after:
        to = f" to {policy.escalate_to}" if policy.escalate_to else ""
        add(f"   Escalates{to} {describe(policy.escalate_after)} after it is due.")
    return "\n".join(out)
