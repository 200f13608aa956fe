"""The App Home tab, and managers from a Slack user group."""

from __future__ import annotations

import json

from bot.managers import ManagerDirectory
from bot.messaging import make_client
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack
from tests.bot.conftest import LEADER, MANAGER, STAFF, Harness
from tests.bot.test_followthrough import resolve
from tests.bot.test_journey import open_case, thread


def _home(harness: Harness, user: str) -> str:
    harness.fake.reset_calls()
    body = sr.event_body({"type": "app_home_opened", "user": user, "channel": "D0HOME",
                          "tab": "home", "event_ts": "1.0"})
    response = harness.send(body, {"content-type": "application/json", **sr.sign(body)})
    assert response.status == 200
    (call,) = harness.fake.called("views.publish")
    assert call.args["user_id"] == user
    return json.dumps(call.args["view"], ensure_ascii=False)


def test_home_shows_staff_their_cases_and_managers_their_queue(harness: Harness) -> None:
    card = open_case(harness)
    compensation = thread(harness, card)[2]
    harness.click(compensation, "compensation_custom", user=STAFF)
    harness.submit(harness.opened_view(), {"comp_type": "refund", "comp_label": "Refund",
                                           "amount": "30"}, user=STAFF)
    staff_home = _home(harness, STAFF)
    assert "Your open cases* (1)" in staff_home and "Sam &lt;!channel&gt; Taylor" in staff_home
    assert "Approvals waiting" not in staff_home
    manager_home = _home(harness, MANAGER)
    assert "Approvals waiting for you* (1)" in manager_home
    assert "$30.00 refund" in manager_home
    assert "Your follow-ups* (0)" in manager_home


def test_leadership_sees_the_week_so_far_on_home(harness: Harness) -> None:
    # Last week (T0 is a Monday morning): one case, resolved in 30 minutes.
    last_week = open_case(harness)
    harness.clock.advance(minutes=30)
    resolve(harness, last_week)
    harness.clock.advance(days=7)  # this week, the same stretch of it
    first = open_case(harness, answers={"customer": "Robin <!here>", "contact": "r@x.io"})
    compensation = thread(harness, first)[2]
    harness.click(compensation, "compensation_option:major-2", user=STAFF)  # $15 voucher
    open_case(harness, answers={"contact": "b@x.io"})
    harness.clock.advance(minutes=30)

    home = _home(harness, LEADER)
    assert "*This week so far*" in home
    assert "*Cases opened*\\n2 (last week 1)" in home
    assert "$15.00 (last week $0.00)" in home
    # The follow-up of last week's case is overdue by now, and whose it is.
    assert f"*Overdue follow-ups* <@{MANAGER}> 1" in home
    assert "*Oldest open cases*" in home and "Robin &lt;!here&gt;" in home
    assert "<!here>" not in home
    assert "This week so far" not in _home(harness, STAFF)  # leadership only
    assert "This week so far" not in _home(harness, MANAGER)


def test_new_case_button_on_home_opens_the_modal(harness: Harness) -> None:
    home = json.loads(_home(harness, STAFF))
    button = next(e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"])
    harness.interact(sr.block_action(user=STAFF, action={
        "action_id": button["action_id"], "block_id": "b", "type": "button",
        "value": button["value"]}))
    view = harness.opened_view()
    assert view["callback_id"] == "new_case"


def test_manager_group_members_are_managers_and_cached() -> None:
    fake = FakeSlack().start()
    try:
        fake.group_members["S0MANAGERS"] = ["U0GROUP01"]
        now = [0.0]
        directory = ManagerDirectory(managers=frozenset({"U0MGR001"}), group="S0MANAGERS",
                                     client=make_client(token="xoxb-x", base_url=fake.url),
                                     clock=lambda: now[0])
        assert directory.all() == {"U0MGR001", "U0GROUP01"}
        fake.group_members["S0MANAGERS"] = ["U0GROUP02"]
        assert directory.all() == {"U0MGR001", "U0GROUP01"}  # cached
        now[0] = 301.0
        assert directory.all() == {"U0MGR001", "U0GROUP02"}
        assert len(fake.called("usergroups.users.list")) == 2
        # A Slack failure keeps the last known members rather than locking managers out.
        fake.fail_next["usergroups.users.list"] = [(200, {"ok": False, "error": "fatal"})]
        now[0] = 700.0
        assert directory.all() == {"U0MGR001", "U0GROUP02"}
    finally:
        fake.stop()
