"""Levels accepted in the chat as a metric's new normal: one per metric, with an end time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.state.db import Database, at, ts

__all__ = ["Baseline", "Baselines"]


@dataclass(frozen=True)
class Baseline:
    metric: str
    since: datetime  # the bucket the new level began
    until: datetime  # the band follows the level until then
    incident_id: int | None
    user_id: int | None
    user_name: str | None
    set_at: datetime
    acknowledged: bool = False  # accepting it acknowledged the incident (undone with it)


_COLUMNS = "metric, since, until, incident_id, user_id, user_name, set_at, acknowledged"


class Baselines:
    def __init__(self, db: Database) -> None:
        self.db = db

    def accept(self, baseline: Baseline) -> None:
        """The metric's level from `since` is its new normal (replacing any accepted before)."""
        b = baseline
        self.db.write(f"INSERT OR REPLACE INTO baselines ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, "
                      "?)", (b.metric, ts(b.since), ts(b.until), b.incident_id, b.user_id,
                             b.user_name, ts(b.set_at), int(b.acknowledged)))  # fmt: skip

    def withdraw(self, metric: str) -> int:
        return self.db.change("DELETE FROM baselines WHERE metric=?", (metric,))

    def active(self, now: datetime) -> dict[str, Baseline]:
        """Every level in force at `now`, by metric."""
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM baselines WHERE until > ? ORDER BY metric",
                            (ts(now),))  # fmt: skip
        return {str(r[0]): _baseline(r) for r in rows}

    def of_metric(self, metric: str, now: datetime) -> Baseline | None:
        return self.active(now).get(metric)


def _baseline(row: tuple[Any, ...]) -> Baseline:
    metric, since, until, incident, user, name, set_at, acknowledged = row
    return Baseline(str(metric), at(int(since)), at(int(until)),
                    None if incident is None else int(incident),
                    None if user is None else int(user),
                    None if name is None else str(name), at(int(set_at)),
                    bool(acknowledged))  # fmt: skip
