"""Settings: read once from the environment and `.env`, validated, typed.

A wrong value fails at start with the variable's name and what it expects, never later
in the middle of a customer's case. Secrets are kept out of repr() so they never reach logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.domain import money
from bot.domain.lifecycle import DEFAULT_FOLLOW_UP_HOURS

DEFAULT_DATABASE_URL = "sqlite:///amends.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class LadderStep:
    """One level of AMENDS_APPROVAL_LADDER as written: its people and Slack user groups
    (resolved to people when a request is routed), and its limit (None: no limit)."""

    name: str
    limit_minor: int | None
    users: frozenset[str]
    groups: tuple[str, ...]


MAX_LADDER = 8  # levels: more is not a ladder anyone can read in a thread


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Amends cannot start; fix these settings (in the environment or "
                         ".env):\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    port: int = 3000
    playbooks_dir: Path | None = None
    recovery_channel: str | None = None
    leadership_channel: str | None = None
    managers: frozenset[str] = frozenset()
    leaders: frozenset[str] = frozenset()  # who sees the week's picture on their Home tab
    manager_group: str | None = None
    staff_limit_minor: int = 2000
    currency: str = "USD"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    follow_up_hours: int = DEFAULT_FOLLOW_UP_HOURS
    escalate_after_hours: int = 24
    escalation_user: str | None = None
    approval_remind_minutes: int = 30
    approval_escalate_minutes: int = 120
    open_nudge_hours: int = 24
    hotspot_threshold: int = 3
    location_managers: dict[str, str] = field(default_factory=dict)
    approval_ladder: tuple[LadderStep, ...] = ()  # () : the managers approve any amount
    personal_limits: dict[str, int] = field(default_factory=dict)  # raised own limits
    approvals_by_location: bool = False  # location managers decide their location's only
    on_time_goal: int = 80
    digest_day: int = 0  # Monday
    digest_hour: int = 9
    digest_template: Path | None = None
    digest_chart: bool = True  # the trend chart shared after each digest (needs files:write)
    scheduler: bool = True
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    # The customer survey: on only with an address customers can reach (AMENDS_PUBLIC_URL).
    public_url: str | None = None
    survey_secret: str | None = field(default=None, repr=False)
    survey_days: int = 14
    survey_on_resolve: bool = False
    shop_name: str | None = None
    # Reverse proxies in front of Amends that add X-Forwarded-For: the survey page limits each
    # customer's address, not the proxy's (0: the connection's own address).
    trusted_proxies: int = 0
    log_level: str = "INFO"
    log_json: bool = False

    def secrets(self) -> list[str]:
        return [s for s in (self.slack_bot_token, self.slack_signing_secret,
                            self.slack_app_token, self.webhook_secret,
                            self.survey_secret) if s]

    @property
    def surveys(self) -> bool:
        return self.public_url is not None and self.survey_secret is not None

    @property
    def staff_limit_text(self) -> str:
        return money.format_amount(self.staff_limit_minor, self.currency)

    def missing_for_slack(self) -> list[str]:
        """What `amends serve` needs that is not set, as names with where to find them."""
        problems = []
        if not self.slack_bot_token:
            problems.append("SLACK_BOT_TOKEN is not set: the Bot User OAuth Token (xoxb-...) "
                            "from your app's 'OAuth & Permissions' page")
        if not self.slack_signing_secret and not self.slack_app_token:
            problems.append("SLACK_SIGNING_SECRET is not set: the Signing Secret from your app's "
                            "'Basic Information' page")
        return problems


def load_settings(environ: Mapping[str, str] | None = None,
                  dotenv_path: str | os.PathLike[str] | None = ".env") -> Settings:
    """Settings from `environ` (default: the process environment) over the `.env` file."""
    values: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    # An empty value counts as unset, as most people expect from `FOO=` in a .env file.
    env = {k: v.strip() for k, v in values.items() if v is not None and v.strip()}
    problems: list[str] = []
    kwargs: dict[str, object] = {}

    def take(name: str, attr: str, parse, expects: str) -> None:  # type: ignore[no-untyped-def]
        if name not in env:
            return
        try:
            kwargs[attr] = parse(env[name])
        except (ValueError, ZoneInfoNotFoundError) as exc:
            detail = f" ({exc})" if str(exc) else ""
            problems.append(f"{name}='{_shown(name, env[name])}' is invalid: expected {expects}"
                            f"{detail}")

    take("DATABASE_URL", "database_url", _database_url,
         "an SQLAlchemy URL like sqlite:///amends.db or postgresql+psycopg://user@host/db")
    take("SLACK_BOT_TOKEN", "slack_bot_token", _prefixed("xoxb-"), "a bot token starting xoxb-")
    take("SLACK_SIGNING_SECRET", "slack_signing_secret", _secret,
         "the app's signing secret (32 hex characters)")
    take("SLACK_APP_TOKEN", "slack_app_token", _prefixed("xapp-"),
         "an app-level token starting xapp- (for Socket Mode)")
    take("SLACK_API_URL", "slack_api_url", _url, "an http(s) URL ending in /api/")
    take("PORT", "port", _port, "a port number from 1 to 65535")
    take("AMENDS_PLAYBOOKS_DIR", "playbooks_dir", _directory, "a directory of *.yaml playbooks")
    take("AMENDS_RECOVERY_CHANNEL", "recovery_channel", _channel,
         "a Slack channel ID like C0123ABCD (right-click the channel, Copy link)")
    take("AMENDS_LEADERSHIP_CHANNEL", "leadership_channel", _channel,
         "a Slack channel ID like C0123ABCD")
    take("AMENDS_MANAGERS", "managers", _managers,
         "comma-separated Slack user IDs like U0123ABCD,U0456EFGH")
    take("AMENDS_LEADERS", "leaders", _managers,
         "comma-separated Slack user IDs like U0123ABCD,U0456EFGH")
    take("AMENDS_MANAGER_GROUP", "manager_group", _group, "a Slack user group ID like S0123ABCD")
    currency = env.get("AMENDS_CURRENCY", "USD").upper()
    take("AMENDS_CURRENCY", "currency", _currency, "a three-letter code like USD, GBP, EUR")
    take("AMENDS_STAFF_LIMIT", "staff_limit_minor",
         lambda v: money.parse_amount(v, currency), "an amount like 20 or 20.00")
    take("AMENDS_TIMEZONE", "timezone", ZoneInfo, "an IANA time zone like Europe/London")
    take("AMENDS_FOLLOW_UP_HOURS", "follow_up_hours", _positive_int, "a whole number of hours")
    take("AMENDS_ESCALATE_AFTER_HOURS", "escalate_after_hours", _positive_int,
         "a whole number of hours")
    take("AMENDS_ESCALATION_USER", "escalation_user", _user, "a Slack user ID like U0123ABCD")
    take("AMENDS_APPROVAL_REMIND_MINUTES", "approval_remind_minutes", _positive_int,
         "a whole number of minutes")
    take("AMENDS_APPROVAL_ESCALATE_MINUTES", "approval_escalate_minutes", _positive_int,
         "a whole number of minutes")
    take("AMENDS_OPEN_NUDGE_HOURS", "open_nudge_hours", _positive_int, "a whole number of hours")
    take("AMENDS_HOTSPOT_THRESHOLD", "hotspot_threshold", _positive_int,
         "a whole number of cases")
    take("AMENDS_LOCATION_MANAGERS", "location_managers", _location_managers,
         "'Location=U0123ABCD' pairs separated by ';'")
    take("AMENDS_APPROVAL_LADDER", "approval_ladder", lambda v: _ladder(v, currency),
         "levels separated by ';', each Name=limit:who, like 'Shift managers=150:S0SHIFT; "
         "Operations=1000:U0OPS1,U0OPS2; Leadership=any:S0LEADERS' (who: user IDs and user "
         "group IDs; limit: an amount, or any for the top level)")
    take("AMENDS_PERSONAL_LIMITS", "personal_limits", lambda v: _personal_limits(v, currency),
         "'USERID=amount' pairs separated by ';', like U0123ABCD=200")
    take("AMENDS_APPROVALS_BY_LOCATION", "approvals_by_location", _switch, "on or off")
    staff_limit = kwargs.get("staff_limit_minor", 2000)
    ladder = kwargs.get("approval_ladder")
    if isinstance(ladder, tuple) and ladder and isinstance(staff_limit, int) and \
            ladder[0].limit_minor is not None and ladder[0].limit_minor <= staff_limit:
        staff = money.format_amount(staff_limit, currency)
        problems.append(f"AMENDS_APPROVAL_LADDER's first level, {ladder[0].name}, may approve "
                        f"no more than the staff limit ({staff}), which everyone gives "
                        "without asking: give it a higher limit")
    take("AMENDS_ON_TIME_GOAL", "on_time_goal", _percent, "a percentage from 1 to 100")
    take("AMENDS_DIGEST_DAY", "digest_day", _weekday, "a day of the week like monday")
    take("AMENDS_DIGEST_HOUR", "digest_hour", _hour, "an hour from 0 to 23")
    take("AMENDS_DIGEST_TEMPLATE", "digest_template", _file, "a Jinja2 template file")
    take("AMENDS_DIGEST_CHART", "digest_chart", _switch, "on or off")
    take("AMENDS_SCHEDULER", "scheduler", _switch, "on or off")
    take("AMENDS_WEBHOOK_URL", "webhook_url", _url_plain, "an http(s) URL")
    take("AMENDS_WEBHOOK_SECRET", "webhook_secret", _shared_secret,
         "a shared secret of at least 16 characters")
    if "webhook_url" in kwargs and "webhook_secret" not in kwargs and not problems:
        problems.append("AMENDS_WEBHOOK_SECRET is not set: webhooks are signed with it, so "
                        "set one (16+ characters) when AMENDS_WEBHOOK_URL is set")
    take("AMENDS_PUBLIC_URL", "public_url", _public_url,
         "the https:// address customers reach Amends at, like https://amends.example.com")
    take("AMENDS_SURVEY_SECRET", "survey_secret", _shared_secret,
         "a random secret of at least 16 characters (python3 -c 'import secrets; "
         "print(secrets.token_urlsafe(32))')")
    take("AMENDS_SURVEY_DAYS", "survey_days", _survey_days, "a whole number of days, 1 to 90")
    take("AMENDS_SURVEY_ON_RESOLVE", "survey_on_resolve", _switch, "on or off")
    take("AMENDS_SHOP_NAME", "shop_name", _shop_name, "the shop's name, up to 80 characters")
    take("AMENDS_TRUSTED_PROXIES", "trusted_proxies", _trusted_proxies,
         "how many reverse proxies in front add X-Forwarded-For, 0 to 5")
    if "public_url" in kwargs and "survey_secret" not in kwargs and not problems:
        problems.append("AMENDS_SURVEY_SECRET is not set: survey links are signed with it, so "
                        "set one (16+ random characters) when AMENDS_PUBLIC_URL is set")
    take("AMENDS_LOG_LEVEL", "log_level", _log_level, "DEBUG, INFO, WARNING or ERROR")
    take("AMENDS_LOG_FORMAT", "log_json", _log_format, "text or json")
    if problems:
        raise SettingsError(problems)
    return Settings(**kwargs)  # type: ignore[arg-type]


def _shown(name: str, value: str) -> str:
    # Never echo a secret back, even a malformed one.
    if "TOKEN" in name or "SECRET" in name:
        return value[:5] + "…" if len(value) > 5 else "…"
    if name in ("DATABASE_URL", "AMENDS_WEBHOOK_URL", "AMENDS_PUBLIC_URL"):
        from bot import redact

        return redact.database_url(value) if name == "DATABASE_URL" else redact.endpoint(value)
    return value


def _database_url(value: str) -> str:
    """An SQLAlchemy URL. `postgres://` and `postgresql://`, the forms hosting providers
    hand out, mean PostgreSQL through psycopg, the driver Amends installs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme, sep, rest = value.partition("://")
    if sep and scheme.lower() in ("postgres", "postgresql", "postgres+psycopg"):
        value = f"postgresql+psycopg://{rest}"
    try:
        make_url(value)
    except ArgumentError:
        raise ValueError("") from None
    return value


def _prefixed(prefix: str):  # type: ignore[no-untyped-def]
    def parse(value: str) -> str:
        if not value.startswith(prefix):
            raise ValueError(f"it starts {value[:5]!r}" if len(value) > 5 else "")
        # Slack's own tokens run to 50 characters and more: a short one was cut when copied.
        if len(value) < 16:
            raise ValueError(f"it is only {len(value)} characters long, so part of it is "
                             "missing: copy the whole token from your app's page at "
                             "api.slack.com")
        return value
    return parse


def _secret(value: str) -> str:
    if len(value) < 16 or not value.isalnum():
        raise ValueError("")
    return value


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError("")
    return value if value.endswith("/") else value + "/"


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError("")
    return port


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("")
    return number


def _directory(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ValueError("no such directory")
    return path


def _channel(value: str) -> str:
    if not _CHANNEL_ID.match(value):
        raise ValueError("")
    return value


def _managers(value: str) -> frozenset[str]:
    ids = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in ids if not _USER_ID.match(v)]
    if bad:
        raise ValueError(f"not user IDs: {', '.join(bad)}")
    return frozenset(ids)


def _group(value: str) -> str:
    if not _GROUP_ID.match(value):
        raise ValueError("")
    return value


def _currency(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise ValueError("")
    return value.upper()


def _log_level(value: str) -> str:
    if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("")
    return value.upper()


def _user(value: str) -> str:
    if not _USER_ID.match(value):
        raise ValueError("")
    return value


def _location_managers(value: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in value.split(";") if p.strip()):
        location, _, user = part.rpartition("=")
        if not location.strip() or not _USER_ID.match(user.strip()):
            raise ValueError(f"'{part}' is not Location=USERID")
        pairs[location.strip().lower()] = user.strip()
    return pairs


def _ladder(value: str, currency: str) -> tuple[LadderStep, ...]:
    steps: list[LadderStep] = []
    for part in (p.strip() for p in value.split(";") if p.strip()):
        name, eq, rest = part.partition("=")
        limit, colon, who = rest.partition(":")
        name = " ".join(name.split())
        if not eq or not colon or not name:
            raise ValueError(f"'{part}' is not Name=limit:who")
        if len(name) > 40 or any(c in name for c in "<>&|*_~`"):
            raise ValueError(f"'{name}': a level's name is up to 40 plain characters")
        ids = [w.strip() for w in who.split(",") if w.strip()]
        bad = [i for i in ids if not (_USER_ID.match(i) or _GROUP_ID.match(i))]
        if bad or not ids:
            raise ValueError(f"{name}: '{who.strip()}' is not user IDs (U…) and user group "
                             "IDs (S…) separated by commas")
        if steps and steps[-1].limit_minor is None:
            raise ValueError(f"{steps[-1].name} has no limit, so it must be the last level")
        top = None if limit.strip().lower() in ("any", "unlimited", "no limit") else \
            money.parse_amount(limit, currency)
        if top is not None and steps and (steps[-1].limit_minor or 0) >= top:
            raise ValueError(f"{name}'s limit must be above {steps[-1].name}'s: each level "
                             "may approve more than the one below")
        if any(s.name.lower() == name.lower() for s in steps):
            raise ValueError(f"two levels are called {name}")
        steps.append(LadderStep(name=name, limit_minor=top,
                                users=frozenset(i for i in ids if _USER_ID.match(i)),
                                groups=tuple(i for i in ids if _GROUP_ID.match(i))))
    if not steps or len(steps) > MAX_LADDER:
        raise ValueError(f"1 to {MAX_LADDER} levels")
    return tuple(steps)


def _personal_limits(value: str, currency: str) -> dict[str, int]:
    limits: dict[str, int] = {}
    for part in (p.strip() for p in value.split(";") if p.strip()):
        user, eq, amount = part.partition("=")
        if not eq or not _USER_ID.match(user.strip()):
            raise ValueError(f"'{part}' is not USERID=amount")
        limits[user.strip()] = money.parse_amount(amount, currency)
    return limits


def _percent(value: str) -> int:
    number = int(value.rstrip("%"))
    if not 1 <= number <= 100:
        raise ValueError("")
    return number


def _weekday(value: str) -> int:
    from bot.domain.weeks import DAYS

    matches = [i for i, day in enumerate(DAYS) if day.startswith(value.lower()[:3])]
    if len(value) < 3 or not matches:
        raise ValueError("")
    return matches[0]


def _hour(value: str) -> int:
    hour = int(value)
    if not 0 <= hour <= 23:
        raise ValueError("")
    return hour


def _file(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError("no such file")
    return path


def _switch(value: str) -> bool:
    if value.lower() in {"on", "true", "yes", "1"}:
        return True
    if value.lower() in {"off", "false", "no", "0"}:
        return False
    raise ValueError("")


def _url_plain(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError("")
    return value


def _public_url(value: str) -> str:
    """Where customers open their survey: no query or fragment (the token is appended)."""
    # No <, > or | either: the link goes into mrkdwn as <url>.
    if not re.match(r"^https?://[^\s/?#<>|]+(/[^\s?#<>|]*)?$", value) or len(value) > 200:
        raise ValueError("")
    return value.rstrip("/")


def _survey_days(value: str) -> int:
    days = int(value)
    if not 1 <= days <= 90:
        raise ValueError("")
    return days


def _trusted_proxies(value: str) -> int:
    count = int(value)
    if not 0 <= count <= 5:
        raise ValueError("")
    return count


def _shop_name(value: str) -> str:
    if len(value) > 80 or any(ord(c) < 32 for c in value):
        raise ValueError("")
    return value


def _shared_secret(value: str) -> str:
    if len(value) < 16:
        raise ValueError("too short")
    return value


def _log_format(value: str) -> bool:
    if value.lower() not in {"text", "json"}:
        raise ValueError("")
    return value.lower() == "json"
