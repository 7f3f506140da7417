"""Digests: one message listing several incidents, under an id of its own that its buttons
carry (callback data cannot list many ids), and the messages that show it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from bot.state.db import Database, ts
from bot.state.incidents import ShownIn

__all__ = ["Digests"]


class Digests:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, incident_ids: Sequence[int], now: datetime) -> int:
        """A new digest of `incident_ids`, in the order it lists them; returns its id."""
        return self.db.write("INSERT INTO digests (incidents, created_at) VALUES (?, ?)",
                             (json.dumps([int(i) for i in incident_ids]), ts(now)))  # fmt: skip

    def incidents(self, digest_id: int) -> list[int] | None:
        """The digest's incident ids, most severe first; None for a digest not known."""
        rows = self.db.rows("SELECT incidents FROM digests WHERE id=?", (digest_id,))
        return [int(i) for i in json.loads(str(rows[0][0]))] if rows else None

    def listing(self, incident_id: int, since: datetime) -> list[int]:
        """The digests created from `since` on that list `incident_id`, oldest first."""
        rows = self.db.rows("SELECT id, incidents FROM digests WHERE created_at >= ? ORDER BY id",
                            (ts(since),))  # fmt: skip
        return [int(d) for d, listed in rows if int(incident_id) in json.loads(str(listed))]

    def add_message(self, digest_id: int, shown: ShownIn) -> None:
        self.db.write("INSERT INTO digest_messages (digest_id, chat_id, message_id, is_photo, "
                      "text, lang) VALUES (?, ?, ?, ?, ?, ?)",
                      (digest_id, shown.chat_id, shown.message_id, int(shown.is_photo),
                       shown.text, shown.lang))  # fmt: skip

    def messages(self, digest_id: int) -> list[ShownIn]:
        rows = self.db.rows("SELECT chat_id, message_id, is_photo, text, lang FROM "
                            "digest_messages WHERE digest_id=?", (digest_id,))  # fmt: skip
        return [ShownIn(int(c), int(m), bool(p), str(t), None if lang is None else str(lang))
                for c, m, p, t, lang in rows]  # fmt: skip
