"""Alert charts: how bad, since when, compared to what. PNG bytes, no pyplot (it leaks figures)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bot.core.formatting import fmt_value, title_of
from detectors import Status, Verdict, outside_since
from detectors.backtest import Alert
from queries.catalogue import Kind, Metric
from queries.series import Slice

__all__ = ["render_backtest_chart", "render_chart"]

DAY = timedelta(days=1)


def _shifted(series: pd.Series, by: timedelta, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    moved = series.copy()
    moved.index = moved.index + by
    return moved.loc[start:end]


def render_chart(  # noqa: PLR0915 - one picture, drawn top to bottom, reads best whole
    metric: Metric,
    where: Slice,
    series: pd.Series,
    band: pd.DataFrame,
    verdict: Verdict,
    *,
    zone: ZoneInfo,
    span: timedelta = DAY,
) -> bytes:
    """The last `span` of the series against its band, yesterday and a week ago, as PNG."""
    end = verdict.bucket
    start = end - span + (series.index[1] - series.index[0] if len(series) > 1 else timedelta(0))
    today = series.loc[start:end]
    window = band.loc[start:end]
    yesterday = _shifted(series, DAY, start, end)
    week_ago = _shifted(series, 7 * DAY, start, end)

    def local(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        return index.tz_convert(zone)

    fig = Figure(figsize=(10, 5.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_between(
        local(window.index), window["lower"].to_numpy(), window["upper"].to_numpy(),
        color="#9ecae1", alpha=0.45, linewidth=0, label="expected range", step=None,
    )  # fmt: skip
    ax.plot(local(window.index), window["expected"].to_numpy(), color="#3182bd", lw=1,
            ls="--", label="expected")  # fmt: skip
    if len(week_ago.dropna()):
        ax.plot(local(week_ago.index), week_ago.to_numpy(), color="#bdbdbd", lw=1,
                ls=":", label="a week ago")  # fmt: skip
    if len(yesterday.dropna()):
        ax.plot(local(yesterday.index), yesterday.to_numpy(), color="#969696", lw=1.1,
                label="yesterday")  # fmt: skip
    ax.plot(local(today.index), today.to_numpy(), color="#08306b", lw=2, label="today")

    outside = (today < window["lower"]) | (today > window["upper"])
    if outside.any():
        ax.scatter(local(today.index[outside.to_numpy()]), today[outside].to_numpy(),
                   color="#e6550d", s=28, zorder=5, label="outside the range")  # fmt: skip
    marker = "#e6550d" if verdict.status is Status.ANOMALY else "#31a354"
    if verdict.value is not None:
        ax.scatter([local(pd.DatetimeIndex([end]))[0]], [verdict.value], s=90, zorder=6,
                   facecolors="none", edgecolors=marker, linewidths=2)  # fmt: skip

    deviation = verdict.deviation
    headline = f"{title_of(metric, where)}: {fmt_value(metric, verdict.value)}"
    if verdict.expected is not None:
        headline += f" vs expected {fmt_value(metric, verdict.expected)}"
    if deviation is not None:
        headline += f" ({deviation:+.1%})"
    when = local(pd.DatetimeIndex([end]))[0]
    fig.text(0.065, 0.955, headline, fontsize=12.5, fontweight="bold", va="top")
    since = outside_since(series.loc[:end], band.loc[:end])
    detail = f"bucket {when:%Y-%m-%d %H:%M} {zone.key} · {verdict.reason}"
    if since is not None:
        step = series.index[1] - series.index[0]
        minutes = int((end - since + step).total_seconds() // 60)
        detail += f" since {local(pd.DatetimeIndex([since]))[0]:%H:%M} ({minutes} min)"
    fig.text(0.065, 0.895, detail, fontsize=9, color="#525252", va="top")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    ax.xaxis.set_major_locator(mdates.HourLocator(interval=3, tz=zone))
    if metric.kind is Kind.RATIO:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1%}"))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    values = np.concatenate([today.dropna().to_numpy(), window["upper"].dropna().to_numpy()])
    if values.size:
        ax.set_ylim(bottom=0, top=float(np.nanmax(values)) * 1.12)
    ax.grid(True, color="#eeeeee")
    ax.set_xlabel(f"time ({zone.key})")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncols=6, frameon=False,
              borderaxespad=0.2)  # fmt: skip
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.subplots_adjust(left=0.065, right=0.985, top=0.78, bottom=0.11)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render_backtest_chart(
    metric: Metric, series: pd.Series, alerts: Sequence[Alert], zone: ZoneInfo
) -> bytes:
    """The metric's total over the replayed days, with every alert the settings would have
    raised (on any slice) shaded."""
    fig = Figure(figsize=(10, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    index = series.index.tz_convert(zone)
    ax.plot(index, series.to_numpy(), color="#08306b", lw=1.2, label=f"{metric.name} (total)")
    step = series.index[1] - series.index[0] if len(series) > 1 else timedelta(minutes=15)
    for n, alert in enumerate(alerts):
        span = (alert.start.tz_convert(zone), (alert.end + step).tz_convert(zone))
        ax.axvspan(*span, color="#e6550d", alpha=0.25, lw=0, label="alert" if n == 0 else None)
    ax.set_title(f"{metric.title}: {len(alerts)} alert(s) in {len(series) * step / DAY:.0f} days "
                 "with the current settings", loc="left", fontsize=11)  # fmt: skip
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d", tz=zone))
    if metric.kind is Kind.RATIO:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1%}"))
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(True, color="#eeeeee")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.subplots_adjust(left=0.07, right=0.985, top=0.9, bottom=0.1)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
