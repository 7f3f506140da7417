"""What the bot says: alert captions, command replies. Pure; HTML with every value escaped."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.core.commands import usage
from bot.core.formatting import fmt_value, title_of
from bot.core.report import CheckReport, SeriesResult
from bot.core.text import CAPTION_LIMIT, MESSAGE_LIMIT, cut_html, split_html
from detectors import Param, Status, outside_since
from queries.catalogue import Catalogue, Metric

__all__ = [
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "alert_caption",
    "check_summary",
    "digest_text",
    "metric_caption",
    "split_message",
    "thresholds_text",
]


ICON = {"below": "🔻", "above": "🔺"}


def e(value: object) -> str:
    return html.escape(str(value), quote=False)


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%H:%M}"


def duration_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _deviation(result: SeriesResult) -> str:
    dev = result.verdict.deviation
    return "" if dev is None else f"{dev:+.1%}"


def _moved(related: Sequence[SeriesResult]) -> str:
    parts = [f"{e(r.slice.label())} {_deviation(r)}" for r in related[:4]]
    return ", ".join(parts)


def alert_caption(
    result: SeriesResult,
    related: Sequence[SeriesResult],
    *,
    zone: ZoneInfo,
    step: timedelta,
    dashboard: str | None,
) -> str:
    """One alert: what, how bad, since when, compared to what, where it moved, where to look."""
    v = result.verdict
    metric = result.metric
    side = "below" if (v.value or 0) < (v.expected or 0) else "above"
    start = v.bucket.to_pydatetime()
    lines = [
        f"{ICON[side]} <b>{e(title_of(metric, result.slice))}</b> {_deviation(result)}"
        if v.value is not None
        else f"⚠️ <b>{e(title_of(metric, result.slice))}</b>: no data",
        f"{start.astimezone(zone):%Y-%m-%d} {_when(start, zone)}–{_when(start + step, zone)} "
        f"{e(zone.key)}",
        f"value <b>{e(fmt_value(metric, v.value))}</b>, expected {e(fmt_value(metric, v.expected))}"
        f" ({e(fmt_value(metric, v.lower))} – {e(fmt_value(metric, v.upper))})",
    ]
    since = outside_since(result.series.loc[: v.bucket], result.band.loc[: v.bucket])
    if since is not None:
        lines.append(f"off since {_when(since.to_pydatetime(), zone)} "
                     f"({duration_text(v.bucket - since + step)})")  # fmt: skip
    lines.append(e(v.reason))
    if related:
        lines.append(f"slices that moved: {_moved(related)}")
    if dashboard:
        lines.append(f'<a href="{html.escape(dashboard_link(dashboard, result))}">dashboard</a>')
    return cut_html("\n".join(lines), CAPTION_LIMIT)


def dashboard_link(template: str, result: SeriesResult) -> str:
    """DASHBOARD_URL with {metric} and {slice} filled in, URL-encoded (slice values can hold
    any text: Cyrillic, spaces, ':' or '&')."""
    where = quote(result.slice.label(), safe="")
    return template.replace("{metric}", quote(result.metric.name, safe="")).replace(
        "{slice}", where
    )


def digest_text(groups: Sequence[tuple[SeriesResult, Sequence[SeriesResult]]], *,
                zone: ZoneInfo) -> str:  # fmt: skip
    """Many metrics at once: one message, most severe first."""
    first = groups[0][0].verdict.bucket.to_pydatetime()
    lines = [f"🚨 <b>{len(groups)} metrics off</b> at {_when(first, zone)} {e(zone.key)}", ""]
    for head, related in groups:
        v = head.verdict
        value, expected = fmt_value(head.metric, v.value), fmt_value(head.metric, v.expected)
        line = (f"• <b>{e(title_of(head.metric, head.slice))}</b> {_deviation(head)}: "
                f"{e(value)} vs {e(expected)}")  # fmt: skip
        if related:
            line += f" ({_moved(related)})"
        lines.append(line)
    lines += ["", "/check for all metrics, /metric NAME for one with its chart"]
    return "\n".join(lines)


def check_summary(report: CheckReport, *, zone: ZoneInfo) -> str:
    """A compact table of every metric's total, and which slices are off."""
    lines = []
    bucket = None
    for result in report.results:
        if not result.slice.is_total:
            continue
        v = result.verdict
        bucket = v.bucket
        mark = {Status.ANOMALY: "🔴", Status.OK: "🟢", Status.UNKNOWN: "⚪"}[v.status]
        band = (f"{fmt_value(result.metric, v.lower)}–{fmt_value(result.metric, v.upper)}"
                if v.lower is not None else "—")  # fmt: skip
        lines.append(f"{mark} {result.metric.name:<15} {fmt_value(result.metric, v.value):>8} "
                     f"{band:>15}")  # fmt: skip
    off = [r for r in report.anomalies if not r.slice.is_total]
    head = "checked"
    if bucket is not None:
        head = f"bucket {bucket.tz_convert(zone):%Y-%m-%d %H:%M} {zone.key}"
    text = f"<b>{e(head)}</b>\n<pre>{e(chr(10).join(lines))}</pre>"
    if off:
        text += "\nslices off: " + ", ".join(
            f"{e(r.metric.name)} {e(r.slice.label())} {_deviation(r)}" for r in off[:12]
        )
        if len(off) > 12:
            text += f" and {len(off) - 12} more"
    for late in report.late.values():
        text += f"\n⏳ {e(late.reason)}"
    if report.errors:
        text += "\n⚠️ not checked: " + "; ".join(e(m) for m in report.errors.values())
    return text


def metric_caption(result: SeriesResult, *, zone: ZoneInfo, muted: datetime | None) -> str:
    v = result.verdict
    mark = {Status.ANOMALY: "🔴 anomaly", Status.OK: "🟢 ok", Status.UNKNOWN: "⚪ unknown"}
    lines = [
        f"<b>{e(title_of(result.metric, result.slice))}</b> — {mark[v.status]}",
        f"bucket {v.bucket.tz_convert(zone):%Y-%m-%d %H:%M} {e(zone.key)}",
        f"value <b>{e(fmt_value(result.metric, v.value))}</b>, expected "
        f"{e(fmt_value(result.metric, v.expected))} ({e(fmt_value(result.metric, v.lower))} – "
        f"{e(fmt_value(result.metric, v.upper))}) {_deviation(result)}",
        e(v.reason),
        f"detector: {e(result.detector)}",
    ]
    if muted is not None:
        lines.append(f"🔕 muted until {muted.astimezone(zone):%Y-%m-%d %H:%M}")
    return cut_html("\n".join(lines), CAPTION_LIMIT)


def thresholds_text(
    metric: Metric,
    spec: Mapping[str, Any],
    params: Mapping[str, Param],
    overrides: Mapping[str, Any],
    *,
    zone: ZoneInfo,
) -> str:
    lines = [f"<b>{e(metric.title)}</b> (<code>{e(metric.name)}</code>), method "
             f"<code>{e(spec.get('method'))}</code>:"]  # fmt: skip
    for name, param in params.items():
        value = spec.get(name, param.default)
        line = f"<code>{e(name)}</code> = <b>{e(value)}</b>"
        if name in overrides:
            who, when = overrides[name].user_id, overrides[name].set_at
            stamp = f"{when.astimezone(zone):%m-%d %H:%M}"
            line += f" (set by {e(who)} {stamp}; default {e(param.default)})"
        line += f" — {e(param.help)}; {e(param.rule())}"
        lines.append(line)
    lines.append(f"\nChange: {e(usage('set'))}, e.g. /set {e(metric.name)} k 5")
    return "\n".join(lines)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts that each fit one Telegram message, split at line breaks, markup kept valid."""
    return split_html(text, limit)


def metrics_text(catalogue: Catalogue) -> str:
    lines = ["<b>Metrics</b>"]
    for m in catalogue.metrics.values():
        lines.append(f"<code>{e(m.name)}</code> — {e(m.title)}; slices: {e(', '.join(m.slices))}")
    lines.append("\n/metric NAME [slice], e.g. /metric views os=iOS")
    return "\n".join(lines)
