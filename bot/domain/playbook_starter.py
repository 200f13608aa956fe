"""`amends playbooks new ID`: a commented starting playbook that passes the check."""

from __future__ import annotations

from bot.domain.playbook_loader import SLUG

SCHEMA_FILE = "playbook.schema.json"
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"

STARTER = MODELINE + '''
# Playbook: {title}. Check it with `amends playbooks check <this folder>` and see it as staff
# will with `amends playbooks show {id}`. Values are in the shop's currency (AMENDS_CURRENCY);
# percentages are of the purchase.
id: {id}
title: {title}
version: 1                      # bump it when you change the playbook; cases record it
description: >
  When this playbook applies, in a sentence or two, for the person picking it.
applies_when:                   # how /recover suggests it: form categories, summary words
  categories: []
  keywords: [{keyword}]
severities:                     # names are yours; each needs its compensation list below
  minor: A small slip the customer noticed; nothing was lost.
  major: The customer lost time or money, or had to chase us.
apology:
  guidance: >
    Say sorry first, before any explanation, and name what went wrong in plain words.
    Use your own words; the wording below is only a starting point.
  do:
    - Tell them what you are doing now and when they will hear back
  dont:
    - Blame a colleague, a supplier or the system
  # Jinja2, filled in for the customer: customer_name, staff_name, what_happened,
  # order_ref, location, severity.
  suggested_wording: |
    {{{{ customer_name }}}}, I'm sorry{{% if order_ref %}} about {{{{ order_ref }}}}{{% endif %}}.
    I'm {{{{ staff_name }}}} and I'm putting it right now.
fix:                            # the checklist; `within` is how soon (minutes, hours, days)
  - step: Find out exactly what happened and tell the customer what you will do
    who: Staff
    within: 10 minutes
  - step: Put it right, then note the root cause for the report
    who: Staff
compensation:
  ceiling: 150%                 # beyond about 150% of the purchase, more stops helping
  options:                      # per severity; type is refund, voucher, discount,
    minor:                      # free_item or goodwill; give a value or a percent
      - type: goodwill
        label: A small gesture with their next order
        value: 5.00
    major:
      - type: refund
        label: Refund half of the order
        percent: 50
      - type: voucher
        label: Voucher for their next order
        value: 15.00
causes:                         # offered when the case is resolved, for the digest
  - Human error
  - Process gap
  - Other
follow_up:                      # a manager closes the loop in person
  who: Manager
  within: 48 hours
  talking_points:
    - Ask whether it was put right, in their words
    - Say what changed so it does not happen again
  escalate_after: 24 hours
'''


def starter(playbook_id: str) -> str:
    """The starting playbook for `playbook_id`, or ValueError for an id the loader refuses."""
    if not SLUG.match(playbook_id):
        raise ValueError(f"'{playbook_id}' must be lowercase letters, digits and dashes, "
                         "like 'late-delivery'")
    title = playbook_id.replace("-", " ").capitalize()
    return STARTER.format(id=playbook_id, title=title, keyword=playbook_id.split("-")[0])
