"""The digest's chart: twelve weeks of the headline figures, as one PNG leadership reads at a
glance in Slack's preview.

Matplotlib's object API on its Agg canvas: no pyplot, no global state, no display, so it is
safe in a server thread. Four small panels share the week axis; colours from the Okabe-Ito
palette, which stays distinct for the common kinds of colour blindness, and every panel is
titled and labelled, so nothing depends on colour alone.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.domain import money
from bot.domain.digest import TrendPoint

BLUE, ORANGE, GREEN, VERMILION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
SIZE = (12, 7.5)  # inches at 100 dpi: 1200 x 750, crisp at Slack's preview width
DPI = 100


def title(points: Sequence[TrendPoint], zone: ZoneInfo) -> str:
    if not points:
        return "Service recovery, week by week"
    first, last = (p.start.astimezone(zone) for p in (points[0], points[-1]))
    return (f"Service recovery: {len(points)} weeks, {first:%d %b} to the week of "
            f"{last:%d %b %Y}")


def describe(points: Sequence[TrendPoint], *, currency: str, zone: ZoneInfo) -> str:
    """The chart in words, for a screen reader (Slack's alt text: at most 1,000 characters)."""
    if not points:
        return "No figures yet."
    last = points[-1]
    hours = ("no case recovered" if last.median_recovery_s is None
             else f"a median of {last.median_recovery_s / 3600:.1f} hours to recover")
    rate = ("no follow-up done" if last.recovery_rate is None
            else f"{last.recovery_rate:.0%} recovered at the follow-up")
    opened = [p.opened for p in points]
    return (f"Four charts over {len(points)} weeks: cases opened, median time to recover, "
            f"the share recovered at the follow-up, and compensation given. Cases opened "
            f"ranged from {min(opened)} to {max(opened)} a week. The week of "
            f"{last.start.astimezone(zone):%d %b}: {last.opened} cases opened, {hours}, "
            f"{rate}, {money.format_amount(last.compensation_minor, currency)} given.")[:1000]


def draw(points: Sequence[TrendPoint], *, currency: str, zone: ZoneInfo,
         title: str = "Service recovery, week by week") -> bytes:
    """The chart as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

    labels = [p.start.astimezone(zone).strftime("%d %b") for p in points]
    x = list(range(len(points)))
    figure = Figure(figsize=SIZE, dpi=DPI)
    # Fixed margins, not constrained layout: the size, fonts and labels never change, and
    # measuring every label for a layout cost a second drawing pass (half the time).
    figure.subplots_adjust(left=0.075, right=0.985, top=0.885, bottom=0.13, hspace=0.32,
                           wspace=0.16)
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=16, fontweight="bold")
    (opened, recover), (rate, given) = figure.subplots(2, 2, sharex=True)

    opened.bar(x, [p.opened for p in points], color=BLUE)
    opened.set_title("Cases opened")
    opened.yaxis.set_major_locator(MaxNLocator(integer=True))

    hours = [p.median_recovery_s / 3600 if p.median_recovery_s is not None else None
             for p in points]
    _line(recover, x, hours, ORANGE, "o")
    recover.set_title("Median time to recover")
    recover.set_ylabel("hours")

    rates = [p.recovery_rate * 100 if p.recovery_rate is not None else None for p in points]
    _line(rate, x, rates, GREEN, "s")
    rate.set_title("Recovered at the follow-up")
    rate.set_ylim(0, 100)
    rate.yaxis.set_major_formatter(PercentFormatter(decimals=0))

    unit = 10 ** money.exponent(currency)  # minor units per whole unit (100; JPY 1)
    given.bar(x, [p.compensation_minor / unit for p in points], color=VERMILION)
    given.set_title(f"Compensation given ({currency})")
    given.yaxis.set_major_formatter(FuncFormatter(
        lambda value, _pos: money.format_amount(round(value) * unit, currency)
        .split(".")[0]))

    for axes in (opened, recover, rate, given):
        axes.set_xticks(x, labels, rotation=45, ha="right", fontsize=10)
        axes.grid(axis="y", alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)
        axes.title.set_fontsize(13)
    for axes in (rate, given):
        axes.set_xlabel("week beginning")
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _line(axes, x: list[int], values: list[float | None], colour: str, marker: str  # type: ignore[no-untyped-def]
          ) -> None:
    """A line that breaks where a week has no figure, rather than inventing one."""
    import math

    axes.plot(x, [math.nan if v is None else v for v in values], color=colour,
              marker=marker, linewidth=2)
    if all(v is None for v in values):
        axes.text(0.5, 0.5, "no figures yet", transform=axes.transAxes, ha="center",
                  color="#555555")
