"""What the bot says: alert captions, command replies. Pure; HTML with every value escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import pandas as pd

from bot.core.formatting import fmt_pct, fmt_value, title_of
from bot.core.i18n import Translator, translator
from bot.core.reasons import detector_text, reason_text
from bot.core.report import Late, SeriesResult
from bot.core.text import CAPTION_LIMIT, MESSAGE_LIMIT, cut_html, rendered_length, split_html
from detectors import Status, Verdict
from queries.catalogue import Metric

__all__ = [
    "CAPTION_LIMIT",
    "MESSAGE_LIMIT",
    "alert_caption",
    "deviation_text",
    "digest_text",
    "interval_text",
    "late_line",
    "metric_caption",
    "most_moved",
    "moved_text",
    "outside_range",
    "split_message",
]


ICON = {"below": "🔻", "above": "🔺"}
LINK_ROOM = 300  # rendered characters kept for the owner and the links under an alert
MOVED_LISTED = 4  # slices an alert (and /check) names of a metric, the ones that moved it most


def e(value: object) -> str:
    return html.escape(str(value), quote=False)


def zoned(when: datetime, zone: ZoneInfo | None) -> str:
    """A moment as the chat reads it (a mute's end), with its zone: 2026-12-06 19:20
    Europe/Moscow (UTC without one)."""
    local = when.astimezone(zone) if zone is not None else when
    return f"{local:%Y-%m-%d %H:%M} {e(zone.key) if zone is not None else 'UTC'}"


def _t(t: Translator | None) -> Translator:
    return translator() if t is None else t


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%H:%M}"


def since_text(moment: datetime, reference: datetime, zone: ZoneInfo) -> str:
    """When an incident began, as 'off since' says it: 'HH:MM', with the date before it
    ('2026-12-05 23:45') where that is another day than `reference`'s in `zone`."""
    local = moment.astimezone(zone)
    same = local.date() == reference.astimezone(zone).date()
    return f"{local:%H:%M}" if same else f"{local:%Y-%m-%d %H:%M}"


def duration_text(delta: timedelta, t: Translator | None = None) -> str:
    """'45 min', '2 h 15 min', '3 d 4 h' (ru: '45 минут', '2 часа 15 минут'), for a span
    as long as `delta` (said after 'for', 'after', 'since': ru in the accusative)."""
    t = _t(t)
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(t.ngettext("{n} d", "{n} d", days))
    if hours:
        parts.append(t.ngettext("{n} h", "{n} h", hours))
    if (minutes and not days) or not parts:
        parts.append(t.ngettext("{n} min", "{n} min", minutes))
    return " ".join(parts)


def deviation_text(result: SeriesResult, t: Translator | None = None, *,
                   values: bool = False) -> str:  # fmt: skip
    """The change as a percentage. With `values`, where there is none (expected 0: a rate
    rising from zero) the two values, '0.00% → 0.84%', rather than nothing after a name."""
    v = result.verdict
    if values and v.deviation is None and v.value is not None and v.expected is not None and \
            math.isfinite(v.value) and math.isfinite(v.expected):  # fmt: skip
        return f"{fmt_value(result.metric, v.expected, t)} → {fmt_value(result.metric, v.value, t)}"
    return fmt_pct(v.deviation, t)


def _move(result: SeriesResult) -> float:
    """How much of the metric a slice moved, in the metric's units (events lost or gained,
    points of a ratio): what it adds to the total's change, so a busy slice's -20% comes before
    a quiet one's -60% of a few events; no data (no value) the most."""
    value, expected = result.verdict.value, result.verdict.expected
    if value is None or expected is None or not math.isfinite(value - expected):
        return math.inf
    return abs(value - expected)


def moved_text(related: Sequence[SeriesResult], t: Translator | None = None) -> str:
    """The MOVED_LISTED slices that moved the most of the metric, largest first, and how
    many more there are (an alert that named 4 of 7 read as if 4 had moved)."""
    ranked = most_moved(related)
    text = ", ".join(f"{e(r.slice.label())} {deviation_text(r, t, values=True)}"
                     for r in ranked[:MOVED_LISTED])  # fmt: skip
    rest = len(ranked) - MOVED_LISTED
    if rest > 0:
        more = t.ngettext("and {n} more", "and {n} more", rest) if t is not None \
            else f"and {rest} more"  # fmt: skip
        text += f" {more}"
    return text


def most_moved(related: Sequence[SeriesResult]) -> list[SeriesResult]:
    """Slices by how much of the metric each moved, most first (`_move`)."""
    return sorted(related, key=_move, reverse=True)


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in text


def _footer(metric: Metric, result: SeriesResult, dashboard: str | None, t: Translator) -> str:
    """Who owns the metric and where to look: kept whole under a caption that is cut."""
    lines = []
    owner = getattr(metric, "owner", None)
    if owner:
        lines.append(t._("owner: {owner}", owner=e(str(owner)[:100])))
    links = []
    runbook = getattr(metric, "runbook", None)
    if runbook and _is_url(str(runbook)):
        word = e(t._("runbook"))
        links.append(f'<a href="{html.escape(str(runbook))}">{word}</a>')
    elif runbook:
        lines.append(t._("runbook: {runbook}", runbook=e(str(runbook)[:150])))
    dashboard = getattr(metric, "dashboard", None) or dashboard  # the catalogue's own first
    if dashboard:
        link = html.escape(dashboard_link(dashboard, result))
        word = e(t._("dashboard"))
        links.append(f'<a href="{link}">{word}</a>')
    if links:
        lines.append(" · ".join(links))
    return "\n".join(lines)


def alert_caption(
    result: SeriesResult,
    related: Sequence[SeriesResult],
    *,
    zone: ZoneInfo,
    step: timedelta,
    dashboard: str | None,
    t: Translator | None = None,
) -> str:
    """One alert: what, how bad, since when, compared to what, where it moved, who owns it and
    where to look. Within Telegram's caption limit: the middle is cut, never the owner or links."""
    t = _t(t)
    v = result.verdict
    metric = result.metric
    side = "below" if (v.value or 0) < (v.expected or 0) else "above"
    start = v.bucket.to_pydatetime()
    title = e(title_of(metric, result.slice, t))
    value, expected = fmt_value(metric, v.value, t), fmt_value(metric, v.expected, t)
    low, high = fmt_value(metric, v.lower, t), fmt_value(metric, v.upper, t)
    lines = [
        f"{ICON[side]} <b>{title}</b> {deviation_text(result, t, values=True)}"
        if v.value is not None
        else t._("⚠️ <b>{title}</b>: no data", title=title),
        f"{start.astimezone(zone):%Y-%m-%d} {_when(start, zone)}–{_when(start + step, zone)} "
        f"{e(zone.key)}",
        t._("value <b>{value}</b>, expected {expected} ({low} – {high})", value=e(value),
            expected=e(expected), low=e(low), high=e(high)),
    ]
    since = result.off_since
    if since is not None:
        lines.append(t._("off since {time} ({duration})",
                         time=since_text(since.to_pydatetime(), start, zone),
                         duration=duration_text(v.bucket - since + step, t)))  # fmt: skip
    shift = result.shift_since
    if shift is not None:
        lines.append(t._("shifted since {time} ({duration})",
                         time=since_text(shift.to_pydatetime(), start, zone),
                         duration=duration_text(v.bucket - shift + step, t)))  # fmt: skip
    lines.append(e(reason_text(v.reason, t)))
    if related:
        lines.append(t._("slices that moved: {slices}", slices=moved_text(related, t)))
    footer = _footer(metric, result, dashboard, t)
    if not footer:
        return cut_html("\n".join(lines), CAPTION_LIMIT)
    footer = cut_html(footer, LINK_ROOM)
    room = CAPTION_LIMIT - rendered_length(footer) - 1
    return f"{cut_html(chr(10).join(lines), room)}\n{footer}"


def dashboard_link(template: str, result: SeriesResult) -> str:
    """DASHBOARD_URL with {metric} and {slice} filled in, URL-encoded (slice values can hold
    any text: Cyrillic, spaces, ':' or '&')."""
    where = quote(result.slice.label(), safe="")
    return template.replace("{metric}", quote(result.metric.name, safe="")).replace(
        "{slice}", where
    )


def digest_text(groups: Sequence[tuple[SeriesResult, Sequence[SeriesResult]]], *,
                zone: ZoneInfo, t: Translator | None = None) -> str:  # fmt: skip
    """Many metrics at once: one message, most severe first."""
    t = _t(t)
    first = groups[0][0].verdict.bucket.to_pydatetime()
    head = t.ngettext("🚨 <b>{n} metric off</b> at {time} {zone}",
                      "🚨 <b>{n} metrics off</b> at {time} {zone}", len(groups),
                      time=_when(first, zone), zone=e(zone.key))  # fmt: skip
    lines = [head, ""]
    for result, related in groups:
        v = result.verdict
        value = fmt_value(result.metric, v.value, t)
        expected = fmt_value(result.metric, v.expected, t)
        line = t._("• <b>{title}</b> {change}: {value} vs {expected}",
                   title=e(title_of(result.metric, result.slice, t)),
                   change=deviation_text(result, t), value=e(value),
                   expected=e(expected))  # fmt: skip
        if related:
            line += f" ({moved_text(related, t)})"
        lines.append(line)
    lines += ["", t._("/check for all metrics, /metric NAME for one with its chart")]
    return "\n".join(lines)


def late_line(late: Late, zone: ZoneInfo, t: Translator | None = None) -> str:
    """One table whose newest interval is still incomplete, in the chat's language (HTML)."""
    t = _t(t)
    at = f"{late.bucket.tz_convert(zone):%H:%M}"
    if late.latest is None:
        return t._("⏳ {table}: the {time} interval has no rows yet; its metrics are judged once "
                   "it fills", table=e(late.table), time=at)  # fmt: skip
    newest = f"{pd.Timestamp(late.latest).tz_convert(zone):%H:%M:%S}"
    return t._("⏳ {table}: the {time} interval is incomplete (the newest event is from "
               "{newest}); its metrics are judged once it fills", table=e(late.table), time=at,
               newest=newest)  # fmt: skip


def outside_range(v: Verdict) -> bool:
    """The value is known and outside a known range."""
    if v.value is None or v.lower is None or v.upper is None or not math.isfinite(v.value):
        return False
    return not v.lower <= v.value <= v.upper


def interval_text(bucket: pd.Timestamp, index: pd.DatetimeIndex, zone: ZoneInfo) -> str:
    """The bucket by its start and end ('2026-12-06 09:00–09:15'), its step read off `index`."""
    when = f"{bucket.tz_convert(zone):%Y-%m-%d %H:%M}"
    if len(index) >= 2 and timedelta(0) < index[-1] - index[-2] <= timedelta(days=1):
        when += f"–{_when(bucket + (index[-1] - index[-2]), zone)}"
    return when


def metric_caption(result: SeriesResult, *, zone: ZoneInfo, muted: datetime | None,
                   t: Translator | None = None) -> str:  # fmt: skip
    """One series now: its status, value and range, why, and whether it is muted."""
    t = _t(t)
    v = result.verdict
    metric = result.metric
    mark = {Status.ANOMALY: t._("🔴 anomaly"), Status.OK: t._("🟢 ok"),
            Status.UNKNOWN: t._("⚪ unknown")}  # fmt: skip
    if v.status is Status.OK and outside_range(v):  # held back by the rule: the reason says why
        mark[Status.OK] = t._("🟡 outside the range, not alerting")
    value, expected = fmt_value(metric, v.value, t), fmt_value(metric, v.expected, t)
    low, high = fmt_value(metric, v.lower, t), fmt_value(metric, v.upper, t)
    lines = [
        f"<b>{e(title_of(metric, result.slice, t))}</b> — {mark[v.status]}",
        t._("interval {time} {zone}", time=interval_text(v.bucket, result.series.index, zone),
            zone=e(zone.key)),
        (t._("value <b>{value}</b>, expected {expected} ({low} – {high})", value=e(value),
             expected=e(expected), low=e(low), high=e(high)) + f" {deviation_text(result, t)}"
         if v.expected is not None and math.isfinite(v.expected)
         else t._("value <b>{value}</b>, no expected range yet", value=e(value))).rstrip(),
        e(reason_text(v.reason, t)),
        t._("detector: {name}", name=e(detector_text(result.detector, t))),
    ]
    if muted is not None:
        lines.append(t._("🔕 muted until {time}",
                         time=f"{muted.astimezone(zone):%Y-%m-%d %H:%M} {e(zone.key)}"))
    return cut_html("\n".join(lines), CAPTION_LIMIT)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts that each fit one Telegram message, split at line breaks, markup kept valid."""
    return split_html(text, limit)
