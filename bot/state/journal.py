"""What happened: alerts raised, deliveries tried, checks run, and the flags that make a
notice one-shot (source down, data late)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.state.db import Database, at, ts

__all__ = ["AlertRecord", "CheckRun", "Journal"]


@dataclass(frozen=True)
class AlertRecord:
    id: int
    metric: str
    slice: str  # '' for the total, else dim=value
    bucket: datetime
    value: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class CheckRun:
    started: datetime
    finished: datetime
    series: int
    anomalies: int
    errors: dict[str, str]


class Journal:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_alert(self, metric: str, slice_label: str, bucket: datetime, *,
                     numbers: tuple[float | None, ...], reason: str,
                     now: datetime) -> int:  # fmt: skip
        return self.db.write(
            "INSERT INTO alerts (metric, slice, bucket, value, expected, lower, upper, score, "
            "reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (metric, slice_label, ts(bucket), *numbers, reason, ts(now)),
        )

    def alert(self, alert_id: int) -> AlertRecord | None:
        found = self._alerts("WHERE id=?", (alert_id,))
        return found[0] if found else None

    def recent_alerts(self, limit: int) -> list[AlertRecord]:
        return self._alerts("ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))

    def _alerts(self, where: str, args: tuple[object, ...]) -> list[AlertRecord]:
        rows = self.db.rows("SELECT id, metric, slice, bucket, value, expected, lower, upper, "
                            f"reason, created_at FROM alerts {where}", args)  # fmt: skip
        return [AlertRecord(int(i), str(m), str(s), at(b), v, x, lo, hi, str(r), at(c))
                for i, m, s, b, v, x, lo, hi, r, c in rows]  # fmt: skip

    def record_delivery(self, alert_id: int, chat_id: int, message_id: int | None,
                        now: datetime, error: str | None = None) -> None:  # fmt: skip
        self.db.write("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                      (alert_id, chat_id, message_id, ts(now), error))  # fmt: skip

    def delivered(self, incident_ids: list[int]) -> set[int]:
        """Of these incidents, those an alert reached a chat about: a message of its own, or a
        digest that lists it (a webhook's deliveries name no incident)."""
        if not incident_ids:
            return set()
        wanted = set(incident_ids)
        marks = ", ".join("?" * len(wanted))
        rows = self.db.rows(f"SELECT DISTINCT incident_id FROM incident_messages WHERE "
                            f"incident_id IN ({marks})", tuple(wanted))  # fmt: skip
        found = {int(r[0]) for r in rows}
        # Only the digests shown since the first of them opened.
        for (listed,) in self.db.rows(
            "SELECT incidents FROM digests WHERE id IN (SELECT digest_id FROM digest_messages) "
            f"AND created_at >= (SELECT min(opened_at) FROM incidents WHERE id IN ({marks}))",
            tuple(wanted),
        ):
            found |= wanted & set(json.loads(listed))
        return found

    def delivery_errors(self, since: datetime) -> int:
        rows = self.db.rows("SELECT count() FROM deliveries WHERE error IS NOT NULL AND "
                            "sent_at >= ?", (ts(since),))  # fmt: skip
        return int(rows[0][0])

    def record_check(self, started: datetime, finished: datetime, series: int, anomalies: int,
                     errors: dict[str, str]) -> None:  # fmt: skip
        self.db.write(
            "INSERT INTO check_runs (started, finished, series, anomalies, errors) "
            "VALUES (?, ?, ?, ?, ?)",
            (ts(started), ts(finished), series, anomalies, json.dumps(errors)),
        )

    def last_check(self) -> CheckRun | None:
        rows = self.db.rows("SELECT started, finished, series, anomalies, errors FROM "
                            "check_runs ORDER BY id DESC LIMIT 1")  # fmt: skip
        if not rows:
            return None
        started, finished, series, anomalies, errors = rows[0]
        return CheckRun(at(started), at(finished), int(series), int(anomalies),
                        json.loads(str(errors)))  # fmt: skip

    def last_success(self) -> datetime | None:
        """When the last check that read every table ended (None: none did)."""
        rows = self.db.rows("SELECT max(finished) FROM check_runs WHERE errors = '{}'")
        return None if not rows or rows[0][0] is None else at(rows[0][0])

    def flag(self, key: str) -> str | None:
        rows = self.db.rows("SELECT value FROM flags WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def flagged(self, prefix: str) -> dict[str, str]:
        """Every flag whose key starts with `prefix`, with its value."""
        rows = self.db.rows("SELECT key, value FROM flags WHERE substr(key, 1, ?) = ? "
                            "ORDER BY key", (len(prefix), prefix))  # fmt: skip
        return {str(k): str(v) for k, v in rows}

    def set_flag(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.write("DELETE FROM flags WHERE key=?", (key,))
        else:
            self.db.write("INSERT OR REPLACE INTO flags VALUES (?, ?)", (key, value))
