"""Alert charts: how bad, since when, compared to what. PNG bytes, no pyplot (it leaks figures).

Read in two seconds by whoever is on call: the incident is shaded with hours of normal
behaviour before it, the time axis ends with the last bucket and carries dates where the window
crosses midnight, the y axis its unit, and the subtitle says in words how far outside the
expected range the value is. Text in English or Russian (`lang`), through the "charts" gettext
catalogue.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from bot.core.formatting import fmt_pct, fmt_value
from bot.core.i18n import Translator, translator
from bot.core.reasons import shift_buckets
from bot.service.charts_text import (
    DayTicks,
    day_of,
    drawable,
    duration,
    fit,
    fit_lines,
    hour_locator,
    name_of,
    state_words,
    y_label,
)
from bot.service.charts_ticks import ValueTicks
from detectors import Status, Verdict, outside_since
from detectors.backtest import Alert
from queries.catalogue import Metric
from queries.series import Slice

__all__ = ["CONTEXT", "render_backtest_chart", "render_chart", "window_of"]

DAY = timedelta(days=1)
CONTEXT = timedelta(hours=12)  # normal behaviour shown before the incident's first bucket
LONGEST = timedelta(days=3)  # a longer incident shows its last three days
ORANGE, NAVY = "#e6550d", "#08306b"


def _shifted(series: pd.Series, by: timedelta, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    moved = series.copy()
    moved.index = moved.index + by
    return moved.loc[start:end]


def _step(series: pd.Series) -> timedelta:
    return series.index[1] - series.index[0] if len(series) > 1 else timedelta(minutes=15)


def window_of(
    series: pd.Series, band: pd.DataFrame, end: pd.Timestamp, context: timedelta = CONTEXT
) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """The first bucket drawn and the incident's first bucket (None when `end` is inside the
    range): `context` before the incident, at most LONGEST in all."""
    since = outside_since(series.loc[:end], band.loc[:end])
    anchor = since if since is not None else end
    return max(anchor - context, end - LONGEST), since


def _y_axis(ax: Axes, metric: Metric, step: timedelta, t: Translator) -> None:
    ax.yaxis.set_major_formatter(ValueTicks(t, percent=metric.percent))
    ax.set_ylabel(drawable(y_label(metric, step, t)), fontsize=9, color="#525252",
                  parse_math=False)  # a unit or title of '$…$' is text, as in the title
    ax.grid(True, color="#eeeeee")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _time_axis(ax: Axes, buckets: tuple[pd.Timestamp, pd.Timestamp] | None, *, width: timedelta,
               step: timedelta, zone: ZoneInfo, t: Translator, dates_only: bool = False,
               ) -> None:  # fmt: skip
    """The time axis in `zone`, from half a bucket before the first of `buckets` to half a
    bucket after the last (each point is centred on its bucket), with about 6-9 ticks across
    `width`, dated (`dates_only`: dates alone). It ends with the last bucket, as it starts with
    the first: time after it is not checked yet, and an empty stretch there (matplotlib's own
    margin runs hours past it) reads as data missing. No buckets: matplotlib's own axis."""
    if buckets is not None:
        first, last = buckets
        ax.set_xlim(first - step / 2, last + step / 2)
        ax.xaxis.set_major_locator(hour_locator(width, zone, days_only=dates_only))
        ax.xaxis.set_major_formatter(DayTicks(zone, t, dates_only=dates_only))
    ax.tick_params(axis="x", labelsize=8.5)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render_chart(
    metric: Metric,
    where: Slice,
    series: pd.Series,
    band: pd.DataFrame,
    verdict: Verdict,
    *,
    zone: ZoneInfo,
    span: timedelta = CONTEXT,
    lang: str = "en",
) -> bytes:
    """The series against its band, a day and a week before, as PNG: `span` of history before
    the incident's first bucket (or before the checked bucket when it is inside the range)."""
    return _png(draw_chart(metric, where, series, band, verdict, zone=zone, span=span,
                           t=translator(lang)))  # fmt: skip


def draw_chart(  # noqa: PLR0912, PLR0915 - one picture, drawn top to bottom, reads best whole
    metric: Metric,
    where: Slice,
    series: pd.Series,
    band: pd.DataFrame,
    verdict: Verdict,
    *,
    zone: ZoneInfo,
    span: timedelta = CONTEXT,
    t: Translator,
) -> Figure:
    """render_chart's figure, for callers (and tests) that inspect the drawing itself."""
    end = verdict.bucket
    step = _step(series)
    start, since = window_of(series, band, end, span)
    # A sustained shift began where the alert's "last N intervals" begin (before the run that
    # left the range, if one did): shaded and said from there.
    n = shift_buckets(verdict.reason) if verdict.status is Status.ANOMALY else None
    shift = end - (n - 1) * step if n else None
    shift = shift if shift is not None and (since is None or shift < since) else None
    if shift is not None:  # a shift longer than the context is drawn from its start
        start = min(start, max(shift - span, end - LONGEST))
    today = series.loc[start:end]
    window = band.loc[start:end]

    def local(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        return index.tz_convert(zone)

    def at(moment: pd.Timestamp) -> pd.Timestamp:
        return moment.tz_convert(zone)

    fig = Figure(figsize=(10, 5.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    began = at(since).strftime("%H:%M") if since is not None else ""
    shifted = at(shift).strftime("%H:%M") if shift is not None else ""
    if shift is not None and at(shift).date() != at(end).date():  # begun on another day
        shifted = f"{day_of(at(shift), t)} {shifted}"
    first = shift if shift is not None else since
    if first is not None:
        ax.axvspan(at(first - step / 2), at(end + step / 2), color=ORANGE, alpha=0.09, lw=0,
                   label=t._("shift since {time}", time=shifted) if shift is not None
                   else t._("outside since {time}", time=began))  # fmt: skip
    ax.fill_between(local(window.index), window["lower"].to_numpy(),
                    window["upper"].to_numpy(), color="#9ecae1", alpha=0.45, linewidth=0,
                    label=t._("expected range"))  # fmt: skip
    ax.plot(local(window.index), window["expected"].to_numpy(), color="#3182bd", lw=1,
            ls="--", label=t._("expected"))  # fmt: skip
    week_ago = _shifted(series, 7 * DAY, start, end)
    yesterday = _shifted(series, DAY, start, end)
    if len(week_ago.dropna()):
        ax.plot(local(week_ago.index), week_ago.to_numpy(), color="#bdbdbd", lw=1, ls=":",
                label=t._("a week before"))  # fmt: skip
    if len(yesterday.dropna()):
        ax.plot(local(yesterday.index), yesterday.to_numpy(), color="#969696", lw=1.1,
                label=t._("a day before"))  # fmt: skip
    ax.plot(local(today.index), today.to_numpy(), color=NAVY, lw=2, label=t._("actual"))
    outside = ((today < window["lower"]) | (today > window["upper"])).to_numpy()
    if outside.any():
        ax.scatter(local(today.index[outside]), today.to_numpy()[outside], color=ORANGE, s=26,
                   zorder=5, label=t._("outside the range"))  # fmt: skip
    label = None
    if verdict.value is not None:
        marker = {Status.ANOMALY: ORANGE, Status.UNKNOWN: "#969696"}.get(verdict.status,
                                                                       "#31a354")  # fmt: skip
        ax.scatter([at(end)], [verdict.value], s=90, zorder=6, facecolors="none",
                   edgecolors=marker, linewidths=2)  # fmt: skip
        if verdict.deviation is not None:
            label = ax.annotate(fmt_pct(verdict.deviation, t), (at(end), verdict.value),
                                xytext=(9, 0), textcoords="offset points", va="center",
                                fontsize=10, fontweight="bold", color=marker,
                                annotation_clip=False)  # fmt: skip

    # The percentage beside the last point sits in the margin to the right (see the end).
    _time_axis(ax, (at(start), at(end)), width=end - start + step, step=step, zone=zone, t=t)
    values = np.concatenate([today.to_numpy(), window["upper"].to_numpy(),
                             window["lower"].to_numpy()])  # fmt: skip
    values = values[np.isfinite(values)]  # an infinite value (x / 0 in SQL) sets no limit
    if values.size and values.min() >= 0:  # from 0; a series below zero is drawn as it comes
        ax.set_ylim(bottom=0, top=float(values.max()) * 1.12 or 1.0)
    _y_axis(ax, metric, step, t)
    ax.set_xlabel(t._("time ({zone})", zone=zone.key), fontsize=9, color="#525252")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncols=7, frameon=False,
              borderaxespad=0.2, handlelength=1.6, columnspacing=1.2)  # fmt: skip
    numbers = fmt_value(metric, verdict.value, t)
    if verdict.expected is not None:
        numbers = t._("{value} vs expected {expected}", value=numbers,
                      expected=fmt_value(metric, verdict.expected, t))  # fmt: skip
    if verdict.deviation is not None:
        numbers += f" ({fmt_pct(verdict.deviation, t)})"
    head = [name_of(metric, t)] + ([] if where.is_total else
                                   [f"{where.dim}={drawable(where.value)}"])  # "os=?" for "🔥"
    fit(fig, 0.085, 0.955, head, numbers, sep=": ", fontsize=12.5, fontweight="bold", va="top")
    parts = [(words, words) for words in [state_words(verdict, t)]]
    if shift is not None:
        parts.append((t._("shift since {time} ({duration})", time=shifted,
                          duration=duration(end - shift + step, t)),
                      t._("shift since {time}", time=shifted)))  # fmt: skip
    if since is not None:
        parts.append((t._("outside since {time} ({duration})", time=began,
                          duration=duration(end - since + step, t)),
                      t._("outside since {time}", time=began)))  # fmt: skip
    when = " ".join((day_of(at(end), t), at(end).strftime("%H:%M")))
    zoned = " ".join((when, zone.key))
    parts.append((t._("bucket {when}", when=zoned), t._("bucket {when}", when=when)))
    # Least important first: the duration (the shading shows it), then the zone (the x axis
    # names it).
    subtitle = fit_lines(fig, 0.085, 0.895, parts, drop=range(1, len(parts)), fontsize=9.5,
                         color="#525252", va="top")  # fmt: skip
    top = 0.78 if "\n" not in subtitle.get_text() else 0.75
    fig.subplots_adjust(left=0.085, right=_right_of(fig, label), top=top, bottom=0.14)
    fig.subplots_adjust(left=_left_of(fig, ax))
    return fig


def _left_of(fig: Figure, ax: Axes, edge: float = 0.085) -> float:
    """Where the axes start so that the y axis's numbers and its label fit in the figure (six
    digits and a unit ran past its left edge from 0.085)."""
    box = ax.yaxis.get_tightbbox(fig.canvas.get_renderer())  # type: ignore[attr-defined]
    short = 4 - box.x0 if box is not None else 0.0  # pixels past the edge, and a little air
    return edge + max(short, 0.0) / fig.bbox.width


def _right_of(fig: Figure, label: Text | None, edge: float = 0.985) -> float:
    """Where the axes end so that `label` (beside the last point, which is on the axis's right
    edge) fits between them and the figure's edge."""
    if label is None:
        return edge
    wide = label.get_window_extent(fig.canvas.get_renderer()).width  # type: ignore[attr-defined]
    room = wide + 9 * fig.dpi / 72 + 4  # its offset from the point, and a little air
    return edge - room / fig.bbox.width


def render_backtest_chart(
    metric: Metric, series: pd.Series, alerts: Sequence[Alert], zone: ZoneInfo, *,
    lang: str = "en",
) -> bytes:  # fmt: skip
    """The metric's total over the replayed days, with every alert the settings would have
    raised (on any slice) shaded."""
    return _png(draw_backtest_chart(metric, series, alerts, zone, t=translator(lang)))


def draw_backtest_chart(
    metric: Metric, series: pd.Series, alerts: Sequence[Alert], zone: ZoneInfo, *,
    t: Translator,
) -> Figure:  # fmt: skip
    """render_backtest_chart's figure."""
    fig = Figure(figsize=(10, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    index = series.index.tz_convert(zone)
    ax.plot(index, series.to_numpy(), color=NAVY, lw=1.2, label=t._("all slices together"))
    step = _step(series)
    # Centred on its buckets, as each point is: the shade starts and ends half a bucket around
    # them, so an alert on the last bucket is shaded up to the axis's end. Alerts of several
    # slices at once are one shade, as light as the legend's (stacked, they went dark).
    spans: list[list[pd.Timestamp]] = []
    for alert in sorted(alerts, key=lambda a: a.start):
        start, end = alert.start - step / 2, alert.end + step / 2
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    # An alert of a bucket or two on a week's axis is a sliver of a shade: it is drawn 1/150
    # of the axis wide around its buckets, as light as the legend says (a line over it stood
    # out darker than the incident still going on). One still going on at the last bucket (an
    # incident now, at the axis's end, the easiest to miss) is darker, runs to the edge at
    # least 1/100 of the axis wide, and the legend says since when.
    least, labelled = len(series) * step / 150, False
    for first, last in spans:
        start, end, label = first, last, None
        now = len(series) > 0 and end >= series.index[-1] + step / 2
        if now:
            since = (first + step / 2).tz_convert(zone)
            label = t._("still going on since {when}",
                        when=f"{day_of(since, t)} {since:%H:%M}")  # fmt: skip
            start = min(first, end - len(series) * step / 100)
        elif not labelled:
            label, labelled = t._("alert (any slice)"), True
        if end - start < least:
            start, end = start - (least - (end - start)) / 2, start + (least + (end - start)) / 2
        ax.axvspan(start.tz_convert(zone), end.tz_convert(zone), color=ORANGE,
                   alpha=0.45 if now else 0.25, lw=0, label=label)  # fmt: skip
    days = max(1, round(len(series) * step / DAY))
    _time_axis(ax, (index[0], index[-1]) if len(series) else None, width=len(series) * step,
               step=step, zone=zone, t=t, dates_only=len(series) * step > 2 * DAY)
    values = series.to_numpy(dtype="float64")
    values = values[np.isfinite(values)]
    if values.size and values.min() >= 0:  # from 0, as the alert charts
        ax.set_ylim(bottom=0, top=float(values.max()) * 1.08 or 1.0)
    _y_axis(ax, metric, step, t)
    ax.set_xlabel(t._("time ({zone})", zone=zone.key), fontsize=9, color="#525252")
    # Above the plot, as the alert charts have it: inside it, a peak would run through its words.
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, ncols=3, frameon=False,
              borderaxespad=0.2)  # fmt: skip
    fig.subplots_adjust(left=0.085, right=0.985, top=0.87, bottom=0.15)
    fig.subplots_adjust(left=_left_of(fig, ax))
    over = (t._("in the last day") if days == 1  # not "the last 1 day"
            else t.ngettext("in the last {n} day", "in the last {n} days", days))
    count = t.ngettext("{n} alert {over} with the current settings",
                       "{n} alerts {over} with the current settings",
                       len(alerts), over=over)  # fmt: skip
    fit(fig, 0.085, 0.96, name_of(metric, t), count, sep=": ", fontsize=11.5, fontweight="bold",
        va="top")  # fmt: skip
    return fig
