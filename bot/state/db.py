"""The state file: one SQLite connection, its schema (versioned with PRAGMA user_version),
transactions, and the checks that it is still the file it was. Times are UTC unix seconds.

Errors (str() of each says what to do):

    StoreError              the state file cannot be used (unwritable, newer schema)
    +-- StateLocked         another alertbot process holds it (`exclusive` opens only)
    +-- StateCorrupt        not SQLite, or damaged pages: at open (PRAGMA quick_check) or later
    +-- StateLost           deleted, emptied or replaced while in use (`verify()`)

Once a Database met StateCorrupt or StateLost it keeps raising it from `verify()` and exposes
it as `problem`: a lost file is never silently recreated, and the bot stops checking.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.state.lock import ProcessLock
from bot.state.schema import MIGRATIONS

__all__ = ["MIGRATIONS", "Database", "StateCorrupt", "StateLocked", "StateLost", "StoreError",
           "at", "maybe_at", "ts"]  # fmt: skip


class StoreError(Exception):
    """The state file cannot be used; str() says what to do."""


class StateLocked(StoreError):
    """Another process uses this state file."""


class StateCorrupt(StoreError):
    """The state file is not SQLite, or some of its pages are damaged."""


class StateLost(StoreError):
    """The state file was deleted, emptied or replaced while the bot was using it."""


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def maybe_at(stamp: int | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(int(stamp), tz=UTC)


def at(stamp: int) -> datetime:
    return datetime.fromtimestamp(int(stamp), tz=UTC)


HEADER = 100  # bytes: an SQLite file shorter than its header holds nothing
INSTANCE = "state_instance"  # flags key: a random id written once, when the file is made
SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_READONLY_DBMOVED = 11, 26, 1032


def _recover(path: Path) -> str:
    return (
        f"move it aside (`mv {path} {path}.broken`) or restore it from a backup, and start "
        "alertbot again; with a new file, subscriptions, mutes and threshold overrides need "
        "setting again (the history cache refills itself)"
    )


def _lost(path: Path, what: str) -> StateLost:
    return StateLost(
        f"the state file {path} {what} while alertbot was using it: restore it from a backup "
        f"(or move whatever is there aside to start afresh) and restart alertbot"
    )


class Database:
    """The one connection to the state file. Thread-safe: calls are serialised by a lock.

    `exclusive=True` (the running bot) first takes the state file's process lock: a second
    exclusive opener gets StateLocked. Readers (check, backtest, tune) do not take it."""

    def __init__(self, path: str | Path, *, exclusive: bool = False) -> None:
        self.path = Path(path)
        self.problem: StoreError | None = None  # set once the file is lost or found damaged
        self._lock = threading.RLock()  # re-entrant: transaction() wraps other calls
        self._holder: ProcessLock | None = None
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a file: set STATE_PATH to a file, "
                             f"e.g. {self.path / 'alertbot.sqlite3'}")  # fmt: skip
        try:
            if self.path.parent != Path():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if exclusive:
                self._hold()
            self._db = self._connect()
            self._check_pages()
            self._refuse_foreign()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self.instance = self._instance()
            stat = os.stat(self.path)
            self._identity = (stat.st_dev, stat.st_ino)
        except StoreError:
            self._release()
            raise
        except sqlite3.DatabaseError as exc:
            self._release()
            if _code(exc) & 0xFF == SQLITE_NOTADB:  # maybe no file of ours: never "mv" it
                raise StateCorrupt(
                    f"{self.path} is not an SQLite database, so not alertbot's state file: "
                    "check STATE_PATH (a file that does not exist yet starts a new state); if "
                    "it was alertbot's, restore it from a backup or move it aside to start afresh"
                ) from None
            if _code(exc) & 0xFF == SQLITE_CORRUPT:
                raise StateCorrupt(
                    f"the state file {self.path} is damaged ({exc}): {_recover(self.path)}"
                ) from None
            raise StoreError(f"cannot use the state file {self.path}: {exc}") from None
        except OSError as exc:
            self._release()
            # mkdir's "File exists" of a folder on the way that is a file: say which it is.
            file = next((p for p in self.path.parents if p.is_file()), None)
            said = f"{file} is a file, not a folder" if file is not None else exc
            raise StoreError(f"cannot open the state file {self.path}: {said}; set STATE_PATH "
                             "to a file in a folder this user can write to") from None

    def _hold(self) -> None:
        holder = ProcessLock(self.path)
        pid = holder.acquire()
        if pid is not None:
            who = f"pid {pid}" if pid else "its pid unknown"
            raise StateLocked(
                f"the state file {self.path} is in use by another alertbot ({who}): stop it "
                "first, or give this one its own STATE_PATH"
            )
        self._holder = holder

    def _release(self) -> None:
        if self._holder is not None:
            self._holder.release()
            self._holder = None

    def _connect(self) -> sqlite3.Connection:
        # mode=rw never creates a file: one that vanishes between the check and the open is an
        # error, not a new empty state.
        mode = "rw" if self.path.exists() else "rwc"
        uri = f"{self.path.absolute().as_uri()}?mode={mode}"
        return sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)

    def _check_pages(self) -> None:
        found = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        if found != ["ok"]:
            first = " ".join(str(found[0]).replace("*** in database main ***", "").split())
            raise StateCorrupt(
                f"the state file {self.path} is damaged (SQLite's check says: {first[:120]}): "
                f"{_recover(self.path)}"
            )

    def _refuse_foreign(self) -> None:
        """Another program's database (tables, and no schema version of ours) is left as it
        was, not given alertbot's tables (nor switched to WAL)."""
        if self._db.execute("PRAGMA user_version").fetchone()[0]:
            return
        tables = [r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name LIMIT 4")]  # fmt: skip
        if tables:
            raise StoreError(
                f"{self.path} is another program's SQLite database (tables {', '.join(tables)}"
                "...): give STATE_PATH a file of alertbot's own"
            )

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

    def _instance(self) -> str:
        query = "SELECT value FROM flags WHERE key=?"
        row = self._db.execute(query, (INSTANCE,)).fetchone()
        if row is None:
            self._db.execute(
                "INSERT OR IGNORE INTO flags VALUES (?, ?)", (INSTANCE, uuid.uuid4().hex)
            )
            row = self._db.execute(query, (INSTANCE,)).fetchone()
        return str(row[0])

    def verify(self) -> None:
        """Raises StateLost when the file is no longer the one opened: deleted, replaced by
        another file, emptied, without its schema or holding another state; StateCorrupt when
        it was found damaged. Once lost, always lost: a restored file needs a restart."""
        with self._lock:
            if self.problem is None:
                what = self._whats_wrong()
                if what is not None:
                    self.problem = _lost(self.path, what)
            if self.problem is not None:
                raise type(self.problem)(str(self.problem))

    def _whats_wrong(self) -> str | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "was deleted"
        except OSError as exc:
            return f"could no longer be read ({exc.strerror})"
        if (stat.st_dev, stat.st_ino) != self._identity:
            return "was replaced by another file"
        if stat.st_size < HEADER:
            return f"was emptied ({stat.st_size} bytes left)"
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            row = self._db.execute("SELECT value FROM flags WHERE key=?", (INSTANCE,)).fetchone()
        except sqlite3.DatabaseError as exc:
            return f"could no longer be read ({exc})"
        if version == 0:
            return "lost its tables"
        if row is None or row[0] != self.instance:
            return "was overwritten with another state"
        return None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Serialises a call; damage SQLite reports on the way becomes StateCorrupt/StateLost."""
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                code = _code(exc)
                if code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
                    self.problem = self.problem or StateCorrupt(
                        f"the state file {self.path} is damaged ({exc}): stop alertbot, then "
                        f"{_recover(self.path)}"
                    )
                elif code == SQLITE_READONLY_DBMOVED:
                    self.problem = self.problem or _lost(self.path, "was moved or deleted")
                else:
                    raise
                raise type(self.problem)(str(self.problem)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._release()

    @property
    def schema_version(self) -> int:
        with self._guard():
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._guard():
            return self._db.execute(sql, args).fetchall()

    def write(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """Runs one statement; returns the new row's id (inserts)."""
        with self._guard():
            return int(self._db.execute(sql, args).lastrowid or 0)

    def change(self, sql: str, args: tuple[object, ...] = ()) -> int:
        """Runs one statement; returns how many rows it changed."""
        with self._guard():
            return int(self._db.execute(sql, args).rowcount)

    def write_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        with self._guard():
            self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land together or not at all (a crash mid-check leaves no half)."""
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                # SQLite may have rolled back already (I/O errors): keep the first exception.
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0)
