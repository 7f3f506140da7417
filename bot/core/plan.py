"""From a check to intents, as a pure function: which incidents open, remind or resolve, which
are silenced, and which notices about the source go out. No I/O, no clock: `now` is given.

    plan(report, metrics, incidents, mutes, flags, now, policy) -> Plan

The service renders each intent into messages on its own (one broken intent never stops the
others), writes the incident changes and the messages in one transaction, then sends.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.core.incidents import Incident, Policy, Reason, decide
from bot.core.report import CheckReport, Late, SeriesResult, why_not_judged
from detectors import Status
from queries.catalogue import Metric

__all__ = [
    "DIGEST_FROM", "Digest", "Intent", "Notice", "NoticeKind", "Open", "Plan", "Remind",
    "Resolve", "back_flag", "down_flag", "group", "late_flag", "plan", "unjudged_flag",
]  # fmt: skip

DIGEST_FROM = 4  # this many metrics opening in one check: one digest instead of one each
ALL = "*"  # a mute of every metric


class NoticeKind(enum.StrEnum):
    SOURCE_DOWN = "source_down"
    SOURCE_BACK = "source_back"
    LATE = "late"
    LATE_CLEAR = "late_clear"
    UNJUDGED = "unjudged"  # the check fails on a metric (bot.service.checker._unjudged)
    UNJUDGED_CLEAR = "unjudged_clear"


@dataclass(frozen=True)
class Open:
    """A new incident: the alert with its chart and buttons."""

    incident: Incident
    head: SeriesResult  # the total when it moved, else the worst slice
    related: tuple[SeriesResult, ...]  # the other slices that moved, worst first (the text
    # lists them by how much of the metric each moved: `wording.moved_text`)


@dataclass(frozen=True)
class Digest:
    """Many incidents opening at once: one message for all, most severe first."""

    opens: tuple[Open, ...]


@dataclass(frozen=True)
class Remind:
    incident: Incident
    head: SeriesResult


@dataclass(frozen=True)
class Resolve:
    incident: Incident
    total: SeriesResult | None  # the metric's total now, to show it is back
    quiet: bool  # muted: the alert is edited, no new message


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    table: str | None = None  # LATE, LATE_CLEAR
    details: str = ""  # SOURCE_DOWN: what failed; UNJUDGED: why
    metric: str | None = None  # UNJUDGED, UNJUDGED_CLEAR
    late: Late | None = None


Intent = Open | Digest | Remind | Resolve | Notice


@dataclass(frozen=True)
class Plan:
    incidents: tuple[Incident, ...]  # every incident changed by this check, to be saved
    intents: tuple[Intent, ...]
    flags: Mapping[str, str | None] = field(default_factory=dict)  # one-shot notice flags


def down_flag() -> str:
    return "down"


def back_flag() -> str:
    """Clean checks in a row since the source was down (it is back after resolve_after)."""
    return "down_ok"


def late_flag(table: str) -> str:
    return f"late:{table}"


def unjudged_flag(metric: str) -> str:
    return f"unjudged:{metric}"


def group(results: Iterable[SeriesResult]) -> list[tuple[SeriesResult, list[SeriesResult]]]:
    """Anomalies per metric: the head (the total when it moved, else the worst slice) and the
    other slices that moved, worst first; metrics most severe first."""
    by_metric: dict[str, list[SeriesResult]] = {}
    for r in results:
        by_metric.setdefault(r.metric.name, []).append(r)
    out = []
    for items in by_metric.values():
        items.sort(key=lambda r: (not r.slice.is_total, -abs(r.verdict.score or 1e9)))
        out.append((items[0], items[1:]))
    out.sort(key=lambda g: -abs(g[0].verdict.score or 1e9))
    return out


def firing(report: CheckReport, metric: Metric) -> bool | None:
    """True, False, or None when this check could not see the metric."""
    if metric.table in report.errors or metric.table in report.late:
        return None
    results = [r for r in report.results if r.metric.name == metric.name]
    if not results:
        return None
    if any(r.verdict.status is Status.ANOMALY for r in results):
        return True
    total = next((r for r in results if r.slice.is_total), None)
    if total is None or total.verdict.status is Status.UNKNOWN:
        return None
    return False


def judged(report: CheckReport, metric: Metric) -> datetime | None:
    """The interval this check judged the metric on (its total's), if it judged one."""
    total = next((r for r in report.results if r.metric.name == metric.name
                  and r.slice.is_total), None)  # fmt: skip
    return None if total is None else total.verdict.bucket.to_pydatetime()


def _notices(
    report: CheckReport, tables: Collection[str], metrics: Collection[str],
    flags: Mapping[str, str], resolve_after: int,
) -> tuple[list[Notice], dict[str, str | None]]:  # fmt: skip
    """One notice when the source cannot be read, one when it can again; the same per table for
    late data, and per metric for one the check fails on. Never one per check: the flags
    remember what was said."""
    notices: list[Notice] = []
    changes: dict[str, str | None] = {}
    down = flags.get(down_flag())
    was = set(down.split(",")) if down else set()
    if report.errors:
        # Said for each table when it starts failing (one that fails while another is down is
        # news too); "back" waits for `resolve_after` clean checks in a row, as an incident's
        # resolution does, so a source failing every other check is one notice, not 96 a day.
        new = sorted(set(report.errors) - was)
        if new:
            changes[down_flag()] = ",".join(sorted(was | set(new)))
            details = "; ".join(f"{t}: {report.errors[t]}" for t in new)
            notices.append(Notice(NoticeKind.SOURCE_DOWN, details=details))
        if flags.get(back_flag()):
            changes[back_flag()] = None
    elif down is not None:
        clean = int(flags.get(back_flag()) or 0) + 1
        if clean >= resolve_after:
            changes[down_flag()] = changes[back_flag()] = None
            notices.append(Notice(NoticeKind.SOURCE_BACK))
        else:
            changes[back_flag()] = str(clean)
    for table in tables:
        key = late_flag(table)
        info = report.late.get(table)
        if info is not None and flags.get(key) is None:
            changes[key] = info.bucket.isoformat()
            notices.append(Notice(NoticeKind.LATE, table=table, late=info))
        elif info is None and table not in report.errors and flags.get(key):
            changes[key] = None
            notices.append(Notice(NoticeKind.LATE_CLEAR, table=table))
    _unjudged(report, metrics, flags, notices, changes)
    return notices, changes


def _unjudged(report: CheckReport, metrics: Collection[str], flags: Mapping[str, str],
              notices: list[Notice], changes: dict[str, str | None]) -> None:  # fmt: skip
    """A notice for each metric the check failed on, once, and once it is judged again."""
    seen: set[str] = set()  # metrics with results in this check
    failed: dict[str, str] = {}  # ... and why each one not judged was not
    for r in report.results:
        seen.add(r.metric.name)
        why = why_not_judged(r.verdict.reason)
        if why is not None:
            failed.setdefault(r.metric.name, why)
    for metric in metrics:
        key = unjudged_flag(metric)
        if metric in failed and flags.get(key) is None:
            changes[key] = failed[metric] or "?"
            notices.append(Notice(NoticeKind.UNJUDGED, metric=metric, details=failed[metric]))
        elif metric not in failed and metric in seen and flags.get(key):
            changes[key] = None
            notices.append(Notice(NoticeKind.UNJUDGED_CLEAR, metric=metric))


def is_muted(metric: str, mutes: Mapping[str, datetime], now: datetime) -> bool:
    return any(until > now for name, until in mutes.items() if name in (metric, ALL))


def plan(
    report: CheckReport,
    metrics: Sequence[Metric],
    *,
    incidents: Mapping[str, Incident | None],
    mutes: Mapping[str, datetime],
    flags: Mapping[str, str],
    now: datetime,
    policy: Policy,
    tables: Collection[str] = (),
) -> Plan:
    """What this check means for the chats. `incidents` holds each metric's open incident,
    `mutes` the end of each mute in force (by metric, or "*"), `flags` the notice flags."""
    notices, flag_changes = _notices(report, tables, [m.name for m in metrics], flags,
                                     policy.resolve_after)  # fmt: skip
    heads = {h.metric.name: (h, r) for h, r in group(report.anomalies)}
    changed: list[Incident] = []
    opens: list[Open] = []
    others: list[Intent] = []
    for metric in metrics:
        head, related = heads.get(metric.name, (None, []))
        score = abs(head.verdict.score or 0.0) if head is not None else 0.0
        decision = decide(incidents.get(metric.name), firing(report, metric), now, policy,
                          metric=metric.name, score=score,
                          bucket=judged(report, metric))  # fmt: skip
        if decision.incident is None:
            continue
        incident = decision.incident
        changed.append(incident)
        muted = is_muted(metric.name, mutes, now)
        if decision.reason is Reason.FIRST and head is not None:
            since = head.began  # the alert's "off since" (or shift's start), else the bucket
            first = head.verdict.bucket if since is None else since
            incident = replace(incident, since=first.to_pydatetime())
            changed[-1] = incident
        if decision.reason is Reason.FIRST and head is not None and not muted:
            opens.append(Open(incident, head, tuple(related)))
        elif decision.reason is Reason.REPEAT and head is not None and not muted:
            others.append(Remind(incident, head))
        elif decision.reason is Reason.RESOLVED:
            total = next((r for r in report.results
                          if r.metric.name == metric.name and r.slice.is_total), None)  # fmt: skip
            others.append(Resolve(incident, total, quiet=muted))
    opens.sort(key=lambda o: -abs(o.head.verdict.score or 1e9))
    announced: list[Intent] = [Digest(tuple(opens))] if len(opens) >= DIGEST_FROM else [*opens]
    return Plan(tuple(changed), (*notices, *announced, *others), flag_changes)
