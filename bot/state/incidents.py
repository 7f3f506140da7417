"""Incidents and the messages that show them (edited when the incident changes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.core.incidents import Incident
from bot.state.db import Database, at, maybe_at, ts

__all__ = ["Feedback", "Incidents", "ShownIn"]

_COLUMNS = ("id, metric, opened_at, last_notified_at, resolved_at, ok_streak, acknowledged_by, "
            "peak_score, false_alarm_by, alert_id, ok_bucket, ok_since, since, "
            "acknowledged_by_id, false_alarm_by_id")  # fmt: skip


@dataclass(frozen=True)
class ShownIn:
    """A message that shows an incident: edited when its state changes."""

    chat_id: int
    message_id: int
    is_photo: bool
    text: str  # as first sent: edits put the state in front of it
    lang: str | None = None  # the language it was sent in (None: not recorded, older rows)


@dataclass(frozen=True)
class Feedback:
    """What someone in the chat said of an incident: a label for backtest and tune."""

    incident_id: int
    metric: str
    opened_at: datetime
    resolved_at: datetime | None
    false_alarm: bool


class Incidents:
    def __init__(self, db: Database) -> None:
        self.db = db

    def open_for(self, metric: str) -> Incident | None:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM incidents WHERE metric=? AND resolved_at "
                            "IS NULL ORDER BY id DESC LIMIT 1", (metric,))  # fmt: skip
        return _incident(rows[0]) if rows else None

    def ended_since(self, metric: str, since: datetime) -> list[Incident]:
        """The incidents of `metric` resolved at or after `since`, oldest first."""
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM incidents WHERE metric=? AND resolved_at "
                            ">= ? ORDER BY id", (metric, ts(since)))  # fmt: skip
        return [_incident(row) for row in rows]

    def get(self, incident_id: int) -> Incident | None:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM incidents WHERE id=?", (incident_id,))
        return _incident(rows[0]) if rows else None

    def by_alert(self, alert_ids: list[int]) -> dict[int, Incident]:
        """The incidents these alerts opened, by alert id (an alert that opened none, or whose
        incident a later alert took over, is absent)."""
        if not alert_ids:
            return {}
        marks = ", ".join("?" * len(alert_ids))
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM incidents WHERE alert_id IN ({marks})",
                            tuple(alert_ids))  # fmt: skip
        found = (_incident(row) for row in rows)
        return {i.alert_id: i for i in found if i.alert_id is not None}

    def save(self, incident: Incident) -> Incident:
        values = (
            incident.metric, ts(incident.opened_at), ts(incident.last_notified_at),
            None if incident.resolved_at is None else ts(incident.resolved_at),
            incident.ok_streak, incident.acknowledged_by, incident.peak_score,
            incident.false_alarm_by,
            incident.alert_id,
            *(None if m is None else ts(m)
              for m in (incident.ok_bucket, incident.ok_since, incident.since)),
            incident.acknowledged_by_id, incident.false_alarm_by_id,
        )  # fmt: skip
        if incident.id is None:
            new_id = self.db.write(
                "INSERT INTO incidents (metric, opened_at, last_notified_at, resolved_at, "
                "ok_streak, acknowledged_by, peak_score, false_alarm_by, alert_id, ok_bucket, "
                "ok_since, since, acknowledged_by_id, false_alarm_by_id) VALUES (?, ?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?, ?)", values,
            )  # fmt: skip
            return replace(incident, id=new_id)
        self.db.write(
            "UPDATE incidents SET metric=?, opened_at=?, last_notified_at=?, resolved_at=?, "
            "ok_streak=?, acknowledged_by=?, peak_score=?, false_alarm_by=?, alert_id=?, "
            "ok_bucket=?, ok_since=?, since=?, acknowledged_by_id=?, false_alarm_by_id=? "
            "WHERE id=?",
            (*values, incident.id),
        )
        return incident

    def false_alarms(self) -> list[Feedback]:
        return [f for f in self.feedback() if f.false_alarm]

    def feedback(self) -> list[Feedback]:
        """Every incident someone in the chat acknowledged (a real incident) or marked a false
        alarm: labels for backtest and tune."""
        rows = self.db.rows("SELECT id, metric, opened_at, resolved_at, false_alarm_by FROM "
                            "incidents WHERE acknowledged_by IS NOT NULL OR false_alarm_by IS "
                            "NOT NULL ORDER BY id")  # fmt: skip
        return [Feedback(int(i), str(m), at(o), maybe_at(r), f is not None)
                for i, m, o, r, f in rows]  # fmt: skip

    def add_message(self, incident_id: int, shown: ShownIn) -> None:
        self.db.write("INSERT INTO incident_messages (incident_id, chat_id, message_id, "
                      "is_photo, text, lang) VALUES (?, ?, ?, ?, ?, ?)",
                      (incident_id, shown.chat_id, shown.message_id, int(shown.is_photo),
                       shown.text, shown.lang))  # fmt: skip

    def messages(self, incident_id: int) -> list[ShownIn]:
        rows = self.db.rows("SELECT chat_id, message_id, is_photo, text, lang FROM "
                            "incident_messages WHERE incident_id=?", (incident_id,))  # fmt: skip
        return [ShownIn(int(c), int(m), bool(p), str(t), None if lang is None else str(lang))
                for c, m, p, t, lang in rows]  # fmt: skip


def _incident(row: tuple[Any, ...]) -> Incident:
    iid, metric, opened, notified, resolved, streak, ack, peak, false, alert, *rest = row
    ok_bucket, ok_since, since = (maybe_at(m) for m in rest[:3])
    ack_id, false_id = (None if i is None else int(i) for i in rest[3:])
    return Incident(
        metric=str(metric), opened_at=at(opened), last_notified_at=at(notified),
        resolved_at=maybe_at(resolved), ok_streak=int(streak),
        acknowledged_by=None if ack is None else str(ack), peak_score=float(peak),
        false_alarm_by=None if false is None else str(false),
        alert_id=None if alert is None else int(alert), id=int(iid),
        ok_bucket=ok_bucket, ok_since=ok_since, since=since, acknowledged_by_id=ack_id,
        false_alarm_by_id=false_id,
    )  # fmt: skip
