"""A playbook at the edge of what Slack takes: long steps, long root causes.

Its fix checklist carries more text than one Slack message may (msg_blocks_too_long in the
fake, as in Slack): Amends posts it cut visibly, and the playbook check warns where. Its root
causes are longer than a select shows (75 characters): the form offers them by stable id.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.blocks.base import CUT_NOTE, text_size
from bot.cli import main
from bot.domain.playbook import cause_id
from bot.domain.playbook_library import PlaybookLibrary, shipped_directory
from bot.ids import Action, Field
from tests.bot.conftest import SHOP_FLOOR, STAFF, Harness
from tests.bot.test_journey import block_text, case_row, open_case, thread

LONG_CAUSE = ("The courier's route was rebuilt overnight by the dispatch system and our "
              "shop was moved to the end of it, so every order left an hour late")  # 140


@pytest.fixture
def library(tmp_path: Path) -> PlaybookLibrary:  # overrides the shipped one for this module
    directory = tmp_path / "playbooks"
    shutil.copytree(shipped_directory(), directory, ignore=shutil.ignore_patterns("*.py"))
    path = directory / "late-delivery.yaml"
    data = yaml.safe_load(path.read_text())
    data["fix"] = [{"step": f"Step {n}: " + "check the order and tell the customer " * 50,
                    "who": "Staff"} for n in range(1, 9)]  # 8 x ~1,860 characters
    data["causes"] = [LONG_CAUSE, "Other"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return PlaybookLibrary.load(directory)


def test_a_checklist_too_long_for_one_message_is_posted_cut_visibly(
        harness: Harness) -> None:
    card = open_case(harness)
    _apology, fix, _compensation = thread(harness, card)
    assert "2. Fix" in block_text(fix) and CUT_NOTE in block_text(fix)
    assert text_size(fix.blocks) <= 11_000
    assert all(c.error is None for c in harness.fake.called("chat.postMessage"))
    # Still usable: every step keeps its button, and ticking one edits the message.
    harness.click(fix, Action.FIX_STEP, user=STAFF, index=7)
    assert case_row(harness).steps_done == [7]
    assert all(c.error is None for c in harness.fake.called("chat.update"))


def test_root_causes_are_offered_by_stable_id_and_recorded_whole(harness: Harness) -> None:
    card = open_case(harness)
    harness.click(card, Action.RESOLVE, user=STAFF)
    view = harness.opened_view()
    causes = next(b for b in view["blocks"] if b.get("block_id") == Field.ROOT_CAUSE)
    options = causes["element"]["options"]
    assert options[0]["value"] == cause_id(LONG_CAUSE)
    assert len(options[0]["text"]["text"]) <= 75  # what Slack shows of an option
    harness.submit(view, {Field.REACTION: "satisfied", Field.ROOT_CAUSE: cause_id(LONG_CAUSE),
                          Field.ACTION_TAKEN: "Moved our shop up the route"}, user=STAFF)
    assert case_row(harness).root_cause == LONG_CAUSE
    assert case_row(harness).state == "follow_up_due"
    assert harness.fake.posts_in(SHOP_FLOOR)  # the card is where it was


def test_a_choice_naming_no_cause_is_an_inline_error(harness: Harness) -> None:
    card = open_case(harness)
    harness.click(card, Action.RESOLVE, user=STAFF)
    view = harness.opened_view()
    causes = next(b for b in view["blocks"] if b.get("block_id") == Field.ROOT_CAUSE)
    causes["element"]["options"].append({"text": {"type": "plain_text", "text": "Forged"},
                                         "value": "cause-0000000000000000"})
    response = harness.submit(view, {Field.REACTION: "satisfied",
                                     Field.ROOT_CAUSE: "cause-0000000000000000",
                                     Field.ACTION_TAKEN: "x"}, user=STAFF)
    assert "Pick one of the root causes listed" in str(response.body)
    assert case_row(harness).state == "opened"


def test_the_playbook_check_warns_where_a_part_would_be_cut(
        library: PlaybookLibrary, capsys: pytest.CaptureFixture[str]) -> None:
    directory = next(iter(library.all())).source.parent
    assert main(["playbooks", "check", str(directory)]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    (warning,) = [line for line in out.splitlines() if "(warning)" in line]
    fix_line = next(n for n, line in enumerate(
        (directory / "late-delivery.yaml").read_text().splitlines(), start=1)
        if line.startswith("fix:"))
    assert re.search(rf"late-delivery\.yaml:{fix_line}: fix: carries [\d,]+ characters",
                     warning)
