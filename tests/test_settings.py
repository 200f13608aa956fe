"""Settings: typed, validated once, every bad value named; secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings


def test_defaults_need_nothing() -> None:
    settings = load_settings({}, dotenv_path=None)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.port == 3000
    assert settings.staff_limit_minor == 2000 and settings.currency == "USD"
    assert settings.timezone.key == "UTC"
    assert len(settings.missing_for_slack()) == 2


def test_every_documented_variable_is_read(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": "postgresql+psycopg://amends@db/amends",
        "SLACK_BOT_TOKEN": "xoxb-1234-5678-abcdef",
        "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
        "SLACK_APP_TOKEN": "xapp-1-A111-222-abcdef",
        "SLACK_API_URL": "http://127.0.0.1:9999/api",
        "PORT": "8080",
        "AMENDS_PLAYBOOKS_DIR": str(tmp_path),
        "AMENDS_RECOVERY_CHANNEL": "C0RECOVERY",
        "AMENDS_LEADERSHIP_CHANNEL": "C0LEADERS",
        "AMENDS_MANAGERS": "U0MGR001, U0MGR002",
        "AMENDS_MANAGER_GROUP": "S0MANAGERS",
        "AMENDS_STAFF_LIMIT": "25.50",
        "AMENDS_CURRENCY": "gbp",
        "AMENDS_TIMEZONE": "Europe/London",
        "AMENDS_FOLLOW_UP_HOURS": "24",
        "AMENDS_LOG_LEVEL": "debug",
        "AMENDS_ESCALATE_AFTER_HOURS": "12",
        "AMENDS_ESCALATION_USER": "U0SENIOR1",
        "AMENDS_APPROVAL_REMIND_MINUTES": "15",
        "AMENDS_APPROVAL_ESCALATE_MINUTES": "60",
        "AMENDS_OPEN_NUDGE_HOURS": "8",
        "AMENDS_HOTSPOT_THRESHOLD": "5",
        "AMENDS_LOCATION_MANAGERS": "High Street=U0LOCAL1; Station = U0LOCAL2",
        "AMENDS_ON_TIME_GOAL": "85%",
        "AMENDS_DIGEST_DAY": "Friday",
        "AMENDS_DIGEST_HOUR": "17",
        "AMENDS_DIGEST_TEMPLATE": str(Path(__file__).parents[1] / "bot" / "templates"
                                      / "digest.md.j2"),
        "AMENDS_SCHEDULER": "off",
        "AMENDS_DIGEST_CHART": "off",
        "AMENDS_APPROVAL_LADDER": "Shift managers=150:S0SHIFT; Leadership=any:U0LEAD1",
        "AMENDS_PERSONAL_LIMITS": "U0TRUST1=200",
        "AMENDS_APPROVALS_BY_LOCATION": "on",
    }
    s = load_settings(env, dotenv_path=None)
    assert s.slack_api_url == "http://127.0.0.1:9999/api/"
    assert s.port == 8080 and s.playbooks_dir == tmp_path
    assert s.managers == frozenset({"U0MGR001", "U0MGR002"})
    assert s.staff_limit_minor == 2550 and s.currency == "GBP" and s.staff_limit_text == "£25.50"
    assert s.timezone.key == "Europe/London" and s.follow_up_hours == 24
    assert s.log_level == "DEBUG" and s.missing_for_slack() == []
    assert (s.escalate_after_hours, s.escalation_user, s.approval_remind_minutes,
            s.approval_escalate_minutes, s.open_nudge_hours, s.hotspot_threshold) == (
        12, "U0SENIOR1", 15, 60, 8, 5)
    assert s.location_managers == {"high street": "U0LOCAL1", "station": "U0LOCAL2"}
    assert (s.on_time_goal, s.digest_day, s.digest_hour, s.scheduler) == (85, 4, 17, False)
    assert s.digest_chart is False and s.approvals_by_location is True
    assert [step.name for step in s.approval_ladder] == ["Shift managers", "Leadership"]
    assert s.personal_limits == {"U0TRUST1": 20_000}
    # Secrets stay out of repr(), so logging the settings cannot leak them.
    assert "xoxb" not in repr(s) and "8f742231" not in repr(s)
    # The example file documents every variable the loader reads.
    example = (Path(__file__).parents[1] / ".env.example").read_text()
    for name in env:
        assert f"{name}=" in example, name


def test_all_problems_reported_at_once_by_name_without_echoing_secrets() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"PORT": "99999", "SLACK_BOT_TOKEN": "xoxp-personal-token-oops",
                       "AMENDS_MANAGERS": "U0MGR001,bob", "AMENDS_TIMEZONE": "Mars/Olympus",
                       "AMENDS_STAFF_LIMIT": "lots", "AMENDS_RECOVERY_CHANNEL": "#general",
                       "DATABASE_URL": "not a url", "AMENDS_DIGEST_DAY": "someday",
                       "AMENDS_DIGEST_HOUR": "25"}, dotenv_path=None)
    problems = info.value.problems
    assert [p.split("=")[0] for p in problems] == [
        "DATABASE_URL", "SLACK_BOT_TOKEN", "PORT", "AMENDS_RECOVERY_CHANNEL", "AMENDS_MANAGERS",
        "AMENDS_STAFF_LIMIT", "AMENDS_TIMEZONE", "AMENDS_DIGEST_DAY", "AMENDS_DIGEST_HOUR"]
    assert "personal-token" not in str(info.value)
    assert "not user IDs: bob" in str(info.value)


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=4000\nAMENDS_CURRENCY=EUR\nAMENDS_RECOVERY_CHANNEL=\n")
    s = load_settings({"PORT": "5000"}, dotenv_path=dotenv)
    assert s.port == 5000 and s.currency == "EUR" and s.recovery_channel is None


def test_the_approval_ladder_and_personal_limits_are_read() -> None:
    from bot.settings import LadderStep

    s = load_settings({
        "AMENDS_STAFF_LIMIT": "20",
        "AMENDS_APPROVAL_LADDER": "Shift managers=150:S0SHIFT; Operations = 1,000 : "
                                  "U0OPS1,U0OPS2,S0OPS ;Leadership=any:U0LEAD1",
        "AMENDS_PERSONAL_LIMITS": "U0TRUST1=200; U0TRUST2=75.50",
        "AMENDS_APPROVALS_BY_LOCATION": "on"}, dotenv_path=None)
    assert s.approval_ladder == (
        LadderStep("Shift managers", 15_000, frozenset(), ("S0SHIFT",)),
        LadderStep("Operations", 100_000, frozenset({"U0OPS1", "U0OPS2"}), ("S0OPS",)),
        LadderStep("Leadership", None, frozenset({"U0LEAD1"}), ()))
    assert s.personal_limits == {"U0TRUST1": 20_000, "U0TRUST2": 7_550}
    assert s.approvals_by_location is True


@pytest.mark.parametrize(("ladder", "says"), [
    ("Shift=150", "is not Name=limit:who"),
    ("Shift=150:", "user IDs (U…) and user group IDs (S…)"),
    ("Shift=150:bob", "user IDs (U…) and user group IDs (S…)"),
    ("Shift=150:U0A1; Ops=100:U0B1", "Ops's limit must be above Shift's"),
    ("Top=any:U0A1; Ops=1000:U0B1", "Top has no limit, so it must be the last level"),
    ("Shift=150:U0A1; shift=500:U0B1", "two levels are called shift"),
    ("Shift=1e999:U0A1", "AMENDS_APPROVAL_LADDER="),
    ("<!channel>=150:U0A1", "a level's name is up to 40 plain characters"),
    ("Shift=10:U0A1", "may approve no more than the staff limit ($20.00)"),
])
def test_a_bad_ladder_is_refused_with_what_is_wrong(ladder: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"AMENDS_APPROVAL_LADDER": ladder, "AMENDS_STAFF_LIMIT": "20"},
                      dotenv_path=None)
    assert says in str(raised.value)


def test_a_bad_personal_limit_is_refused() -> None:
    with pytest.raises(SettingsError, match="is not USERID=amount"):
        load_settings({"AMENDS_PERSONAL_LIMITS": "bob=200"}, dotenv_path=None)
