"""Incidents, not message floods: the lifecycle of one metric's episode, as a pure decide().

An incident opens when a check finds the metric firing (any of its series); while it lasts,
nothing is repeated but a reminder after REPEAT_INTERVAL (none once acknowledged); it resolves
only after the metric has been back to normal for `resolve_after` intervals in a row (so it
does not flap). A check that could not see the metric (source down, no data) changes nothing: it
neither opens nor resolves anything.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

__all__ = ["Decision", "Incident", "Policy", "Reason", "decide"]


class Reason(enum.StrEnum):
    FIRST = "first"  # a new incident: alert
    REPEAT = "repeat"  # still going after REPEAT_INTERVAL: remind
    RESOLVED = "resolved"  # back to normal long enough: say so, edit the alert
    NONE = "none"  # nothing to say


@dataclass(frozen=True)
class Policy:
    repeat: timedelta = timedelta(hours=4)
    resolve_after: int = 2  # intervals in a row judged normal


@dataclass(frozen=True)
class Incident:
    metric: str
    opened_at: datetime
    last_notified_at: datetime
    resolved_at: datetime | None = None
    ok_streak: int = 0
    acknowledged_by: str | None = None
    peak_score: float = 0.0
    false_alarm_by: str | None = None
    alert_id: int | None = None  # the alert record of the series that opened it
    id: int | None = None
    ok_bucket: datetime | None = None  # the newest interval counted in ok_streak
    ok_since: datetime | None = None  # the first interval of that streak
    since: datetime | None = None  # the first interval outside, as the alert said ("off since")
    # Who acknowledged it, who called it a false alarm, by Telegram user id: two people may
    # share a name (None: marked before ids were kept, or not marked).
    acknowledged_by_id: int | None = None
    false_alarm_by_id: int | None = None

    def lasted(self, until: datetime) -> timedelta:
        """How long the metric was off: from the first interval outside to the first of the
        normal ones that resolved it (the alert itself comes a few intervals in, and the
        resolution RESOLVE_AFTER intervals after); from the alert to `until` where the
        intervals are not known."""
        if self.since is not None and self.ok_since is not None and self.ok_since > self.since:
            return self.ok_since - self.since
        return until - self.opened_at

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class Decision:
    reason: Reason
    incident: Incident | None  # the incident as it is after this check


def decide(
    incident: Incident | None,
    firing: bool | None,
    now: datetime,
    policy: Policy,
    *,
    metric: str,
    score: float = 0.0,
    bucket: datetime | None = None,
) -> Decision:
    """What this check means for the metric's incident. `firing` None = could not tell.
    `bucket` is the interval judged: one judged normal counts once towards resolving, however
    many checks judge it (a check at start-up and the next scheduled one both judge the last
    complete interval; so do checks more often than the step)."""
    current = incident if incident is not None and incident.is_open else None
    if firing is None:
        return Decision(Reason.NONE, current)
    if current is None:
        if not firing:
            return Decision(Reason.NONE, None)
        opened = Incident(metric, opened_at=now, last_notified_at=now, peak_score=abs(score))
        return Decision(Reason.FIRST, opened)
    if firing:
        updated = replace(current, ok_streak=0, ok_bucket=None, ok_since=None,
                          peak_score=max(current.peak_score, abs(score)))  # fmt: skip
        due = now - current.last_notified_at >= policy.repeat
        if due and current.acknowledged_by is None:
            return Decision(Reason.REPEAT, replace(updated, last_notified_at=now))
        return Decision(Reason.NONE, updated)
    if bucket is not None and current.ok_bucket is not None and bucket <= current.ok_bucket:
        return Decision(Reason.NONE, current)  # counted already
    streak = current.ok_streak + 1
    counted = replace(current, ok_streak=streak, ok_bucket=bucket,
                      ok_since=bucket if streak == 1 else current.ok_since)  # fmt: skip
    if streak >= policy.resolve_after:
        return Decision(Reason.RESOLVED, replace(counted, resolved_at=now))
    return Decision(Reason.NONE, counted)
