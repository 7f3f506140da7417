"""Shared fixtures: one seeded embedded database per test session, and the ClickHouse server
named by CLICKHOUSE_URL seeded with the very same data (required in CI, skipped elsewhere)."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from queries import seeding
from queries.sources import ClickHouseSource, EmbeddedSource, Source

END = datetime(2026, 11, 27, 12, 7, 30, tzinfo=UTC)  # mid-bucket, on purpose
DAYS = 8  # the seasonal band needs about six days before it has a width
TEST_DB = "alertbot_test"


@dataclass(frozen=True)
class SourceSpec:
    """How to open a source inside a test's own event loop."""

    kind: str
    path: Path | None = None
    url: str | None = None
    database: str = "seeded"

    def open(self, database: str | None = None) -> Source:
        db = database or self.database
        if self.kind == "embedded":
            assert self.path is not None
            return EmbeddedSource(self.path, database=db)
        assert self.url is not None
        return ClickHouseSource(self.url, database=db, timeout=30, retries=2, backoff=0.1)


async def clear_of_the_next_bucket(seconds: float, *, delay: timedelta = timedelta(minutes=2),
                                   step: float = 900) -> None:  # fmt: skip
    """Sleep past the moment the checked bucket changes (a 15-minute boundary + DATA_DELAY) if
    it comes within `seconds`: a test that compares two checks of a demo ending now (or a check
    and the bot's) must have both look at the same bucket."""
    into = (datetime.now(UTC) - delay).timestamp() % step
    if step - into < seconds:
        await asyncio.sleep(step - into + 2)


def _seed(spec: SourceSpec) -> None:
    async def run() -> None:
        source = spec.open()
        try:
            await source.execute(f"CREATE DATABASE IF NOT EXISTS {spec.database}")
            await seeding.seed(source, days=DAYS, end=END)
        finally:
            await source.close()

    asyncio.run(run())


SERVER_GROUP = "clickhouse-server"
CLI_DEMO_GROUP = "cli-demo"  # tests/test_cli.py's demo_env: seeded once, copied per module


def _uses_server(item: pytest.Item) -> bool:
    """Whether a test talks to the ClickHouse server of CLICKHOUSE_URL or the cluster."""
    names = getattr(item, "fixturenames", ())
    callspec = getattr(item, "callspec", None)
    return (
        "server_spec" in names
        or (callspec is not None and callspec.params.get("spec") == "clickhouse")
        or item.get_closest_marker("clickhouse") is not None
    )


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With `-n 2` (README, .ci/run) every test of the server runs in one worker, one at a
    time: one of them stops and starts the server, and they share its seeded database. The
    tests of `alertbot` on its seeded demo (demo_env) share one worker too: the demo is seeded
    once and copied, where a worker would otherwise wait for the other's seed."""
    for item in items:
        if _uses_server(item):
            item.add_marker(pytest.mark.xdist_group(SERVER_GROUP))
        elif "demo_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(CLI_DEMO_GROUP))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every test module, and so aiogram, pandas, numpy and the project, is imported by now:
    some 300,000 objects that live as long as the process. Frozen out of the collector, the
    full collections the tests' own garbage sets off (a quarter of a second of CPU each, many
    times per worker) no longer walk them all again. Nothing is kept that would have been
    freed: what is frozen here is what the loaded modules hold, and freed by reference count
    alike; the tests' own objects, made later, are collected as before."""
    gc.collect()
    gc.freeze()


PRISTINE = "pristine"  # the seeded data as seeded: no bot ever reads it, so it never grows


async def copy_database(spec: SourceSpec, source_db: str, target_db: str) -> None:
    """`target_db` (re)created on the embedded server as a copy of `source_db`: its MergeTree
    tables share the source's parts (hard links, a fraction of a second for 8 days of demo
    data where seeding them again takes 10-20 s), rows inserted later go to the copy alone."""
    assert spec.kind == "embedded"
    source = spec.open(source_db)
    try:
        tables = await source.query(
            f"SELECT name, engine FROM system.tables WHERE database = '{source_db}'"
        )
        await source.execute(f"DROP DATABASE IF EXISTS {target_db}")
        await source.execute(f"CREATE DATABASE {target_db}")
        for table, engine in zip(map(str, tables["name"]), map(str, tables["engine"]),
                                 strict=True):  # fmt: skip
            await source.execute(f"CREATE TABLE {target_db}.{table} AS {source_db}.{table}")
            if engine.endswith("MergeTree"):
                await source.execute(f"ALTER TABLE {target_db}.{table} "
                                     f"ATTACH PARTITION ALL FROM {source_db}.{table}")  # fmt: skip
            else:  # the seed's own small marks (TinyLog)
                await source.execute(f"INSERT INTO {target_db}.{table} "
                                     f"SELECT * FROM {source_db}.{table}")  # fmt: skip
    finally:
        await source.close()


def _held_history_path(embedded_path: Path, database: str) -> Path:
    return embedded_path.parent / f"held-history-{database}.sqlite3"


def _hold_history(spec: SourceSpec) -> None:
    """Fill a state file's history cache as a bot's check at END does (its History, the bundled
    catalogue, the default DATA_DELAY): the rows of every table, and nothing else."""
    from bot.service.history import History
    from bot.settings import Settings
    from bot.state import State
    from queries.catalogue import load_catalogue

    assert spec.path is not None
    path = _held_history_path(spec.path, spec.database)
    filling = path.with_suffix(".filling")

    async def run() -> None:
        catalogue, source, state = load_catalogue(), spec.open(), State(filling)
        try:
            history = History(source, catalogue, state.history)
            delay = Settings.model_fields["data_delay"].default
            for table in catalogue.tables.values():
                await history.frame(table, END, delay)
        finally:
            state.close()
            await source.close()

    asyncio.run(run())
    filling.rename(path)  # whole, or not there at all


def held_history(embedded_path: Path, database: str) -> Path | None:
    """A state file whose history cache holds what the bundled catalogue's check at END reads
    from `database` of the session's embedded folder (None: none was made for it). A bot that
    starts on a copy of it fetches only the last hour again, as a restarted bot does, instead
    of 8 days of every table (about 1.5 s of chDB a start); the rows it reads are the same,
    held or fetched."""
    path = _held_history_path(embedded_path, database)
    return path if path.exists() else None


@pytest.fixture(scope="session")
def embedded_spec(tmp_path_factory: pytest.TempPathFactory) -> SourceSpec:
    """The embedded database of this test session (chDB allows one folder per process), and
    beside it PRISTINE, a copy of it that tests copy again rather than seed the same again:
    checks whose clock moves past END load more rows into the database they check. And a
    state file holding the seeded database's history at END (`held_history`)."""
    spec = SourceSpec("embedded", path=tmp_path_factory.mktemp("chdb") / "db")
    _seed(spec)
    asyncio.run(copy_database(spec, spec.database, PRISTINE))
    _hold_history(spec)
    return spec


def server_url() -> str | None:
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("CI must run the ClickHouse server tests: CLICKHOUSE_URL is not set")
    return None


@pytest.fixture(scope="session")
def server_spec() -> SourceSpec:
    """The real ClickHouse server, seeded with the same data as the embedded database."""
    url = server_url()
    if url is None:
        pytest.skip("CLICKHOUSE_URL is not set (CI sets it and runs these)")
    spec = SourceSpec("clickhouse", url=url, database=TEST_DB)

    async def create() -> None:
        source = spec.open("default")
        try:
            await source.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")
            await source.execute(f"CREATE DATABASE {TEST_DB}")
        finally:
            await source.close()

    asyncio.run(create())
    _seed(spec)
    return spec


@pytest.fixture(params=["embedded", "clickhouse"])
def spec(request: pytest.FixtureRequest) -> SourceSpec:
    """Each source in turn: the contract suite runs against both."""
    name = "embedded_spec" if request.param == "embedded" else "server_spec"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def empty_database(opener: Callable[[], Source], name: str) -> Iterator[str]:
    """Database `name` made anew through the source `opener` gives (one per statement), then
    yielded, then dropped: a fixture's body."""

    async def run(sql: str) -> None:
        source = opener()
        try:
            await source.execute(sql)
        finally:
            await source.close()

    asyncio.run(run(f"DROP DATABASE IF EXISTS {name}"))
    asyncio.run(run(f"CREATE DATABASE {name}"))
    yield name
    asyncio.run(run(f"DROP DATABASE IF EXISTS {name}"))


@pytest.fixture
def scratch_db(spec: SourceSpec) -> Iterator[str]:
    """An empty database on the source under test, dropped afterwards."""
    yield from empty_database(
        lambda: spec.open("default" if spec.kind == "clickhouse" else spec.database),
        f"scratch_{os.getpid()}")  # fmt: skip


SCRIPTS = Path(__file__).resolve().parents[1] / ".ci"


@dataclass(frozen=True)
class ServerControl:
    """Stops and starts the test session's ClickHouse server (data kept on disk)."""

    folder: Path
    port: int

    async def _run(self, *args: str) -> None:
        script = SCRIPTS / "clickhouse.sh"
        process = await asyncio.create_subprocess_exec("bash", str(script), *args)
        assert await process.wait() == 0, f"clickhouse.sh {args[0]} failed"

    async def stop(self) -> None:
        await self._run("stop", str(self.folder))

    async def start(self) -> None:
        """Starts it unless it answers already; returns once it does."""
        import urllib.request

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=2):
                    return True
            except OSError:
                return False

        if not await asyncio.to_thread(answers):
            await self._run("start", str(self.folder), str(self.port))


@pytest.fixture
def server_control(server_spec: SourceSpec) -> ServerControl:
    """The server behind CLICKHOUSE_URL, which .ci/run started in CLICKHOUSE_DIR."""
    from urllib.parse import urlsplit

    folder = os.environ.get("CLICKHOUSE_DIR")
    if not folder:
        if os.environ.get("CI"):
            pytest.fail("CI must set CLICKHOUSE_DIR, the folder of the server it started")
        pytest.skip("CLICKHOUSE_DIR is not set (CI sets it to the server's folder)")
    assert server_spec.url is not None
    return ServerControl(Path(folder), urlsplit(server_spec.url).port or 8123)
