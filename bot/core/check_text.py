"""What /check says: every metric's total, one line each, the slices that are off grouped by
metric, and which charts follow (at most CHARTS_PER_CHECK, the largest change first)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.formatting import fmt_value, metric_title, titled
from bot.core.i18n import Translator, translator
from bot.core.problems import problem_text
from bot.core.reasons import reason_text
from bot.core.report import CheckReport, SeriesResult, why_not_judged
from bot.core.wording import (
    MOVED_LISTED,
    e,
    interval_text,
    late_line,
    most_moved,
    moved_text,
    outside_range,
    since_text,
)
from detectors import Status

__all__ = ["CHARTS_PER_CHECK", "check_charts", "check_summary"]

CHARTS_PER_CHECK = 3  # charts /check sends after its summary


def _red(result: SeriesResult) -> bool:
    """Whether check_summary marks the result 🔴: a metric's total judged an anomaly (slices
    are listed under the totals, not marked)."""
    return result.slice.is_total and result.verdict.status is Status.ANOMALY


def _change(result: SeriesResult) -> float:
    """How far the value is from the expected one, as a share of it (what /check and the
    captions write, -28.6%); no value, or no expected value to be a share of: the farthest."""
    share = result.verdict.deviation
    return math.inf if share is None or not math.isfinite(share) else abs(share)


def check_charts(report: CheckReport, limit: int = CHARTS_PER_CHECK) -> list[SeriesResult]:
    """The anomalies /check draws after check_summary, at most `limit`, the largest change
    first (as their captions write it). Which: every total the summary marks 🔴 before any
    slice, so a metric the summary shows broken is drawn however much further out one of its
    slices (or another metric's) is; then the slices the detector finds most severe (no
    score, such as no data at all: first)."""
    chosen = sorted(report.anomalies,
                    key=lambda r: (not _red(r), -abs(r.verdict.score or 1e9)))  # fmt: skip
    return sorted(chosen[:limit], key=_change, reverse=True)


def check_summary(report: CheckReport, *, zone: ZoneInfo, t: Translator | None = None,
                  muted: Mapping[str, datetime] | None = None) -> str:  # fmt: skip
    """Every metric's total, one line each, named as its alerts name it (the title in the
    chat's language), 🔕 until when where `muted` holds its name (the end of its mute or of
    all metrics', whichever is later), and which slices are off."""
    t = translator() if t is None else t
    lines: list[str] = []
    last: SeriesResult | None = None  # a total: the interval the lines are of
    for result in report.results:
        if not result.slice.is_total:
            continue
        v = result.verdict
        last = result
        # 🔴 as check_charts reads it: those rows are drawn before any slice.
        mark = "🔴" if _red(result) else {Status.OK: "🟢", Status.UNKNOWN: "⚪"}[v.status]
        title, value = e(metric_title(result.metric, t)), e(fmt_value(result.metric, v.value, t))
        line = f"{title}: {value}"
        if v.lower is not None and v.upper is not None:
            line = t._("{title}: {value} (range {low} – {high})", title=title, value=value,
                       low=e(fmt_value(result.metric, v.lower, t)),
                       high=e(fmt_value(result.metric, v.upper, t)))  # fmt: skip
        if v.status is Status.OK and outside_range(v):
            mark = "🟡"  # outside its range, held back by the rule: the reason says why
            line += f" — {e(reason_text(v.reason, t))}"
        elif (v.value is None and v.reason) or why_not_judged(v.reason) is not None:
            # A bare "—": no data, and whether that alerts; a ⚪ with a value: why not judged.
            line += f" — {e(reason_text(v.reason, t))}"
        until = (muted or {}).get(result.metric.name)
        if until is not None:  # it said nothing of a mute /metric shows
            when = since_text(until, report.checked_at, zone)  # its date if not today's
            line += " " + t._("🔕 muted until {time}", time=when)
        lines.append(f"{mark} {line}")
    head = t._("checked")
    if last is not None:
        head = t._("interval {time} {zone}", zone=zone.key,
                   time=interval_text(last.verdict.bucket, last.series.index, zone))  # fmt: skip
    text = "\n".join([f"<b>{e(head)}</b>", *lines, *_slices_off(report, t)])
    for late in report.late.values():
        text += "\n" + late_line(late, zone, t)
    if report.errors:
        said = [e(problem_text(m, t)) for m in report.errors.values()]
        text += "\n" + t._("⚠️ not checked: {errors}", errors="; ".join(said))
    return text


def _slices_off(report: CheckReport, t: Translator) -> list[str]:
    """The slices judged anomalies, a line per metric: its title and the name a command takes
    (a title said once, not before each slice: «Активные пользователи ленты» five times made
    one unreadable paragraph), then the MOVED_LISTED slices that moved the most of it, as its
    alert names them, and how many more; under them a /metric line that shows one of those."""
    off = [r for r in report.anomalies if not r.slice.is_total]
    if not off:
        return []
    grouped: dict[str, list[SeriesResult]] = {}
    for r in off:
        grouped.setdefault(r.metric.name, []).append(r)
    lines = [t._("slices off:")]
    hidden: list[SeriesResult] = []
    for slices in grouped.values():
        metric = slices[0].metric
        lines.append(f"• {titled(metric, t)}: {moved_text(slices, t)}")  # and how many more
        hidden += most_moved(slices)[MOVED_LISTED:]
    if hidden:
        shown = f"/metric {hidden[0].metric.name} {hidden[0].slice.label()}"
        lines.append(t._("Any slice: /metric METRIC SLICE, e.g. {example}",
                         example=f"<code>{e(shown)}</code>"))  # fmt: skip
    return lines
