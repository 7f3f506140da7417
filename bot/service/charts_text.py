"""The words and axes of the charts: dates on the time axis, units, plain-word deviations, and
titles that fit the picture. Shared by the alert chart and the backtest chart."""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.text import Text
from matplotlib.ticker import Formatter

from bot.core.formatting import localized
from bot.core.i18n import Translator
from bot.core.reasons import reason_text
from detectors import Status, Verdict
from queries.catalogue import Kind, Metric

__all__ = ["DayTicks", "day_of", "deviation_words", "drawable", "duration", "fit", "fit_lines",
           "hour_locator", "name_of", "number", "state_words", "unit_of", "y_label"]  # fmt: skip

ELLIPSIS = "…"
SHORTEST = 12  # characters a shortened metric title keeps before the slice is shortened too


@functools.cache
def _has_glyph(char: str) -> bool:
    font = _chart_font()
    return font.get_char_index(ord(char)) != 0


@functools.cache
def _chart_font() -> FT2Font:
    return FT2Font(font_manager.findfont(font_manager.FontProperties()))


def drawable(text: str) -> str:
    """`text` as the chart's font can draw it: a letter or digit it has no glyph for (Chinese,
    say) becomes '?', a symbol it lacks (an emoji, a flag, their joiners) is left out, where
    matplotlib would draw an empty box and warn; a name of nothing but such symbols is '?'.
    The message beside the chart has the text whole."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for char in text:
        if char == "\n" or (_has_glyph(char) and (char.isprintable() or char.isspace())):
            out.append(char)  # a no-break space too (a Russian thousands separator)
        elif char.isspace():
            out.append(" ")  # a tab, say: no glyph of its own
        elif unicodedata.category(char)[0] in "LN":
            out.append("?")
    kept = "".join(out)
    if len(out) < len(text):  # something left out: no doubled or edge spaces where it stood
        kept = " ".join(part for part in kept.split(" ") if part) or "?"
    return kept


def number(text: str, t: Translator | None) -> str:
    """A number written the English way ('1,234.5', '-3%') as the chart's language writes it
    ('1 234,5'), with the minus the chat's texts write."""
    return localized(text, t)


def name_of(metric: Metric, t: Translator) -> str:
    """The metric's title in the chart's language (the catalogue's title when it has none)."""
    title_in = getattr(metric, "title_in", None)
    return title_in(t.lang) if callable(title_in) else metric.title


def unit_of(metric: Metric, t: Translator) -> tuple[str, bool]:
    """The metric's unit in the chart's language and whether it is in that language (the
    catalogue's English unit, a known unit, or the catalogue's translation)."""
    known = {"users": t._("users"), "views": t._("views"), "likes": t._("likes"),
             "messages": t._("messages"), "events": t._("events")}  # fmt: skip
    if metric.unit in known:  # in the form that reads after a number ("просмотров")
        return known[metric.unit], True
    unit_in = getattr(metric, "unit_in", None)
    said = unit_in(t.lang) if callable(unit_in) else metric.unit
    return said, t.lang == "en" or said != metric.unit


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


def hour_locator(width: timedelta, zone: ZoneInfo, *, days_only: bool = False
                 ) -> mdates.DateLocator:  # fmt: skip
    """Ticks every 1, 2, 3, 4, 6 or 12 hours (or days), about 6-9 across the window; with
    `days_only` (ticks labelled with dates alone) at midnights only, so no date is said twice
    and none labels a noon."""
    hours = width.total_seconds() / 3600
    for every in () if days_only else (1, 2, 3, 4, 6, 12):
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
    """The y axis' unit: 'views per 15 min', 'CTR (likes / views), %'; a ratio with a unit
    of its own as its unit says ('messages per user'): no step, it is no count of one."""
    if metric.percent:
        return t._("{title}, %", title=name_of(metric, t))
    unit, translated = unit_of(metric, t)
    if metric.kind is Kind.RATIO:
        return unit
    if not unit:
        title = name_of(metric, t)
        unit, translated = title, t.lang == "en" or title != metric.title
    if not translated:  # a unit as written, in no known language: no words glued to it
        return f"{unit} / {step_words(step, t)}"
    return t._("{unit} per {step}", unit=unit, step=step_words(step, t))


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
    if gap >= 2 and not below and edge > 0:  # '3715% above' an edge of 0.02%: a rate of 0.84%
        return t._("{times}x the expected range's upper edge",
                   times=number(f"{value / edge:,.0f}", t))  # fmt: skip
    pct = number(f"{gap:.0%}" if gap >= 0.01 else f"{gap:.1%}", t)
    if below:
        return t._("{pct} below the expected range's lower edge", pct=pct)
    return t._("{pct} above the expected range's upper edge", pct=pct)


def _right_edge(fig: Figure, text: Text) -> float:
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    return float(text.get_window_extent(renderer=renderer).x1)


def _cut(part: str, n: int) -> str:
    return part if n >= len(part) else (part[:n].rstrip() + ELLIPSIS if n else ELLIPSIS)


def fit(fig: Figure, x: float, y: float, head: str | Sequence[str], tail: str = "", *,
        sep: str = "", joint: str = " · ", margin: float = 0.985,
        **style: Any) -> Text:  # fmt: skip
    """Put `head + sep + tail` at (x, y) in figure coordinates, shortening `head` with '…' until
    the line ends inside the figure (`tail` - the numbers - is never cut). A `head` of several
    parts (a metric's title, then its slice) is joined by `joint`, and its parts are shortened in
    order: each but the last down to SHORTEST characters before the next one is touched, so the
    slice stays readable. Names are drawn as written: no math text from '$', no markup."""
    parts = [drawable(head)] if isinstance(head, str) else [drawable(p) for p in head]
    tail = sep + drawable(tail) if tail else ""
    text = fig.text(x, y, joint.join(parts) + tail, parse_math=False, **style)
    limit = fig.bbox.width * margin
    lengths = [len(part) for part in parts]

    def fits() -> bool:
        text.set_text(joint.join(_cut(p, n) for p, n in zip(parts, lengths, strict=True)) + tail)
        return _right_edge(fig, text) <= limit

    if fits():
        return text
    for i, part in enumerate(parts):
        low = min(SHORTEST, len(part)) if i < len(parts) - 1 else 0
        high = len(part)  # the longest length of this part that fits
        while low < high:
            lengths[i] = (low + high + 1) // 2
            if fits():
                low = lengths[i]
            else:
                high = lengths[i] - 1
        lengths[i] = low
        if fits():
            break
    return text


def _lines(parts: Sequence[str], joint: str) -> list[str]:
    """`parts` on one line, then every split of them into two lines."""
    out = [joint.join(parts)]
    for cut in range(1, len(parts)):
        out.append(joint.join(parts[:cut]) + "\n" + joint.join(parts[cut:]))
    return out


def fit_lines(fig: Figure, x: float, y: float, parts: Sequence[tuple[str, str]],
              drop: Sequence[int] = (), *, joint: str = " · ", margin: float = 0.985,
              **style: Any) -> Text:  # fmt: skip
    """Put `parts` (each a full and a short form) at (x, y), on one line if they fit, else on
    two. When two lines of full forms do not fit, the parts listed in `drop` take their short
    forms one by one, least important first; as a last resort the widest line is shortened
    with '…'. Whatever the zone's name or the language, the text ends inside the figure."""
    parts = [(drawable(full), drawable(short)) for full, short in parts]
    said = [full for full, _ in parts]
    text = fig.text(x, y, joint.join(said), parse_math=False, **style)
    limit = fig.bbox.width * margin

    def fits(candidate: str) -> bool:
        text.set_text(candidate)
        return _right_edge(fig, text) <= limit

    for n in range(len(drop) + 1):
        for index in drop[:n]:
            said[index] = parts[index][1]
        for candidate in _lines(said, joint):
            if fits(candidate):
                return text
    # Two lines, the first part alone on the first; each line shortened until it fits.
    lines = [said[0], joint.join(said[1:])] if len(said) > 1 else said
    for i, line in enumerate(lines):
        low, high = 0, len(line)
        while low < high:
            mid = (low + high + 1) // 2
            if fits(_cut(line, mid)):
                low = mid
            else:
                high = mid - 1
        lines[i] = _cut(line, low)
    text.set_text("\n".join(lines))
    return text


def state_words(verdict: Verdict, t: Translator) -> str:
    """The subtitle's first words: how far outside the range, or what the detector found when
    it flags a value inside the range (a sustained shift), that there is no value (a ratio
    whose denominator was 0; the range stands), that the value was not judged (late data: the
    range is drawn, the value is grey) or that there is no range yet."""
    if verdict.lower is not None and verdict.value is None:  # a range, but no value to judge
        return t._("no value for this interval")
    if verdict.status is Status.UNKNOWN and verdict.lower is not None:  # a range, not judged
        said = reason_text(verdict.reason.split("; ")[0], t)  # late data, a failed check
        return t._("not judged: {reason}", reason=said) if said else t._("not judged")
    if verdict.status is Status.UNKNOWN or verdict.lower is None:
        return t._("no expected range yet")
    words = deviation_words(verdict.value, verdict.lower, verdict.upper, t)
    if words is not None:
        return words
    if verdict.status is Status.ANOMALY:
        found = reason_text(verdict.reason.split("; ")[0], t)
        return found or t._("flagged by the detector although inside the expected range")
    return t._("inside the expected range")
