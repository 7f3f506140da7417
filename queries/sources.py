"""Where the numbers come from: a ClickHouse server over HTTP, or the embedded chDB database.

Both run the same SQL text and return the same normalised frames (queries.series).
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import logging
import os
import re
import tempfile
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aiohttp
import pandas as pd

from queries.catalogue import Table
from queries.errors import (
    QueryFailed,
    SourceError,
    SourceMisconfigured,
    SourceSilent,
    SourceUnavailable,
    masked,
)
from queries.series import frame_from_rows
from queries.sql import render

__all__ = [
    "ClickHouseSource", "EmbeddedSource", "Freshness", "Source", "classify_server_error",
]  # fmt: skip

log = logging.getLogger(__name__)

# ClickHouse error codes that mean "fix the settings or the schema", not "try again".
_MISCONFIGURED = {
    81: "unknown database",
    60: "missing table",
    47: "missing column",
    16: "missing column",
    192: "unknown user",
    193: "wrong password",
    194: "a password is required",
    516: "authentication failed",
    497: "access denied",
    291: "access denied",  # DATABASE_ACCESS_DENIED (18.16: allow_databases in users.xml)
    386: "mixed types",  # NO_COMMON_TYPE: a UNION ALL of String and LowCardinality(String)
}
ACCESS_DENIED = ("CLICKHOUSE_USER may not read CLICKHOUSE_DATABASE: grant it SELECT there (on "
                 "18.16, allow_databases in users.xml) or name a database it may read")  # fmt: skip
MIXED_TYPES = ("give each column one type in every part of the catalogue's SQL (CATALOGUE_PATH): "
               "write a slice's value as CAST(x AS String) AS dim_value (on ClickHouse 18.16 "
               "toString(LowCardinality) stays LowCardinality)")  # fmt: skip
# Codes that mean "the server is busy or the network hiccuped": retried.
_TRANSIENT = {159, 160, 202, 209, 210, 241, 242, 319, 394}
_CODE = re.compile(r"Code:\s*(\d+)")
# A proxy that asks for its own credentials, or refuses these (no ClickHouse code in it).
_REFUSED = re.compile(r"\b(401|403)\b|Unauthorized|Authorization Required|Forbidden",
                      re.IGNORECASE)  # fmt: skip
# aiochclient drops the HTTP status; these are the words proxies use for "try again later".
# A page saying "Internal Server Error" (a proxy's or a web server's 500: no ClickHouse code in
# it) is as passing as its 502.
_GATEWAY = re.compile(
    r"\b(502|503|504|429)\b|Bad Gateway|Service Unavailable|Gateway Time-?out|Too Many Requests"
    r"|Internal Server Error",
    re.IGNORECASE,
)


# How ClickHouse writes an error it met after rows went out: a line of its own, after them.
_STREAMED_ERROR = re.compile(rb"Code: \d+[.,] (e\.displayText\(\) = )?DB::Exception")


def _error_after_rows(last: Any) -> str | None:
    """The error ClickHouse appended to a streamed answer, read from the last row as it came
    (before the row's types read it as a value, or fail to); None for a row."""
    raw = getattr(last, "_row", None)
    if isinstance(raw, bytes) and _STREAMED_ERROR.match(raw):
        return raw.decode("utf-8", "replace")
    return None


def _page_text(message: str) -> str:
    """What an HTML error page says: its title, else its text without the markup ("" for
    what is not a page). Its first line alone is often just "<html>"."""
    if not re.search(r"<(html|head|body|title|h1)\b", message, re.IGNORECASE):
        return ""
    title = re.search(r"<title[^>]*>(.*?)</title>", message, re.IGNORECASE | re.DOTALL)
    text = title.group(1) if title else re.sub(r"<[^>]*>", " ", message)
    return " ".join(html.unescape(text).split())


def classify_server_error(message: str, *, where: str) -> SourceError:
    """Turn a ClickHouse exception text into our error tree with a sentence that says what to do."""
    first = message.strip().splitlines()[0] if message.strip() else "empty error message"
    # Keep what ClickHouse said, minus its stack-trace noise.
    said = re.sub(r",?\s*e\.what\(\)\s*=\s*DB::Exception\s*$", "", first)
    said = re.sub(r"^Code:\s*\d+[.,]\s*(e\.displayText\(\)\s*=\s*)?(DB::Exception:\s*)?", "", said)
    match = _CODE.search(message)
    code = int(match.group(1)) if match else None
    if code in _MISCONFIGURED:
        hint = {
            "unknown database": "check CLICKHOUSE_DATABASE",
            "missing table": "check CLICKHOUSE_DATABASE and the table names in the "
            "catalogue's SQL (CATALOGUE_PATH), or seed the demo's with `alertbot seed`",
            "missing column": "the query names a column its table lacks: fix the catalogue's "
            "SQL (CATALOGUE_PATH) or the table (see README, 'Pointing it at your own "
            "ClickHouse')",
            "mixed types": MIXED_TYPES,
            "access denied": ACCESS_DENIED,
        }.get(_MISCONFIGURED[code], "check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD")
        return SourceMisconfigured(f"{where}: {_MISCONFIGURED[code]} ({said}); {hint}")
    if code in _TRANSIENT:
        return SourceUnavailable(f"{where}: the server is overloaded or timed out ({said})")
    if code is None:
        if _GATEWAY.search(message):
            said = _page_text(message) or said
            return SourceUnavailable(f"{where}: a proxy in front of it answered {said[:120]!r}")
        if _REFUSED.search(message):  # a proxy's own login: not "is it ClickHouse?"
            said = _page_text(message) or said
            return SourceMisconfigured(
                f"{where}: a proxy in front of it refused the request ({said[:120]!r}); check "
                "CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, or the proxy's own access rules")
        return SourceMisconfigured(
            f"{where}: the server did not answer like ClickHouse ({said[:120]!r}); is "
            "CLICKHOUSE_URL the HTTP interface of a ClickHouse server (usually port 8123)?"
        )
    return QueryFailed(f"{where}: ClickHouse rejected the query ({said[:300]})")


@dataclass(frozen=True)
class Freshness:
    """How far a table's rows have arrived (Source.freshness)."""

    latest: datetime | None  # newest event time (None: no rows in the period asked)
    first_third: int  # events in the first third of the newest bucket
    last_third: int  # ... and in its last third: far fewer means it is still filling


class Source(ABC):
    """Runs the catalogue's queries. Subclasses supply `_query` (rows) and `_execute`."""

    kind: str
    database: str

    def __init__(self) -> None:
        self._receiver: dict[str, str] = {}

    @property
    @abstractmethod
    def key(self) -> str:
        """Identifies the data behind this source, for the history cache (no secrets)."""

    @abstractmethod
    async def query(self, sql: str) -> pd.DataFrame:
        """Rows of a SELECT as a DataFrame."""

    @abstractmethod
    async def execute(self, sql: str) -> None:
        """A statement that returns nothing (DDL, INSERT ... SELECT)."""

    @abstractmethod
    async def bulk_insert(self, table: str, select: str, structure: str, data: bytes) -> None:
        """INSERT INTO table SELECT <select> FROM rows in RowBinary with `structure`."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def ensure_database(self) -> None:  # noqa: B027 - the embedded source makes its own
        """Create this source's database unless it exists (only seeding writes to a source)."""

    async def columns(self, table: str) -> dict[str, str]:
        """Column name -> type of a table in our database; empty if there is no such table."""
        frame = await self.query(
            "SELECT name, type FROM system.columns "
            f"WHERE database = '{_literal(self.database)}' AND table = '{_literal(table)}'"
        )
        return {
            str(n): str(t)
            for n, t in zip(frame.get("name", []), frame.get("type", []), strict=True)
        }

    async def receiver_column(self, table: Table) -> str | None:
        """The table's spelling of receiver_id (receiver_id or reciever_id), found once."""
        if table.receiver_column is None:
            return None
        if table.name not in self._receiver:
            cols = await self.columns(table.name)
            if not cols:
                raise SourceMisconfigured(
                    f"{self.describe()}: table {self.database}.{table.name} does not exist; "
                    "check CLICKHOUSE_DATABASE, or seed it with `alertbot seed`"
                )
            for candidate in (table.receiver_column, "receiver_id", "reciever_id"):
                if candidate in cols:
                    self._receiver[table.name] = candidate
                    break
            else:
                raise SourceMisconfigured(
                    f"{self.describe()}: {self.database}.{table.name} has neither receiver_id "
                    "nor reciever_id; the messenger queries need one of them"
                )
        return self._receiver[table.name]

    async def fetch(self, table: Table, start: datetime, end: datetime) -> pd.DataFrame:
        """Aggregated rows of one table for start <= time < end, normalised."""
        sql = render(
            table.sql, start=start, end=end, receiver_column=await self.receiver_column(table)
        )
        rows = await self.query(sql)
        try:
            return frame_from_rows(rows, table.columns)
        except QueryFailed as exc:
            raise QueryFailed(f"the query for {table.name}: {exc}") from None
        except SourceMisconfigured as exc:  # its SQL returned what it should not: to fix
            raise SourceMisconfigured(f"the query for {table.name}: {exc}") from None

    async def freshness(self, table: Table, bucket: datetime, end: datetime,
                        since: datetime) -> Freshness:  # fmt: skip
        """How far the table's data has arrived: its newest event time since `since`, and the
        events in the first and last third of the newest bucket [bucket, end)."""
        column = _ident(table.time_column)
        lo, hi = int(bucket.timestamp()), int(end.timestamp())
        third = (hi - lo) // 3
        frame = await self.query(
            f"SELECT count() AS n, toUInt32(max({column})) AS latest, "
            f"countIf({column} >= toDateTime({lo}) AND {column} < toDateTime({lo + third})) "
            "AS first, "
            f"countIf({column} >= toDateTime({hi - third})) AS last "
            f"FROM {_ident(table.name)} "
            f"WHERE {column} >= toDateTime({int(since.timestamp())}) "
            f"AND {column} < toDateTime({hi})"
        )
        if frame.empty or int(frame["n"].iloc[0]) == 0:
            return Freshness(None, 0, 0)
        row = frame.iloc[0]
        return Freshness(
            datetime.fromtimestamp(int(row["latest"]), tz=UTC), int(row["first"]), int(row["last"])
        )

    def describe(self) -> str:
        return self.kind


def _literal(text: str) -> str:
    """Escape a value we generate (a database or table name) for a single-quoted literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _ident(text: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text):
        raise ValueError(f"not a plain identifier: {text!r}")
    return text


def safe_url(url: str) -> str:
    """The URL without any user:password part, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class ClickHouseSource(Source):
    """A ClickHouse server over HTTP (aiochclient): timeouts, retries on transient errors."""

    kind = "clickhouse"

    def __init__(
        self,
        url: str,
        *,
        user: str = "default",
        password: str = "",
        database: str = "simulator",
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.url = url
        self._connect_timeout = min(connect_timeout, timeout)
        self.database = _ident(database)
        # A URL's user:password travels as the other credentials do (X-ClickHouse-User and
        # -Key), not as Basic authorization beside them: ClickHouse refuses a request that
        # carries both. CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, where set, win.
        parts = urlsplit(url)
        self._client_url = url
        if parts.username is not None or parts.password is not None:
            self._client_url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
            if user == "default" and parts.username:
                user = unquote(parts.username)
            if not password and parts.password:
                password = unquote(parts.password)
        self._user = user
        self._password = password
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._session: aiohttp.ClientSession | None = None
        self._client: Any = None

    @property
    def key(self) -> str:
        return f"clickhouse:{safe_url(self.url)}/{self.database}"

    def describe(self) -> str:
        return f"ClickHouse at {safe_url(self.url)}"

    def _secrets(self) -> list[str]:
        """Every form the credentials travel in, longest first: the password (as given and
        URL-encoded), the URL's own user:password and the Basic authorization made of them."""
        parts = urlsplit(self.url)
        pairs = [(self._user, self._password)]
        if parts.password:
            pairs.append((unquote(parts.username or ""), unquote(parts.password)))
        forms: set[str] = set()
        for user, password in pairs:
            if not password:
                continue
            forms |= {password, quote(password, safe="")}
            forms.add(base64.b64encode(f"{user}:{password}".encode()).decode())
        if parts.password:
            forms.add(parts.password)  # as written in the URL
        return sorted(forms, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        """`text` with the credentials taken out: a proxy's or a debug page's answer may echo
        the request's headers, and error texts reach logs and chats. Done on the server's
        text before it is cut short or quoted, which would leave a part or an escaped form."""
        return masked(text, self._secrets())

    def _scrubbed(self, error: SourceError) -> SourceError:
        text = self._scrub(str(error))
        return error if text == str(error) else type(error)(text)

    def _ensure_client(self) -> Any:
        from aiochclient import ChClient  # imported here: only the server source needs it

        if self._client is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout, connect=self._connect_timeout)
            )
            self._client = ChClient(
                self._session,
                url=self._client_url,
                user=self._user,
                password=self._password or None,
                database=self.database,
                # The server holds the answer until the query ends, so an error met halfway
                # (a memory limit, a timeout) comes as an error, not after the rows sent.
                wait_end_of_query=1,
            )
        return self._client

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._client = None

    async def ensure_database(self) -> None:
        """CREATE DATABASE unless it exists, through a client whose current database is
        `system` (the HTTP interface refuses every statement, even this one, while the
        `database` parameter names a database that does not exist yet)."""
        from aiochclient import ChClient

        name = self.database

        async def create(_client: Any) -> None:
            admin = ChClient(
                self._session,
                url=self._client_url,
                user=self._user,
                password=self._password or None,
                database="system",
            )
            rows = await admin.fetch(
                f"SELECT count() AS n FROM system.databases WHERE name = '{_literal(name)}'"
            )
            # Asked first, so a user who may not create databases can still seed an existing one.
            if not rows or int(rows[0]["n"]) == 0:
                await admin.execute(f"CREATE DATABASE IF NOT EXISTS {name}")

        await self._attempt(create)

    async def _attempt(self, action: Any) -> Any:
        from aiochclient import ChClientError

        delay = self._backoff
        for attempt in range(1, max(self._retries, 1) + 1):  # 0 retries: one try
            try:
                return await action(self._ensure_client())
            except ChClientError as exc:
                error = classify_server_error(self._scrub(str(exc)), where=self.describe())
            except aiohttp.ClientSSLError as exc:  # every try fails the same: not retried
                plain = "http://" + safe_url(self.url).split("://", 1)[-1]
                raise SourceMisconfigured(
                    f"the TLS handshake with {self.describe()} failed ({exc.__class__.__name__}): "
                    f"if that port serves plain HTTP, as ClickHouse's 8123 does, set "
                    f"CLICKHOUSE_URL to {plain}; else check the server's certificate"
                ) from None
            except (aiohttp.ClientConnectorError, ConnectionRefusedError,
                    aiohttp.ConnectionTimeoutError) as exc:  # fmt: skip  # never connected
                error = SourceSilent(
                    f"cannot connect to {self.describe()} ({exc.__class__.__name__}): is the "
                    "server running, and is CLICKHOUSE_URL right?"
                )
            except (TimeoutError, aiohttp.ServerTimeoutError):
                tries = f", {attempt} times" if attempt > 1 else ""  # each wait was that long
                # After the last try: silent unless it answers a SELECT 1 (then this query is
                # only too slow, and the next table's may go through).
                if attempt >= self._retries and await self._answers():
                    error = SourceUnavailable(
                        f"{self.describe()} did not answer within {self._timeout:g} s{tries}, "
                        "yet answers a SELECT 1: this query takes longer than "
                        "CLICKHOUSE_TIMEOUT allows, so raise it")  # fmt: skip
                else:
                    error = SourceSilent(
                        f"{self.describe()} did not answer within {self._timeout:g} s{tries}")
            except aiohttp.InvalidURL:
                raise SourceMisconfigured(
                    f"CLICKHOUSE_URL {safe_url(self.url)!r} is not a valid URL; "
                    "expected e.g. http://localhost:8123"
                ) from None
            except (aiohttp.ClientError, OSError) as exc:
                error = SourceUnavailable(
                    f"lost the connection to {self.describe()} ({exc.__class__.__name__})"
                )
            except (ValueError, IndexError, KeyError, UnicodeDecodeError, AssertionError,
                    RuntimeError) as exc:  # fmt: skip
                error = self._unreadable(exc)
            error = self._scrubbed(error)
            if not isinstance(error, SourceUnavailable) or attempt >= self._retries:
                raise error
            log.warning("%s (attempt %d of %d); retrying", error, attempt, self._retries)
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _unreadable(self, exc: Exception) -> SourceUnavailable:
        """An answer aiochclient could not read: SourceUnavailable for an empty one, else
        SourceMisconfigured raised (an error of ours, not of the answer, raised again)."""
        if isinstance(exc, RuntimeError):
            if not isinstance(exc.__cause__, StopAsyncIteration):
                raise exc
            # Its reader met the end of the body before ClickHouse's header of names and
            # types, which it sends even for no rows: an empty 200 (a proxy between them, a
            # restart). Passing, as a proxy's 502 is: retried, then said.
            return SourceUnavailable(f"{self.describe()} sent an empty answer (is a proxy in "
                                     "front of it?)")  # fmt: skip
        # aiochclient parses the typed TSV answer itself (and asserts it ends cleanly): a body
        # it cannot read did not come from ClickHouse, or was cut off.
        raise SourceMisconfigured(
            f"{self.describe()} sent an answer that is not ClickHouse's "
            f"({exc.__class__.__name__}); is CLICKHOUSE_URL the HTTP interface of a ClickHouse "
            "server (usually port 8123)?"
        ) from None

    async def _answers(self) -> bool:
        """Whether the server answers anything right now (SELECT 1, a short wait; any HTTP
        answer counts): after a query got no answer, that tells a server that hangs from a
        query too slow for CLICKHOUSE_TIMEOUT."""
        client, session = self._ensure_client(), self._session
        if session is None:
            return False
        try:
            async with session.post(self._client_url, data=b"SELECT 1", headers=client.headers,
                                    timeout=aiohttp.ClientTimeout(total=min(5.0, self._timeout))
                                    ) as response:  # fmt: skip
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        return True

    async def query(self, sql: str) -> pd.DataFrame:
        async def run(client: Any) -> pd.DataFrame:
            from aiochclient import ChClientError

            records = await client.fetch(sql)
            if not records:
                return pd.DataFrame()
            said = _error_after_rows(records[-1])
            if said is not None:  # a server or a proxy that streamed it all the same
                raise ChClientError(said)
            names = list(records[0].keys())
            return pd.DataFrame([tuple(r.values()) for r in records], columns=names)

        return await self._attempt(run)

    async def execute(self, sql: str) -> None:
        async def run(client: Any) -> None:
            await client.execute(sql)

        await self._attempt(run)

    async def bulk_insert(self, table: str, select: str, structure: str, data: bytes) -> None:
        staging = f"_alertbot_staging_{_ident(table)}"
        await self.execute(f"DROP TABLE IF EXISTS {staging}")
        await self.execute(f"CREATE TABLE {staging} ({structure}) ENGINE = Memory")
        try:

            async def load(client: Any) -> None:
                # A file object, so aiohttp streams the body instead of holding the loop.
                await client.insert_file(
                    f"INSERT INTO {staging} FORMAT RowBinary", io.BytesIO(data)
                )

            await self._attempt(load)
            await self.execute(f"INSERT INTO {_ident(table)} SELECT {select} FROM {staging}")
        finally:
            await self.execute(f"DROP TABLE IF EXISTS {staging}")


class EmbeddedSource(Source):
    """chDB in-process, its data on disk; queries run in a worker thread, one at a time."""

    kind = "embedded"

    def __init__(self, path: str | Path, *, database: str = "simulator") -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.database = _ident(database)
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        return f"embedded:{self.path.resolve()}/{self.database}"

    def describe(self) -> str:
        return f"the embedded database at {self.path}"

    def _refuse_if_held(self) -> None:
        """SourceMisconfigured naming the process that has the folder open: chDB lets one
        process use a folder at a time, and says only "Error initializing EmbeddedServer"
        (its own lines on stderr) when another one holds it (its `status` file, locked)."""
        import fcntl  # POSIX only, as chDB itself

        status = self.path / "status"
        try:
            fd = os.open(status, os.O_RDONLY)
        except OSError:
            return  # never opened, or closed cleanly: nobody holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            said = re.search(r"PID:\s*(\d+)", status.read_text(errors="replace"))
            pid = int(said[1]) if said else None
            mine = pid is None or pid == os.getpid()
            who = "another process" if mine else f"another process (pid {pid})"
            raise SourceMisconfigured(
                f"{self.describe()} is open in {who}, such as a running `alertbot run`: one "
                "process at a time can use it; stop that one first, or point both at a "
                "ClickHouse server (CLICKHOUSE_URL)"
            ) from None
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _folder(self) -> None:
        """The database's folder, made where it is missing; SourceMisconfigured saying why it
        cannot be (EMBEDDED_PATH under a file, in /proc, not writable) instead of a traceback."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SourceMisconfigured(
                f"cannot create {self.describe()}: {exc.strerror or exc}; set EMBEDDED_PATH "
                "to a folder this user can write to"
            ) from None

    def _run(self, sql: str, fmt: str) -> Any:
        from chdb import session as chdb_session  # heavy import; only the embedded source needs it

        with self._lock:
            if self._session is None:
                self._folder()
                self._refuse_if_held()
                try:
                    self._session = chdb_session.Session(str(self.path))
                except RuntimeError as exc:
                    # chDB runs one embedded server per process, on one folder.
                    raise SourceMisconfigured(
                        f"cannot open {self.describe()}: {str(exc).splitlines()[0]}"
                    ) from None
                self._session.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
                self._session.query(f"USE {self.database}")
            try:
                return self._session.query(sql, fmt)
            except RuntimeError as exc:
                raise classify_server_error(str(exc), where=self.describe()) from None

    async def query(self, sql: str) -> pd.DataFrame:
        frame = await asyncio.to_thread(self._run, sql, "DataFrame")
        return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()

    async def execute(self, sql: str) -> None:
        await asyncio.to_thread(self._run, sql, "CSV")

    def _bulk_insert(self, table: str, select: str, structure: str, data: bytes) -> None:
        self._folder()
        with tempfile.NamedTemporaryFile(dir=self.path, suffix=".bin", delete=False) as handle:
            handle.write(data)
            name = Path(handle.name)
        try:
            rows = f"file('{_literal(str(name))}', 'RowBinary', '{_literal(structure)}')"
            self._run(f"INSERT INTO {_ident(table)} SELECT {select} FROM {rows}", "CSV")
        finally:
            name.unlink(missing_ok=True)

    async def bulk_insert(self, table: str, select: str, structure: str, data: bytes) -> None:
        await asyncio.to_thread(self._bulk_insert, table, select, structure, data)

    async def close(self) -> None:
        def shut() -> None:
            with self._lock:
                if self._session is not None:
                    self._session.close()
                    self._session = None

        await asyncio.to_thread(shut)
