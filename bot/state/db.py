"""All persistent state in one SQLite file: schema versioned with PRAGMA user_version, times UTC.

Holds the aggregated history cache (so a check fetches only new buckets), and, as the bot grows,
subscriptions, overrides, mutes, incidents and the outbox.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bot.incidents import Incident

__all__ = ["IncidentState", "Outbox", "Outgoing", "State", "Store", "StoreError"]

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


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _dt(stamp: int | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, tz=UTC)


def _at(stamp: int) -> datetime:
    return datetime.fromtimestamp(int(stamp), tz=UTC)


class State(Store):
    """Subscriptions, overrides, mutes, alerts and check runs (schema version 2)."""

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, args: tuple[object, ...] = ()) -> int:
        with self._lock:
            cursor = self._db.execute(sql, args)
            return int(cursor.lastrowid or 0)

    # -- subscriptions --------------------------------------------------------------------
    def subscribe(self, chat_id: int, metric: str, now: datetime) -> None:
        self._write("INSERT OR IGNORE INTO subscriptions VALUES (?, ?, ?)",
                    (chat_id, metric, _ts(now)))  # fmt: skip

    def unsubscribe(self, chat_id: int, metric: str) -> int:
        """Removes one subscription, or all of the chat's for '*'. Returns how many."""
        with self._lock:
            if metric == "*":
                cursor = self._db.execute("DELETE FROM subscriptions WHERE chat_id=?", (chat_id,))
            else:
                cursor = self._db.execute(
                    "DELETE FROM subscriptions WHERE chat_id=? AND metric=?", (chat_id, metric)
                )
            return cursor.rowcount

    def subscriptions(self, chat_id: int) -> list[str]:
        rows = self._rows("SELECT metric FROM subscriptions WHERE chat_id=? ORDER BY metric",
                          (chat_id,))  # fmt: skip
        return [str(r[0]) for r in rows]

    def subscribers(self, metric: str) -> list[int]:
        rows = self._rows(
            "SELECT DISTINCT chat_id FROM subscriptions WHERE metric=? OR metric='*'", (metric,)
        )
        return [int(r[0]) for r in rows]

    # -- threshold overrides ---------------------------------------------------------------
    def set_override(
        self, metric: str, param: str, value: object, user_id: int | None, now: datetime
    ) -> None:
        self._write("INSERT OR REPLACE INTO overrides VALUES (?, ?, ?, ?, ?)",
                    (metric, param, json.dumps(value), user_id, _ts(now)))  # fmt: skip

    def overrides(self, metric: str) -> dict[str, tuple[object, int | None, datetime]]:
        """param -> (value, who, when)."""
        rows = self._rows(
            "SELECT param, value, user_id, set_at FROM overrides WHERE metric=?", (metric,)
        )
        out = {}
        for param, value, user, at in rows:
            when = _dt(int(at))
            assert when is not None
            out[str(param)] = (json.loads(str(value)), None if user is None else int(user), when)
        return out

    def reset(self, metric: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM overrides WHERE metric=?", (metric,)).rowcount

    # -- mutes ---------------------------------------------------------------------------
    def mute(self, metric: str, until: datetime, user_id: int | None, now: datetime) -> None:
        self._write("INSERT OR REPLACE INTO mutes VALUES (?, ?, ?, ?)",
                    (metric, _ts(until), user_id, _ts(now)))  # fmt: skip

    def unmute(self, metric: str) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM mutes WHERE metric=?", (metric,)).rowcount

    def muted_until(self, metric: str, now: datetime) -> datetime | None:
        """When the mute on this metric (or on all) ends, if one is in force at `now`."""
        rows = self._rows(
            "SELECT max(until) FROM mutes WHERE (metric=? OR metric='*') AND until > ?",
            (metric, _ts(now)),
        )
        return _dt(rows[0][0]) if rows and rows[0][0] is not None else None

    def mutes(self, now: datetime) -> dict[str, datetime]:
        rows = self._rows("SELECT metric, until FROM mutes WHERE until > ?", (_ts(now),))
        return {str(m): _at(u) for m, u in rows}

    # -- alerts, deliveries, check runs ----------------------------------------------------
    def record_alert(
        self,
        metric: str,
        slice_label: str,
        bucket: datetime,
        *,
        numbers: tuple[float | None, ...],
        reason: str,
        now: datetime,
    ) -> int:
        return self._write(
            "INSERT INTO alerts (metric, slice, bucket, value, expected, lower, upper, score, "
            "reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (metric, slice_label, _ts(bucket), *numbers, reason, _ts(now)),
        )

    def recent_alerts(self, limit: int) -> list[dict[str, object]]:
        rows = self._rows(
            "SELECT metric, slice, bucket, value, expected, lower, upper, reason, created_at "
            "FROM alerts ORDER BY created_at DESC, id DESC LIMIT ?", (limit,),
        )  # fmt: skip
        keys = ("metric", "slice", "bucket", "value", "expected", "lower", "upper", "reason",
                "created_at")  # fmt: skip
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def record_delivery(self, alert_id: int, chat_id: int, message_id: int | None,
                        now: datetime, error: str | None = None) -> None:  # fmt: skip
        self._write("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                    (alert_id, chat_id, message_id, _ts(now), error))  # fmt: skip

    def delivery_errors(self, since: datetime) -> int:
        rows = self._rows("SELECT count() FROM deliveries WHERE error IS NOT NULL AND sent_at >= ?",
                          (_ts(since),))  # fmt: skip
        return int(rows[0][0])

    def record_check(self, started: datetime, finished: datetime, series: int, anomalies: int,
                     errors: dict[str, str]) -> None:  # fmt: skip
        self._write(
            "INSERT INTO check_runs (started, finished, series, anomalies, errors) "
            "VALUES (?, ?, ?, ?, ?)",
            (_ts(started), _ts(finished), series, anomalies, json.dumps(errors)),
        )

    def last_check(self) -> dict[str, object] | None:
        rows = self._rows("SELECT started, finished, series, anomalies, errors FROM check_runs "
                          "ORDER BY id DESC LIMIT 1")  # fmt: skip
        if not rows:
            return None
        started, finished, series, anomalies, errors = rows[0]
        return {"started": _dt(started), "finished": _dt(finished), "series": series,
                "anomalies": anomalies, "errors": json.loads(str(errors))}  # fmt: skip


class IncidentState(State):
    """Incidents, the messages that show them, and flags (schema version 3)."""

    def open_incident(self, metric: str) -> Incident | None:
        rows = self._rows(
            "SELECT id, metric, opened_at, last_notified_at, resolved_at, ok_streak, "
            "acknowledged_by, peak_score FROM incidents WHERE metric=? AND resolved_at IS NULL "
            "ORDER BY id DESC LIMIT 1", (metric,),
        )  # fmt: skip
        return _incident(rows[0]) if rows else None

    def incident(self, incident_id: int) -> Incident | None:
        rows = self._rows(
            "SELECT id, metric, opened_at, last_notified_at, resolved_at, ok_streak, "
            "acknowledged_by, peak_score FROM incidents WHERE id=?", (incident_id,),
        )  # fmt: skip
        return _incident(rows[0]) if rows else None

    def save_incident(self, incident: Incident) -> Incident:
        values = (
            incident.metric, _ts(incident.opened_at), _ts(incident.last_notified_at),
            None if incident.resolved_at is None else _ts(incident.resolved_at),
            incident.ok_streak, incident.acknowledged_by, incident.peak_score,
        )  # fmt: skip
        if incident.id is None:
            new_id = self._write(
                "INSERT INTO incidents (metric, opened_at, last_notified_at, resolved_at, "
                "ok_streak, acknowledged_by, peak_score) VALUES (?, ?, ?, ?, ?, ?, ?)", values,
            )  # fmt: skip
            return replace(incident, id=new_id)
        self._write(
            "UPDATE incidents SET metric=?, opened_at=?, last_notified_at=?, resolved_at=?, "
            "ok_streak=?, acknowledged_by=?, peak_score=? WHERE id=?", (*values, incident.id),
        )  # fmt: skip
        return incident

    def mark_false_alarm(self, incident_id: int, who: str) -> None:
        self._write("UPDATE incidents SET false_alarm_by=?, acknowledged_by=coalesce("
                    "acknowledged_by, ?) WHERE id=?", (who, who, incident_id))  # fmt: skip

    def false_alarms(self) -> list[tuple[str, datetime, datetime | None, str]]:
        """(metric, opened, resolved, who) of every incident marked a false alarm."""
        rows = self._rows("SELECT metric, opened_at, resolved_at, false_alarm_by FROM incidents "
                          "WHERE false_alarm_by IS NOT NULL ORDER BY id")  # fmt: skip
        return [(str(m), _at(o), _dt(r), str(w)) for m, o, r, w in rows]

    def feedback(self) -> list[tuple[int, str, datetime, datetime | None, bool]]:
        """(id, metric, opened, resolved, false alarm?) of every incident someone in the chat
        acknowledged (a real incident) or marked a false alarm: labels for backtest and tune."""
        rows = self._rows("SELECT id, metric, opened_at, resolved_at, false_alarm_by FROM "
                          "incidents WHERE acknowledged_by IS NOT NULL OR false_alarm_by IS NOT "
                          "NULL ORDER BY id")  # fmt: skip
        return [(int(i), str(m), _at(o), _dt(r), f is not None) for i, m, o, r, f in rows]

    def add_message(self, incident_id: int, chat_id: int, message_id: int, *, is_photo: bool,
                    text: str) -> None:  # fmt: skip
        self._write("INSERT INTO incident_messages VALUES (?, ?, ?, ?, ?)",
                    (incident_id, chat_id, message_id, int(is_photo), text))  # fmt: skip

    def messages(self, incident_id: int) -> list[tuple[int, int, bool, str]]:
        rows = self._rows("SELECT chat_id, message_id, is_photo, text FROM incident_messages "
                          "WHERE incident_id=?", (incident_id,))  # fmt: skip
        return [(int(c), int(m), bool(p), str(t)) for c, m, p, t in rows]

    def flag(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM flags WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_flag(self, key: str, value: str | None) -> None:
        if value is None:
            self._write("DELETE FROM flags WHERE key=?", (key,))
        else:
            self._write("INSERT OR REPLACE INTO flags VALUES (?, ?)", (key, value))


def _incident(row: tuple[Any, ...]) -> Incident:
    iid, metric, opened, notified, resolved, streak, ack, peak = row
    opened_at, notified_at = _dt(opened), _dt(notified)
    assert opened_at is not None and notified_at is not None
    return Incident(
        metric=str(metric), opened_at=opened_at, last_notified_at=notified_at,
        resolved_at=_dt(resolved), ok_streak=int(streak), acknowledged_by=None if ack is None
        else str(ack), peak_score=float(peak), id=int(iid),
    )  # fmt: skip


@dataclass(frozen=True)
class Outgoing:
    id: int
    chat_id: int
    text: str
    png: bytes | None
    markup: str | None
    incident_id: int | None
    attempts: int


class Outbox(IncidentState):
    """Every message goes through here before Telegram (schema version 4): written in the same
    transaction as the incident change that causes it, sent by a drainer, resumed on restart."""

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

    def enqueue(self, chat_id: int, text: str, *, png: bytes | None = None,
                markup: str | None = None, incident_id: int | None = None,
                now: datetime) -> int:  # fmt: skip
        return self._write(
            "INSERT INTO outbox (chat_id, text, png, markup, incident_id, status, next_at, "
            "created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            (chat_id, text, png, markup, incident_id, _ts(now), _ts(now)),
        )

    def due(self, now: datetime, limit: int = 20) -> list[Outgoing]:
        rows = self._rows(
            "SELECT id, chat_id, text, png, markup, incident_id, attempts FROM outbox "
            "WHERE status='pending' AND next_at <= ? ORDER BY id LIMIT ?", (_ts(now), limit),
        )  # fmt: skip
        return [Outgoing(*r) for r in rows]

    def resume(self) -> int:
        """After a crash: messages caught mid-send go out again (a lost alert is worse than
        a repeated one in that instant). Returns how many."""
        with self._lock:
            return self._db.execute(
                "UPDATE outbox SET status='pending' WHERE status='sending'"
            ).rowcount

    def mark(self, item_id: int, status: str, *, now: datetime, message_id: int | None = None,
             error: str | None = None, retry_at: datetime | None = None) -> None:  # fmt: skip
        self._write(
            "UPDATE outbox SET status=?, message_id=coalesce(?, message_id), error=?, "
            "attempts=attempts + ?, next_at=? WHERE id=?",
            (status, message_id, error, int(status == "pending"),
             _ts(retry_at or now), item_id),
        )  # fmt: skip

    def claim(self, item_id: int) -> bool:
        """pending -> sending, atomically; False if it is no longer pending (dropped, sent)."""
        with self._lock:
            return (
                self._db.execute(
                    "UPDATE outbox SET status='sending' WHERE id=? AND status='pending'", (item_id,)
                ).rowcount
                == 1
            )

    def drop_chat(self, chat_id: int, reason: str) -> int:
        """Nothing more goes to a chat that blocked the bot."""
        with self._lock:
            return self._db.execute(
                "UPDATE outbox SET status='dead', error=? WHERE chat_id=? AND status='pending'",
                (reason, chat_id),
            ).rowcount

    def pending(self) -> int:
        rows = self._rows("SELECT count() FROM outbox WHERE status IN ('pending', 'sending')")
        return int(rows[0][0])
