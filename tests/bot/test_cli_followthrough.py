"""The follow-through commands: digest preview and send, reminders run, export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.compensation import CompensationPolicy
from bot.domain.lifecycle import Case, Customer, Outcome, Reaction
from bot.domain.playbook import CompensationType
from bot.domain.playbook_library import PlaybookLibrary
from bot.sandbox import slack_requests as sr
from bot.sandbox.fake_slack import FakeSlack
from storage import cases, db


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack,
              library: PlaybookLibrary) -> Path:
    url = f"sqlite:///{tmp_path / 'amends.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    playbook = library.get("billing-error")
    policy = CompensationPolicy(staff_limit_minor=5000, managers=frozenset(), currency="GBP")
    with db.make_sessions(engine).begin() as session:
        case = Case.open(playbook=playbook, severity="major",
                         customer=Customer(name='Sam "Quote", Taylor', contact="07700 900123"),
                         summary="charged twice", opened_by="U0STAFF1", currency="GBP",
                         at=datetime(2026, 11, 17, 10, tzinfo=UTC), location="Station",
                         purchase_minor=2450)
        case.propose_compensation(type=CompensationType.REFUND, label="Refund", amount_minor=2450,
                                  option_key=None, actor="U0STAFF1", policy=policy,
                                  playbook=playbook, at=datetime(2026, 11, 17, 10, 5, tzinfo=UTC))
        case.resolve(outcome=Outcome(reaction=Reaction.SATISFIED, root_cause="Refund not processed",
                                     action_taken="Refunded", notes="Sorry again"),
                     playbook=playbook,
                     actor="U0STAFF1", at=datetime(2026, 11, 17, 10, 45, tzinfo=UTC),
                     manager="U0MGR001")
        cases.add(session, case)
    monkeypatch.chdir(tmp_path)
    for name, value in {"DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-test-token-0000",
                        "SLACK_SIGNING_SECRET": sr.SECRET, "SLACK_API_URL": fake_slack.url,
                        "AMENDS_LEADERSHIP_CHANNEL": "C0LEADERS", "AMENDS_CURRENCY": "GBP",
                        "AMENDS_TIMEZONE": "Europe/London"}.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def test_digest_preview_prints_a_readable_week(installed: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "preview", "--week", "2026-W47"]) == 0
    out = capsys.readouterr().out
    assert "# Recovery digest, week 47, Mon 16 Nov – Sun 22 Nov 2026" in out
    assert "*1* cases opened" in out and "Compensation given: *£24.50*" in out
    assert "<!date" not in out  # plain text for a terminal
    # Words, not ids: playbook titles and people's names; no stray space before a comma.
    assert "• Billing error or double charge: 1" in out and "billing-error" not in out
    assert "@Morgan (1)" in out and "U0MGR001" not in out
    assert " ," not in out
    assert out.count("not done yet") == 1 and out.count("of 1 due") == 1  # the figure once
    assert main(["digest", "preview", "--week", "2026-47"]) == 2
    assert "2026-W47" in capsys.readouterr().err


def test_digest_preview_writes_the_chart_as_a_png(installed: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image  # matplotlib's own image library

    out = installed / "chart.png"
    assert main(["digest", "preview", "--week", "2026-W47", "--chart", str(out)]) == 0
    assert f"The chart is in {out}." in capsys.readouterr().out
    with Image.open(out) as image:
        image.load()  # decodes the whole image, not only its header
        assert (image.format, image.size) == ("PNG", (1200, 750))
        # Drawn, not blank: the four panels' colours are in it (Okabe-Ito blue bars).
        colours = {c for _n, c in image.convert("RGB").getcolors(1_000_000) or []}
    assert (0x00, 0x72, 0xB2) in colours and (0xD5, 0x5E, 0x00) in colours
    assert main(["digest", "preview", "--week", "2026-W47", "--chart",
                 str(installed / "no-such-dir" / "c.png")]) == 1
    assert "--chart: can't write" in capsys.readouterr().err


def test_digest_send_twice_posts_once(installed: Path, fake_slack: FakeSlack,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "send", "--week", "2026-W47"]) == 0
    assert "Sent the digest for 2026-W47" in capsys.readouterr().out
    assert main(["digest", "send", "--week", "2026-W47"]) == 0
    assert "already sent" in capsys.readouterr().out
    assert len(fake_slack.posts_in("C0LEADERS")) == 1
    assert fake_slack.invalid == []


def test_reminders_run_for_cron(installed: Path, fake_slack: FakeSlack,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reminders", "run"]) == 0  # the follow-up is long overdue by now
    assert "1 follow-up reminder(s), 1 escalation(s)" in capsys.readouterr().out
    assert main(["reminders", "run"]) == 0
    assert "0 follow-up reminder(s), 0 escalation(s)" in capsys.readouterr().out


def test_export_writes_csv_for_spreadsheets(installed: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--since", "2026-11-01", "--until", "2026-12-01"]) == 0
    captured = capsys.readouterr()
    (row,) = list(csv.DictReader(io.StringIO(captured.out)))
    assert row["customer"] == 'Sam "Quote", Taylor' and row["contact"] == "07700 900123"
    assert row["compensation_given"] == "24.50" and row["compensations"] == "1"
    assert row["recovery_minutes"] == "45" and row["root_cause"] == "Refund not processed"
    assert row["follow_up_manager"] == "U0MGR001" and row["state"] == "follow_up_due"
    # People's names beside their ids; what happened and the resolver's notes as columns.
    assert (row["opened_by"], row["opened_by_name"]) == ("U0STAFF1", "Alex")
    assert row["follow_up_manager_name"] == "Morgan"
    assert row["what_happened"] == "charged twice" and row["notes"] == "Sorry again"
    assert "1 case(s) exported" in captured.err
    assert main(["export", "--since", "2026-12-01", "--until", "2026-11-01"]) == 2
    assert "is not before --until" in capsys.readouterr().err
    assert main(["export", "--since", "2026-12-01", "-o", "out.csv"]) == 0
    assert (installed / "out.csv").read_text().count("\n") == 1  # the header only
    with pytest.raises(SystemExit, match="not a date"):
        main(["export", "--since", "last week"])


def test_purge_command(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--older-than", "365d", "--dry-run"]) == 0
    assert "0 finished case(s)" in capsys.readouterr().out
    assert main(["purge", "--older-than", "1d", "--dry-run"]) == 0
    assert "1 finished case(s)" in capsys.readouterr().out
    assert main(["purge", "--older-than", "1d"]) == 0
    assert "Anonymised 1 finished case(s)" in capsys.readouterr().out
    assert main(["export", "--since", "2026-11-01"]) == 0
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["customer"] == "Customer" and row["contact"] == ""
    assert row["compensation_given"] == "24.50"
    assert main(["purge", "--older-than", "soon"]) == 2


def test_digest_preview_needs_no_slack(installed: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # nothing listens there
    assert main(["digest", "preview", "--week", "2026-W47"]) == 0
    assert "*1* cases opened" in capsys.readouterr().out


def test_case_prints_its_history_for_people_and_for_scripts(
        installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["case", "C-0001"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'C-0001 · Sam "Quote", Taylor · billing-error · resolved, follow-up due'
    # In the shop's time zone, with people's names beside their ids.
    assert out[1].startswith("2026-11-17 10:00 GMT  Alex (U0STAFF1) opened the case "
                             "(billing-error, major)")
    assert "gave £24.50 (refund: Refund), within the staff limit" in out[2]
    assert "resolved the case: the customer felt satisfied" in out[3]
    assert out[4] == "    > Sorry again"  # what the staff member wrote, quoted
    assert out[-1] == "3 events."

    assert main(["case", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["case"] == "C-0001" and data["state"] == "follow_up_due"
    assert [e["kind"] for e in data["events"]] == ["opened", "compensation_approved",
                                                   "resolved"]
    assert data["events"][1]["data"]["amount_minor"] == 2450
    assert data["events"][2]["detail"] == "Sorry again"

    assert main(["case", "C-0099"]) == 1
    assert "There is no case C-0099" in capsys.readouterr().err
    assert main(["case", "yesterday's"]) == 2
    assert "not a case reference" in capsys.readouterr().err
