"""Threshold overrides: what /set changed, who (id and, when Telegram gave it, name), when."""

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
    user_name: str | None = None  # as Telegram named the person at /set time

    @property
    def who(self) -> str:
        """The name to show: the person's name, else their id, else '?'."""
        if self.user_name:
            return self.user_name
        return str(self.user_id) if self.user_id is not None else "?"


def _decoded(value: str) -> object:
    """The value /set stored (JSON); a value edited by hand that is not JSON as its text, which
    the metric's settings then refuse, for that metric alone, saying what the file holds."""
    try:
        return json.loads(value)
    except ValueError:
        return value


class Overrides:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, metric: str, param: str, value: object, user_id: int | None,
            now: datetime, *, user_name: str | None = None) -> None:  # fmt: skip
        self.db.write("INSERT OR REPLACE INTO overrides (metric, param, value, user_id, set_at, "
                      "user_name) VALUES (?, ?, ?, ?, ?, ?)",
                      (metric, param, json.dumps(value), user_id, ts(now),
                       user_name[:200] if user_name else None))  # fmt: skip

    def name_setter(self, metric: str, param: str, user_name: str) -> None:
        """Record the name of who set `param` (the override exists: /set wrote it)."""
        self.db.write("UPDATE overrides SET user_name=? WHERE metric=? AND param=?",
                      (user_name[:200], metric, param))  # fmt: skip

    def of(self, metric: str) -> dict[str, Override]:
        rows = self.db.rows(
            "SELECT param, value, user_id, set_at, user_name FROM overrides WHERE metric=? "
            "ORDER BY param",
            (metric,),
        )
        return {
            str(param): Override(
                _decoded(str(value)), None if user is None else int(user), at(int(when)),
                None if name is None else str(name),
            )
            for param, value, user, when, name in rows
        }

    def remove(self, metric: str, param: str) -> None:
        self.db.write("DELETE FROM overrides WHERE metric=? AND param=?", (metric, param))

    def reset(self, metric: str) -> int:
        return self.db.change("DELETE FROM overrides WHERE metric=?", (metric,))
