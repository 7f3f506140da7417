"""Every message goes through the outbox before a channel: written in the same transaction as
the incident change that causes it, sent by the drainer, resumed after a restart."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.state.db import Database, ts

__all__ = ["Dropped", "Outbox", "OutboxStatus", "Outgoing"]


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # due at next_at
    SENDING = "sending"  # handed to the channel; a crash leaves it here
    SENT = "sent"
    DEAD = "dead"  # given up: rejected, or the chat is gone


@dataclass(frozen=True)
class Outgoing:
    id: int
    chat_id: int
    text: str
    png: bytes | None
    markup: str | None  # JSON of the buttons
    incident_id: int | None
    attempts: int
    channel: str = "telegram"
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class Dropped:
    """Messages to one chat given up on (DEAD) since some time, and the last reason why."""

    chat_id: int
    channel: str
    count: int
    reason: str


_COLUMNS = "id, chat_id, text, png, markup, incident_id, attempts, channel, meta"


def _outgoing(row: tuple[Any, ...]) -> Outgoing:
    iid, chat, text, png, markup, incident, attempts, channel, meta = row
    return Outgoing(
        int(iid),
        int(chat),
        str(text),
        png,
        markup,
        incident,
        int(attempts),
        str(channel),
        None if meta is None else json.loads(str(meta)),
    )


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(
        self,
        chat_id: int,
        text: str,
        *,
        png: bytes | None = None,
        markup: str | None = None,
        incident_id: int | None = None,
        channel: str = "telegram",
        meta: dict[str, Any] | None = None,
        now: datetime,
    ) -> int:
        return self.db.write(
            "INSERT INTO outbox (chat_id, text, png, markup, incident_id, status, next_at, "
            "created_at, channel, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chat_id,
                text,
                png,
                markup,
                incident_id,
                OutboxStatus.PENDING,
                ts(now),
                ts(now),
                channel,
                None if meta is None else json.dumps(meta),
            ),
        )

    def get(self, item_id: int) -> Outgoing | None:
        rows = self.db.rows(f"SELECT {_COLUMNS} FROM outbox WHERE id=?", (item_id,))
        return _outgoing(rows[0]) if rows else None

    def status(self, item_id: int) -> OutboxStatus | None:
        rows = self.db.rows("SELECT status FROM outbox WHERE id=?", (item_id,))
        return OutboxStatus(rows[0][0]) if rows else None

    def due(self, now: datetime, limit: int = 20) -> list[Outgoing]:
        rows = self.db.rows(
            f"SELECT {_COLUMNS} FROM outbox WHERE status=? AND next_at <= ? ORDER BY id LIMIT ?",
            (OutboxStatus.PENDING, ts(now), limit),
        )
        return [_outgoing(r) for r in rows]

    def in_flight(self) -> list[Outgoing]:
        """Messages a crash caught mid-send."""
        rows = self.db.rows(
            f"SELECT {_COLUMNS} FROM outbox WHERE status=? ORDER BY id", (OutboxStatus.SENDING,)
        )
        return [_outgoing(r) for r in rows]

    def resume(self) -> int:
        """After a crash: messages caught mid-send are due again. Returns how many."""
        return self.db.change(
            "UPDATE outbox SET status=? WHERE status=?",
            (OutboxStatus.PENDING, OutboxStatus.SENDING),
        )

    def mark(
        self,
        item_id: int,
        status: OutboxStatus,
        *,
        now: datetime,
        message_id: int | None = None,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        self.db.write(
            "UPDATE outbox SET status=?, message_id=coalesce(?, message_id), error=?, "
            "attempts=attempts + ?, next_at=? WHERE id=?",
            (
                status,
                message_id,
                error,
                int(status is OutboxStatus.PENDING),
                ts(retry_at or now),
                item_id,
            ),
        )

    def claim(self, item_id: int) -> bool:
        """pending -> sending, atomically; False if it is no longer pending (dropped, sent)."""
        return (
            self.db.change(
                "UPDATE outbox SET status=? WHERE id=? AND status=?",
                (OutboxStatus.SENDING, item_id, OutboxStatus.PENDING),
            )
            == 1
        )

    def move_chat(self, old: int, new: int, channel: str = "telegram", *,
                  now: datetime) -> int:  # fmt: skip
        """What waits for (or is being sent to) a group that became a supergroup goes to its
        new id, due now."""
        return self.db.change(
            "UPDATE outbox SET chat_id=?, status=?, next_at=? WHERE chat_id=? AND channel=? AND "
            "status IN (?, ?)", (new, OutboxStatus.PENDING, ts(now), old, channel,
                                 OutboxStatus.PENDING, OutboxStatus.SENDING),
        )  # fmt: skip

    def drop_chat(self, chat_id: int, reason: str, channel: str = "telegram", *,
                  now: datetime) -> int:  # fmt: skip
        """Nothing more goes to a chat that is gone (next_at: when it was dropped)."""
        return self.db.change(
            "UPDATE outbox SET status=?, error=?, next_at=? WHERE chat_id=? AND channel=? AND "
            "status=?", (OutboxStatus.DEAD, reason, ts(now), chat_id, channel,
                         OutboxStatus.PENDING),
        )  # fmt: skip

    def dropped(self, since: datetime) -> list[Dropped]:
        """The messages given up on since `since`, by chat, most first (a DEAD row's next_at
        is when it was given up)."""
        rows = self.db.rows(
            "SELECT chat_id, channel, count(), max(error) FROM outbox WHERE status=? AND "
            "next_at >= ? GROUP BY chat_id, channel ORDER BY count() DESC, chat_id",
            (OutboxStatus.DEAD, ts(since)),
        )  # fmt: skip
        return [Dropped(int(c), str(ch), int(n), str(r or "")) for c, ch, n, r in rows]

    def pending(self) -> int:
        rows = self.db.rows(
            "SELECT count() FROM outbox WHERE status IN (?, ?)",
            (OutboxStatus.PENDING, OutboxStatus.SENDING),
        )
        return int(rows[0][0])

    def waiting(self, incident_ids: list[int]) -> set[int]:
        """Of these incidents, those with an alert still to be sent: its own message, or a
        digest listing it (its meta names them), pending or in a channel's hands."""
        wanted = set(incident_ids)
        rows = self.db.rows("SELECT incident_id, meta FROM outbox WHERE status IN (?, ?)",
                            (OutboxStatus.PENDING, OutboxStatus.SENDING))  # fmt: skip
        found: set[int] = set()
        for incident, meta in rows:
            listed = json.loads(meta).get("incident_ids", []) if meta else []
            found |= wanted & {*listed, *([] if incident is None else [int(incident)])}
        return found
