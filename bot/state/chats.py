"""Who hears what: subscriptions per chat, and mutes (silences as data, with an end time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.state.db import Database, at, maybe_at, ts

__all__ = ["ALL", "Languages", "Mute", "Mutes", "Subscriptions"]

ALL = "*"  # a subscription or mute that covers every metric


class Subscriptions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, chat_id: int, metric: str, now: datetime) -> None:
        self.db.write("INSERT OR IGNORE INTO subscriptions VALUES (?, ?, ?)",
                      (chat_id, metric, ts(now)))  # fmt: skip

    def remove(self, chat_id: int, metric: str) -> int:
        """Removes one subscription, or all of the chat's for ALL. Returns how many."""
        if metric == ALL:
            return self.db.change("DELETE FROM subscriptions WHERE chat_id=?", (chat_id,))
        return self.db.change("DELETE FROM subscriptions WHERE chat_id=? AND metric=?",
                              (chat_id, metric))  # fmt: skip

    def of_chat(self, chat_id: int) -> list[str]:
        rows = self.db.rows("SELECT metric FROM subscriptions WHERE chat_id=? ORDER BY metric",
                            (chat_id,))  # fmt: skip
        return [str(r[0]) for r in rows]

    def move(self, old: int, new: int) -> int:
        """A group's subscriptions carried over to the supergroup it became (Telegram gives
        it a new id); the new id keeps what it has too. Returns how many moved."""
        self.db.write("INSERT OR IGNORE INTO subscriptions SELECT ?, metric, created_at FROM "
                      "subscriptions WHERE chat_id=?", (new, old))  # fmt: skip
        return self.db.change("DELETE FROM subscriptions WHERE chat_id=?", (old,))

    def chats_for(self, metric: str) -> list[int]:
        rows = self.db.rows("SELECT DISTINCT chat_id FROM subscriptions WHERE metric=? OR "
                            "metric=? ORDER BY chat_id", (metric, ALL))  # fmt: skip
        return [int(r[0]) for r in rows]


@dataclass(frozen=True)
class Mute:
    metric: str  # a metric name, or ALL
    until: datetime
    user_id: int | None


class Mutes:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, metric: str, until: datetime, user_id: int | None, now: datetime) -> None:
        self.db.write("INSERT OR REPLACE INTO mutes VALUES (?, ?, ?, ?)",
                      (metric, ts(until), user_id, ts(now)))  # fmt: skip

    def remove(self, metric: str) -> int:
        """Removes one metric's mute, or every mute (all and each metric's) for ALL: "all"
        on again means everything is. Returns how many."""
        if metric == ALL:
            return self.db.change("DELETE FROM mutes", ())
        return self.db.change("DELETE FROM mutes WHERE metric=?", (metric,))

    def until(self, metric: str, now: datetime) -> datetime | None:
        """When the mute on this metric (or on all) ends, if one is in force at `now`."""
        rows = self.db.rows(
            "SELECT max(until) FROM mutes WHERE (metric=? OR metric=?) AND until > ?",
            (metric, ALL, ts(now)),
        )
        return maybe_at(rows[0][0]) if rows else None

    def active(self, now: datetime) -> list[Mute]:
        rows = self.db.rows("SELECT metric, until, user_id FROM mutes WHERE until > ? "
                            "ORDER BY metric", (ts(now),))  # fmt: skip
        return [Mute(str(m), at(u), None if w is None else int(w)) for m, u, w in rows]


class Languages:
    """Each chat's chosen language; a chat without a row speaks the default (LANGUAGE)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, chat_id: int, lang: str, user_id: int | None, now: datetime) -> None:
        self.db.write("INSERT OR REPLACE INTO chat_languages VALUES (?, ?, ?, ?)",
                      (chat_id, lang, user_id, ts(now)))  # fmt: skip

    def move(self, old: int, new: int) -> None:
        """A group's language carried over to the supergroup it became, unless that one
        chose its own."""
        self.db.write("INSERT OR IGNORE INTO chat_languages SELECT ?, lang, user_id, set_at FROM "
                      "chat_languages WHERE chat_id=?", (new, old))  # fmt: skip
        self.db.change("DELETE FROM chat_languages WHERE chat_id=?", (old,))

    def of_chat(self, chat_id: int) -> str | None:
        rows = self.db.rows("SELECT lang FROM chat_languages WHERE chat_id=?", (chat_id,))
        return str(rows[0][0]) if rows else None

    def chosen(self) -> dict[int, str]:
        """Every chat that chose a language, with its choice."""
        return {int(c): str(lang) for c, lang in
                self.db.rows("SELECT chat_id, lang FROM chat_languages")}  # fmt: skip
