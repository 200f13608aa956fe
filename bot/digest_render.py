"""Render the digest from its Jinja2 template: Block Kit for Slack, plain text for a terminal.

Every value a template prints is escaped for mrkdwn (the environment's `finalize`), except
what the `mention`, `date` and `case` filters make on purpose: a customer's name in a case
cannot turn into a mention or a link, whatever the template does with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.blocks.base import Message, context, header, message, section
from bot.blocks.text import cut, date, escape, mention
from bot.domain import money
from bot.domain.digest import WeekFigures
from bot.domain.lifecycle import Reaction, case_reference
from bot.domain.weeks import Week

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "digest.md.j2"


class Slack(str):
    """Text that is already mrkdwn (a mention, a date): printed as it is."""


# The template's structure ("# " header lines, "---" section breaks) is turned into these
# private-use characters before rendering (not control characters: Python counts those as
# whitespace and line breaks), and every value has them removed: a case's text
# can't add a header or a section, whatever it contains and wherever a template puts it.
HEADER, SECTION = "\ue000", "\n\ue001\n"
_STRUCTURE = str.maketrans({"\ue000": None, "\ue001": None})


class _StructuredLoader(FileSystemLoader):
    def get_source(self, environment: Any, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        lines = [SECTION.strip("\n") if line.strip() == "---" else
                 HEADER + line[2:] if line.startswith("# ") else line
                 for line in source.split("\n")]
        return "\n".join(lines), filename, uptodate


@dataclass(frozen=True)
class Digest:
    week: Week
    structured: str  # mrkdwn, with the template's headers and sections marked
    fallback: str

    @property
    def text(self) -> str:
        """As the template author wrote it: "# " headers and "---" between sections."""
        return self.structured.replace(HEADER, "# ").replace("\ue001", "---")

    def message(self) -> Message:
        blocks: list[Any] = []
        for part in self.structured.split(SECTION):
            body: list[str] = []
            for line in part.strip("\n").splitlines():
                if line.startswith(HEADER):  # only the template's own "# " lines
                    if "\n".join(body).strip():
                        blocks.append(section(cut("\n".join(body).strip(), 3000)))
                    body = []
                    blocks.append(header(line[len(HEADER):].strip()))
                else:
                    body.append(line)
            if "\n".join(body).strip():
                blocks.append(section(cut("\n".join(body).strip(), 3000)))
        blocks.append(context("Amends weekly digest. Figures for the week in "
                              "the shop's time zone; changes against the week before."))
        return message(self.fallback, blocks[:50])


def _environment(template: Path, *, plain: bool, currency: str, zone: ZoneInfo,
                 titles: Mapping[str, str], names: Callable[[str], str]
                 ) -> SandboxedEnvironment:
    def finalize(value: Any) -> Any:
        if isinstance(value, Slack):
            return value
        if isinstance(value, str):
            value = value.translate(_STRUCTURE)
        if plain:
            return value
        return escape(value) if isinstance(value, str) else value

    env = SandboxedEnvironment(loader=_StructuredLoader(str(template.parent)),
                               undefined=StrictUndefined, finalize=finalize,
                               trim_blocks=True, lstrip_blocks=True, autoescape=False)

    def when(moment: datetime | None) -> str:
        if moment is None:
            return "–"
        local = moment.astimezone(zone)
        return f"{local:%a %d %b %H:%M}" if plain else Slack(date(moment, zone.key))

    env.filters.update({
        "money": lambda minor: money.format_amount(int(minor or 0), currency),
        "pct": lambda rate: "–" if rate is None else f"{rate * 100:.0f}%",
        "duration": _duration,
        "date": when,
        # In a terminal a person is their name (Slack shows a mention as the name itself).
        "mention": lambda user: (f"@{names(user) or user}" if plain
                                 else Slack(mention(user))),
        "playbook": lambda playbook_id: titles.get(playbook_id, playbook_id),
        "reaction": _reaction_label,
        "case": lambda case_id: (case_reference(case_id) if plain else Slack(
            case_reference(case_id))),
    })
    return env


def _reaction_label(value: str) -> str:
    try:
        return Reaction(value).label
    except ValueError:
        return value.replace("_", " ")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _delta(formatters: dict[str, Callable[[Any], str]]) -> Callable[..., str]:
    def delta(this: Any, last: Any, kind: str = "count", lower_is_better: bool = False) -> str:
        if this is None or last is None:
            return ""
        diff = this - last
        # With its leading space, so a figure without one leaves no stray " ," behind.
        if diff == 0:
            return " (same as last week)"
        better = (diff < 0) == lower_is_better
        arrow = "▲" if diff > 0 else "▼"
        if kind == "pct":
            shown = f"{abs(diff) * 100:.0f} pts"
        elif kind in formatters:
            shown = formatters[kind](abs(diff))
        else:
            shown = str(abs(diff))
        return f" ({arrow} {shown} vs last week{'' if better else ' ⚠️'})"

    return delta


def render(*, week: Week, this: WeekFigures, last: WeekFigures, currency: str, zone: ZoneInfo,
           on_time_goal: int, late: bool = False, due: datetime | None = None,
           template: Path | None = None, plain: bool = False,
           titles: Mapping[str, str] | None = None,
           names: Callable[[str], str] | None = None) -> Digest:
    """`titles`: playbook id -> title; `names`: a person's name for the plain text (Slack
    shows mentions as names by itself)."""
    path = template or DEFAULT_TEMPLATE
    env = _environment(path, plain=plain, currency=currency, zone=zone, titles=titles or {},
                       names=names or (lambda _user: ""))
    delta = _delta({"money": env.filters["money"], "duration": _duration})
    text = env.get_template(path.name).render(
        week=str(week), week_label=week.label(), this=this, last=last, goal=on_time_goal,
        late=late, due=due, delta=delta)
    fallback = (f"Recovery digest {week}: {this.opened} cases opened, {this.resolved} "
                f"resolved, {money.format_amount(this.compensation_minor, currency)} given"
                + (" (sent late)" if late else ""))
    return Digest(week=week, structured=text.strip() + "\n", fallback=fallback)
