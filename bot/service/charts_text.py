"""The words and axes of the charts: dates on the time axis, units, plain-word deviations, and
titles that fit the picture. Shared by the alert chart and the backtest chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter

from bot.core.i18n import Translator
from queries.catalogue import Kind, Metric

__all__ = ["DayTicks", "day_of", "deviation_words", "duration", "fit", "hour_locator", "signed_pct",
           "y_label"]  # fmt: skip

ELLIPSIS = "…"


def months(t: Translator) -> tuple[str, ...]:
    """Short month names, January first (literal calls so that the extractor finds them)."""
    return (t._("Jan"), t._("Feb"), t._("Mar"), t._("Apr"), t._("May"), t._("Jun"),
            t._("Jul"), t._("Aug"), t._("Sep"), t._("Oct"), t._("Nov"), t._("Dec"))  # fmt: skip


def day_of(moment: datetime, t: Translator) -> str:
    """'27 Nov' / '27 ноя'."""
    return t._("{day} {month}", day=moment.day, month=months(t)[moment.month - 1])


class DayTicks(Formatter):
    """Time ticks in the chart's zone: 'HH:MM', with the date under the first tick of each day,
    so a window that crosses midnight says which day each part is. With `dates_only`, every
    tick is a date (multi-day charts)."""

    def __init__(self, zone: ZoneInfo, t: Translator, *, dates_only: bool = False) -> None:
        self.zone = zone
        self.t = t
        self.dates_only = dates_only

    def _when(self, x: float) -> datetime:
        return mdates.num2date(x, tz=self.zone)

    def __call__(self, x: float, pos: int | None = None) -> str:
        when = self._when(x)
        return day_of(when, self.t) if self.dates_only else f"{when:%H:%M}"

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        out: list[str] = []
        previous: datetime | None = None
        for x in values:
            when = self._when(x)
            if self.dates_only:
                out.append(day_of(when, self.t))
            elif previous is None or when.date() != previous.date():
                out.append(f"{when:%H:%M}\n{day_of(when, self.t)}")
            else:
                out.append(f"{when:%H:%M}")
            previous = when
        return out


def hour_locator(width: timedelta, zone: ZoneInfo) -> mdates.DateLocator:
    """Ticks every 1, 2, 3, 4, 6 or 12 hours (or days), about 6-9 across the window."""
    hours = width.total_seconds() / 3600
    for every in (1, 2, 3, 4, 6, 12):
        if hours / every <= 9:
            return mdates.HourLocator(byhour=range(0, 24, every), tz=zone)
    days = max(1, math.ceil(hours / 24 / 8))
    return mdates.DayLocator(interval=days, tz=zone)


def step_words(step: timedelta, t: Translator) -> str:
    minutes = int(step.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return t.ngettext("{n} day", "{n} days", minutes // (24 * 60))
    if minutes % 60 == 0:
        return t._("{h} h", h=minutes // 60)
    return t._("{m} min", m=minutes)


def duration(span: timedelta, t: Translator) -> str:
    """'45 min', '2 h 15 min' (abbreviated, so no plural forms are needed)."""
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return t._("{m} min", m=rest)
    if not rest:
        return t._("{h} h", h=hours)
    return t._("{h} h {m} min", h=hours, m=rest)


def y_label(metric: Metric, step: timedelta, t: Translator) -> str:
    """The y axis' unit: 'views per 15 min', 'CTR (likes / views), %'."""
    if metric.kind is Kind.RATIO:
        return t._("{title}, %", title=metric.title)
    known = {"users": t._("users"), "views": t._("views"), "likes": t._("likes"),
             "messages": t._("messages"), "events": t._("events")}  # fmt: skip
    unit = known.get(metric.unit, metric.unit) or metric.title
    return t._("{unit} per {step}", unit=unit, step=step_words(step, t))


def signed_pct(share: float) -> str:
    """+12.5% / −32.4% (a real minus sign)."""
    return f"{share:+.1%}".replace("-", "−")


def deviation_words(value: float | None, lower: float | None, upper: float | None,
                    t: Translator) -> str | None:  # fmt: skip
    """How far outside the expected range, in words: '32% below the expected range's lower
    edge'; None when inside or unknown."""
    if value is None or lower is None or upper is None:
        return None
    if value < lower:
        edge, below = lower, True
    elif value > upper:
        edge, below = upper, False
    else:
        return None
    if edge == 0 or not math.isfinite(edge):
        return t._("below the expected range") if below else t._("above the expected range")
    gap = abs(value - edge) / abs(edge)
    pct = f"{gap:.0%}" if gap >= 0.01 else f"{gap:.1%}"
    if below:
        return t._("{pct} below the expected range's lower edge", pct=pct)
    return t._("{pct} above the expected range's upper edge", pct=pct)


def _right_edge(fig: Figure, text: Text) -> float:
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    return float(text.get_window_extent(renderer=renderer).x1)


def fit(fig: Figure, x: float, y: float, head: str, tail: str = "", *, sep: str = "",
        margin: float = 0.985, **style: Any) -> Text:  # fmt: skip
    """Put `head + sep + tail` at (x, y) in figure coordinates, shortening `head` with '…' until
    the line ends inside the figure (`tail` - the numbers - is never cut). Names are drawn as
    written: no math text from '$', no markup."""
    tail = sep + tail if tail else ""
    text = fig.text(x, y, head + tail, parse_math=False, **style)
    limit = fig.bbox.width * margin
    if _right_edge(fig, text) <= limit:
        return text
    low, high = 0, len(head)  # the longest prefix of head that fits
    while low < high:
        mid = (low + high + 1) // 2
        text.set_text(head[:mid].rstrip() + ELLIPSIS + tail)
        if _right_edge(fig, text) <= limit:
            low = mid
        else:
            high = mid - 1
    text.set_text((head[:low].rstrip() + ELLIPSIS if low else ELLIPSIS) + tail)
    return text
