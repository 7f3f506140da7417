"""The state file: one SQLite connection, its schema (versioned with PRAGMA user_version),
transactions, and the lock that keeps one process per file. Times are UTC unix seconds.

Errors:

    StoreError              the state file cannot be used (corrupt, newer, unwritable)
    +-- StateLocked         another process holds the file
    +-- StateLost           the file was deleted, emptied or replaced while in use
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["MIGRATIONS", "Database", "StateLocked", "StateLost", "StoreError", "at", "maybe_at",
           "ts"]  # fmt: skip

# Each entry moves the schema from version i to i + 1; never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE history_meta (
        source_key TEXT NOT NULL,
        query TEXT NOT NULL,          -- table name + hash of its SQL: new SQL, new cache
        held_from INTEGER NOT NULL,   -- unix seconds, inclusive
        held_until INTEGER NOT NULL,  -- unix seconds, exclusive: every bucket before is complete
        PRIMARY KEY (source_key, query)
    );
    CREATE TABLE history_rows (
        source_key TEXT NOT NULL,
        query TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        dim TEXT NOT NULL,
        dim_value TEXT NOT NULL,
        vals TEXT NOT NULL,           -- JSON list, in the order of the table's columns
        PRIMARY KEY (source_key, query, bucket, dim, dim_value)
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE subscriptions (
        chat_id INTEGER NOT NULL,
        metric TEXT NOT NULL,          -- a metric name, or '*' for all of them
        created_at INTEGER NOT NULL,
        PRIMARY KEY (chat_id, metric)
    );
    CREATE TABLE overrides (
        metric TEXT NOT NULL,
        param TEXT NOT NULL,
        value TEXT NOT NULL,           -- JSON
        user_id INTEGER,
        set_at INTEGER NOT NULL,
        PRIMARY KEY (metric, param)
    );
    CREATE TABLE mutes (
        metric TEXT NOT NULL PRIMARY KEY,   -- a metric name, or '*'
        until INTEGER NOT NULL,
        user_id INTEGER,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,
        slice TEXT NOT NULL,           -- '' for the total, else dim=value
        bucket INTEGER NOT NULL,
        value REAL, expected REAL, lower REAL, upper REAL, score REAL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX alerts_by_series ON alerts (metric, slice, created_at);
    CREATE TABLE deliveries (
        alert_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        message_id INTEGER,
        sent_at INTEGER NOT NULL,
        error TEXT
    );
    CREATE TABLE check_runs (
        id INTEGER PRIMARY KEY,
        started INTEGER NOT NULL,
        finished INTEGER NOT NULL,
        series INTEGER NOT NULL,
        anomalies INTEGER NOT NULL,
        errors TEXT NOT NULL          -- JSON: table -> message
    );
    """,
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        last_notified_at INTEGER NOT NULL,
        resolved_at INTEGER,           -- NULL while open
        ok_streak INTEGER NOT NULL,
        acknowledged_by TEXT,
        false_alarm_by TEXT,
        peak_score REAL NOT NULL
    );
    CREATE INDEX incidents_open ON incidents (metric, resolved_at);
    CREATE TABLE incident_messages (
        incident_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        is_photo INTEGER NOT NULL,
        text TEXT NOT NULL             -- as first sent: edits put the state in front of it
    );
    CREATE TABLE flags (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        png BLOB,                      -- a photo with `text` as caption, or NULL for text
        markup TEXT,                   -- JSON of the inline keyboard
        incident_id INTEGER,           -- the message then shows that incident (edits)
        status TEXT NOT NULL,          -- pending | sending | sent | dead
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        message_id INTEGER,
        error TEXT,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX outbox_due ON outbox (status, next_at);
    """,
    """
    ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'telegram';
    ALTER TABLE incidents ADD COLUMN alert_id INTEGER;   -- the alert that opened it
    ALTER TABLE outbox ADD COLUMN meta TEXT;   -- JSON: what the message is about, for channels
                                               -- that take structure (webhook)
    """,
)


class StoreError(Exception):
    """The state file cannot be used; str() says what to do."""


class StateLocked(StoreError):
    """Another process uses this state file."""


class StateLost(StoreError):
    """The state file was deleted, emptied or replaced while the bot was using it."""


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def maybe_at(stamp: int | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(int(stamp), tz=UTC)


def at(stamp: int) -> datetime:
    return datetime.fromtimestamp(int(stamp), tz=UTC)


class Database:
    """The one connection to the state file. Thread-safe: calls are serialised by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()  # re-entrant: transaction() wraps other calls
        try:
            if self.path.parent != Path():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use the state file {self.path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot create the state file {self.path}: {exc}") from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the state file {self.path} has schema version {version}, newer than this "
                f"alertbot knows ({len(MIGRATIONS)}); upgrade alertbot or use another STATE_PATH"
            )
        for number in range(version, len(MIGRATIONS)):
            # One transaction per step: the schema and its version change together or not at all.
            step = MIGRATIONS[number]
            self._db.executescript(
                f"BEGIN IMMEDIATE; {step}; PRAGMA user_version = {number + 1}; COMMIT;"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def write(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """Runs one statement; returns the new row's id (inserts)."""
        with self._lock:
            return int(self._db.execute(sql, args).lastrowid or 0)

    def change(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """Runs one statement; returns how many rows it changed."""
        with self._lock:
            return int(self._db.execute(sql, args).rowcount)

    def write_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        with self._lock:
            self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land together or not at all (a crash mid-check leaves no half)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
