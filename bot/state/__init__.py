"""All persistent state in one SQLite file, one repository per concept over one connection:
history cache, subscriptions, mutes, accepted levels, overrides, incidents, the outbox and the
journal."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.state.baselines import Baseline, Baselines
from bot.state.chats import ALL, Languages, Mute, Mutes, Subscriptions
from bot.state.db import Database, StateCorrupt, StateLocked, StateLost, StoreError
from bot.state.digests import Digests
from bot.state.history import HistoryCache, query_key
from bot.state.incidents import Feedback, Incidents, ShownIn
from bot.state.journal import AlertRecord, CheckRun, Journal
from bot.state.outbox import Outbox, OutboxStatus, Outgoing
from bot.state.overrides import Override, Overrides

__all__ = [
    "ALL", "AlertRecord", "Baseline", "Baselines", "CheckRun", "Database", "Digests", "Feedback",
    "HistoryCache", "Incidents",
    "Journal", "Languages", "Mute", "Mutes", "Outbox", "OutboxStatus", "Outgoing", "Override",
    "Overrides", "ShownIn", "State", "StateCorrupt", "StateLocked", "StateLost", "StoreError",
    "Subscriptions",
    "query_key",
]  # fmt: skip


class State:
    """The state file's repositories over its one connection. `exclusive=True` (the running
    bot) holds the file's process lock until close(): see Database."""

    def __init__(self, path: str | Path, *, exclusive: bool = False) -> None:
        self.db = Database(path, exclusive=exclusive)
        self.history = HistoryCache(self.db)
        self.subscriptions = Subscriptions(self.db)
        self.mutes = Mutes(self.db)
        self.baselines = Baselines(self.db)
        self.languages = Languages(self.db)
        self.overrides = Overrides(self.db)
        self.incidents = Incidents(self.db)
        self.digests = Digests(self.db)
        self.journal = Journal(self.db)
        self.outbox = Outbox(self.db)
        self.transaction = self.db.transaction

    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def problem(self) -> str | None:
        """Why the state file can no longer be trusted (lost or damaged), for /status; None
        while it is fine. Set by `db.verify()` and by damage met on any call."""
        return None if self.db.problem is None else str(self.db.problem)

    def move_chat(self, old: int, new: int) -> int:
        """A group Telegram upgraded to a supergroup (a new id): its subscriptions and language
        go to the new id, and the old id is remembered as moved, so that a configured id
        (ALERT_CHAT_IDS) reaches the new one until the configuration says it. Returns how many
        subscriptions moved. Call inside a transaction."""
        moved = self.subscriptions.move(old, new)
        self.languages.move(old, new)
        self.journal.set_flag(f"moved:{old}", str(new))
        return moved

    def chat_now(self, chat: int) -> int:
        """The id a chat has now: `chat`, or where it moved (and moved on from there)."""
        seen = {chat}
        while (to := self.journal.flag(f"moved:{chat}")) is not None and int(to) not in seen:
            chat = int(to)
            seen.add(chat)
        return chat

    def alert_chats(self, configured: Iterable[int]) -> list[int]:
        """ALERT_CHAT_IDS as the chats are now, once each: a configured group that became a
        supergroup is its new id, in all it does, until the configuration names it."""
        return list(dict.fromkeys(self.chat_now(chat) for chat in configured))

    def close(self) -> None:
        self.db.close()
