"""Threshold overrides: what /set changed, who, when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bot.state.db import Database, at, ts

__all__ = ["Override", "Overrides"]


@dataclass(frozen=True)
class Override:
    value: object
    user_id: int | None
    set_at: datetime


class Overrides:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, metric: str, param: str, value: object, user_id: int | None,
            now: datetime) -> None:  # fmt: skip
        self.db.write("INSERT OR REPLACE INTO overrides VALUES (?, ?, ?, ?, ?)",
                      (metric, param, json.dumps(value), user_id, ts(now)))  # fmt: skip

    def of(self, metric: str) -> dict[str, Override]:
        rows = self.db.rows(
            "SELECT param, value, user_id, set_at FROM overrides WHERE metric=? ORDER BY param",
            (metric,),
        )
        return {
            str(param): Override(
                json.loads(str(value)), None if user is None else int(user), at(int(when))
            )
            for param, value, user, when in rows
        }

    def reset(self, metric: str) -> int:
        return self.db.change("DELETE FROM overrides WHERE metric=?", (metric,))
