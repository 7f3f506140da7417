"""All persistent state in one SQLite file: schema versioned with PRAGMA user_version, times UTC.

Holds the aggregated history cache (so a check fetches only new buckets), and, as the bot grows,
subscriptions, overrides, mutes, incidents and the outbox.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Store", "StoreError"]

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
)


class StoreError(Exception):
    """The state file cannot be opened or is from a newer version."""


def epoch_seconds(times: pd.Series) -> list[int]:
    """Unix seconds of tz-aware timestamps, whatever the index's time unit (s, us, ns)."""
    return ((times - pd.Timestamp(0, tz=UTC)) // pd.Timedelta(seconds=1)).astype(int).tolist()


def query_key(table: str, sql: str, columns: tuple[str, ...]) -> str:
    digest = hashlib.sha256((sql + "\0" + ",".join(columns)).encode()).hexdigest()[:16]
    return f"{table}:{digest}"


class Store:
    """The only writer of the state file. Thread-safe: calls are serialised by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
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

    # -- aggregated history -------------------------------------------------------------

    def load_history(
        self, source_key: str, query: str, columns: tuple[str, ...]
    ) -> tuple[pd.DataFrame, datetime, datetime] | None:
        """The held rows and the range they cover, or None when nothing is held."""
        with self._lock:
            meta = self._db.execute(
                "SELECT held_from, held_until FROM history_meta WHERE source_key=? AND query=?",
                (source_key, query),
            ).fetchone()
            if meta is None:
                return None
            rows = self._db.execute(
                "SELECT bucket, dim, dim_value, vals FROM history_rows "
                "WHERE source_key=? AND query=? ORDER BY bucket, dim, dim_value",
                (source_key, query),
            ).fetchall()
        values = np.array([json.loads(r[3]) for r in rows], dtype="float64").reshape(
            len(rows), len(columns)
        )
        frame = pd.DataFrame(values, columns=list(columns))
        frame.insert(0, "dim_value", [r[2] for r in rows])
        frame.insert(0, "dim", [r[1] for r in rows])
        frame.insert(0, "bucket", pd.to_datetime([r[0] for r in rows], unit="s", utc=True))
        held_from = datetime.fromtimestamp(meta[0], tz=UTC)
        held_until = datetime.fromtimestamp(meta[1], tz=UTC)
        return frame, held_from, held_until

    def save_history(
        self,
        source_key: str,
        query: str,
        fresh: pd.DataFrame,
        columns: tuple[str, ...],
        *,
        held_from: datetime,
        replace_from: datetime,
        held_until: datetime,
    ) -> None:
        """Replace rows in [replace_from, held_until) by `fresh`; drop those before held_from."""
        stamps = epoch_seconds(fresh["bucket"]) if len(fresh) else []
        vals = fresh.loc[:, list(columns)].to_numpy(dtype="float64").tolist() if len(fresh) else []
        rows = [
            (source_key, query, int(b), str(d), str(v), json.dumps(x))
            for b, d, v, x in zip(
                stamps, fresh.get("dim", []), fresh.get("dim_value", []), vals, strict=True
            )
        ]
        lo, start, hi = (int(t.timestamp()) for t in (held_from, replace_from, held_until))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "DELETE FROM history_rows WHERE source_key=? AND query=? "
                    "AND (bucket < ? OR bucket >= ?)",
                    (source_key, query, lo, start),
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO history_rows VALUES (?, ?, ?, ?, ?, ?)", rows
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO history_meta VALUES (?, ?, ?, ?)",
                    (source_key, query, lo, hi),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
