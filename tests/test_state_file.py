"""The state file's safety and the bot's lifecycle: one process per file, damage found at open,
a file lost while running never silently recreated; start-up that retries what is transient and
stops on a rejected token; logs that never hold a secret."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import BotApp
from bot.errors import TelegramRejectedToken
from bot.logs import SecretFilter
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import OutboxStatus, State, StateCorrupt, StateLocked, StateLost, StoreError
from queries.catalogue import load_catalogue
from queries.sources import EmbeddedSource
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, ALERTS, TOKEN, USER, Clock, reply, settings_for

# -- one process per state file -------------------------------------------------------------


def test_a_second_exclusive_open_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """A second State(exclusive=True) on the same file raises StateLocked naming our pid and
    what to do; readers still open the file; after close() the lock is free again."""
    path = tmp_path / "state.sqlite3"
    first = State(path, exclusive=True)
    try:
        with pytest.raises(StateLocked) as refused:
            State(path, exclusive=True)
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and str(path) in message
        assert "STATE_PATH" in message and "stop it first" in message
        reader = State(path)  # alertbot check, backtest, tune: no lock
        assert reader.db.schema_version == first.db.schema_version
        reader.close()
    finally:
        first.close()
    State(path, exclusive=True).close()


# -- damage found at open -------------------------------------------------------------------


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(64 * 1024))


def _damaged_pages(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, note TEXT)")
        db.executemany("INSERT INTO filler (note) VALUES (?)", [("x" * 200,)] * 2000)
    db.close()
    data = bytearray(path.read_bytes())
    data[4096 : 4096 + 3 * 4096] = random.Random(2).randbytes(3 * 4096)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_garbage, _damaged_pages], ids=["not-sqlite", "bad-pages"])
def test_a_damaged_file_at_open_says_how_to_recover(tmp_path: Path, damage: object) -> None:
    """Pages past the schema overwritten: StateCorrupt at open, naming the file, the `mv` that
    moves it aside and what then needs setting again. Not SQLite at all: maybe no file of
    alertbot's (STATE_PATH=/etc/passwd was told to `mv /etc/passwd`): check STATE_PATH, no
    command to move it. Either way the file is left as it was, and neither lock nor connection
    stays behind."""
    path = tmp_path / "state.sqlite3"
    damage(path)  # type: ignore[operator]
    before = path.read_bytes()
    with pytest.raises(StateCorrupt) as refused:
        State(path, exclusive=True)
    message = str(refused.value)
    if damage is _garbage:
        assert "is not an SQLite database, so not alertbot's state file: check STATE" in message
        assert "mv " not in message
    else:
        assert f"mv {path} {path}.broken" in message
        assert "subscriptions, mutes and threshold overrides" in message
        assert "history cache refills itself" in message
    assert path.read_bytes() == before
    path.rename(tmp_path / "state.sqlite3.broken")
    State(path, exclusive=True).close()  # the advice works: a fresh file, and the lock is free


# -- lost while running ---------------------------------------------------------------------


def _delete(path: Path) -> None:
    for each in path.parent.glob(path.name + "*"):  # with its -wal and -shm
        each.unlink()


def _truncate(path: Path) -> None:
    with path.open("r+b") as file:
        file.truncate(0)


def _replace_with_a_fresh_one(path: Path) -> None:
    fresh = path.with_name("other.sqlite3")
    State(fresh).close()
    os.replace(fresh, path)


@pytest.mark.parametrize(
    "loss",
    [_delete, _truncate, _replace_with_a_fresh_one],
    ids=["deleted", "emptied", "replaced"],
)
def test_a_file_lost_while_in_use_is_reported_and_never_recreated(
    tmp_path: Path, loss: object
) -> None:
    """verify() passes on the file as opened; after it is deleted, emptied, replaced by a fresh
    state file it raises StateLost naming the file, for good (State's
    `problem` says it too), and no new file appears where a deleted one was."""
    path = tmp_path / "state.sqlite3"
    state = State(path, exclusive=True)
    try:
        state.journal.set_flag("x", "1")
        state.db.verify()
        assert state.problem is None
        loss(path)  # type: ignore[operator]
        with pytest.raises(StateLost) as lost:
            state.db.verify()
        assert str(path) in str(lost.value) and "restore it" in str(lost.value)
        assert state.problem == str(lost.value)
        with pytest.raises(StateLost):
            state.db.verify()  # still lost
    finally:
        state.close()
    if loss is _delete:
        assert not path.exists()


def test_damage_met_while_running_becomes_a_state_problem(tmp_path: Path) -> None:
    """Pages damaged under a running reader: the next query raises StateCorrupt (a StoreError,
    not a bare sqlite3 error) with the recovery sentence, and verify() keeps raising it."""
    path = tmp_path / "state.sqlite3"
    state = State(path)
    try:
        # More than SQLite's page cache holds, so the scan below reads pages from the disk.
        state.db.write_many(
            "INSERT INTO flags VALUES (?, ?)", [(f"k{i}", "v" * 300) for i in range(20_000)]
        )
        state.db.rows("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        with path.open("r+b") as file:
            file.seek(4096)
            file.write(random.Random(3).randbytes(size - 4096))
        with pytest.raises(StoreError) as damaged:
            state.db.rows("SELECT count(*), max(value) FROM flags")
        assert isinstance(damaged.value, StateCorrupt)
        assert f"mv {path} {path}.broken" in str(damaged.value)
        with pytest.raises(StateCorrupt):
            state.db.verify()
    finally:
        state.close()


# -- the bot's lifecycle, through the fake Bot API ------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


def make_app(settings: Settings) -> BotApp:
    source = EmbeddedSource(settings.embedded_path, database=settings.clickhouse_database)
    monitor = Monitor(source=source, catalogue=load_catalogue(), state=State(settings.state_path),
                      settings=settings, clock=Clock())  # fmt: skip
    return BotApp(settings, monitor)


@asynccontextmanager
async def started(app: BotApp, fake: FakeTelegram) -> AsyncIterator[asyncio.Event]:
    """The app running (no scheduled checks) until the block ends; yields its stop event."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        app.run(stop=stop, handle_signals=False, polling_timeout=1, schedule=False,
                drain_every=0.2)
    )  # fmt: skip
    try:
        await fake.wait_for(lambda c: c.method == "setMyCommands", seconds=60)
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        app.monitor.state.close()
        await app.monitor.source.close()


@pytest.mark.slow
async def test_start_up_outlasts_502_pages_from_a_proxy(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """setMyCommands answered twice by a proxy's 502 HTML page (which echoes the URL, token
    included): the bot retries with backoff, a WARNING each time naming the method and no
    token, then sets its menu and answers /start."""
    fake.fail_next_html("setMyCommands", 502)
    fake.fail_next_html("setMyCommands", 502)
    app = make_app(settings_for(fake.url, embedded_spec, tmp_path / "s.db"))
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        async with started(app, fake):
            hello = await reply(fake, "/start", user=USER)
            assert "/check" in hello[0]
    assert len([c for c in fake.calls if c.method == "setMyCommands!502"]) == 2
    retries = [r for r in caplog.records
               if r.getMessage().startswith("setMyCommands at ") and "failed at start-up" in
               r.getMessage()]  # fmt: skip
    assert len(retries) == 2 and all(r.levelno == logging.WARNING for r in retries)
    assert "trying again in 1 s" in retries[0].getMessage()
    assert "trying again in 2 s" in retries[1].getMessage()
    assert TOKEN.split(":")[1] not in caplog.text


async def test_a_menu_telegram_refuses_does_not_keep_the_bot_from_serving(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """setMyCommands answered 400 (not transient): no retry loop, the bot polls and answers."""
    fake.fail_next("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")
    app = make_app(settings_for(fake.url, embedded_spec, tmp_path / "s.db"))
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop=stop, handle_signals=False, polling_timeout=1,
                                       schedule=False, drain_every=0.2))  # fmt: skip
    try:
        hello = await reply(fake, "/start", user=USER)
        assert "/check" in hello[0]
        assert [c.method for c in fake.calls if c.method.startswith("setMyCommands")] == [
            "setMyCommands!400"
        ]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        app.monitor.state.close()
        await app.monitor.source.close()


async def test_a_rejected_token_is_a_typed_error_not_a_retry(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Telegram answers 401 to getMe: run() raises TelegramRejectedToken at once (no retry
    loop), its sentence naming BOT_TOKEN and @BotFather without the token."""
    wrong = "42:NOT-THE-TOKEN"
    app = make_app(settings_for(fake.url, embedded_spec, tmp_path / "s.db", bot_token=wrong))
    try:
        with pytest.raises(TelegramRejectedToken) as rejected:
            await asyncio.wait_for(app.run(handle_signals=False, polling_timeout=1), 5)
    finally:
        app.monitor.state.close()
        await app.monitor.source.close()
    message = str(rejected.value)
    assert "401 Unauthorized" in message and "BOT_TOKEN" in message and "@BotFather" in message
    assert "NOT-THE-TOKEN" not in message
    assert fake.calls == []  # the fake records no call made with a token it does not know


async def test_a_state_file_deleted_under_the_bot_stops_checks_and_tells_operators_once(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The state file deleted while the bot runs: the next ticks run no check, the admin and
    the alert chat each hear once, straight from the bot, that alerting is stopped, and
    `state_problem` says why; no file is created where the deleted one was."""
    path = tmp_path / "s.db"
    app = make_app(settings_for(fake.url, embedded_spec, path))
    async with started(app, fake):
        assert app.state_problem is None
        _delete(path)
        await app.tick()
        await app.tick()
        notices = await fake.wait_for(
            lambda c: c.method == "sendMessage" and "Alerting is stopped" in c.text, count=2
        )
        await asyncio.sleep(1)  # room for a second notice, were there one
        assert app.monitor.last_duration is None  # no check ran
    notices = [c for c in fake.calls if "Alerting is stopped" in c.text]
    assert sorted(c.chat_id for c in notices) == sorted([ADMIN, ALERTS])
    assert str(path) in notices[0].text and "was deleted" in notices[0].text
    assert app.state_problem is not None and "was deleted" in app.state_problem
    assert not path.exists()


async def test_a_stop_lets_the_message_in_flight_finish_and_sends_no_more(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Stopped while Telegram takes 2 s to answer a message: that message is answered and
    recorded as sent; the next one waits in the outbox for the next start."""
    app = make_app(settings_for(fake.url, embedded_spec, tmp_path / "s.db"))
    outbox = app.monitor.state.outbox
    now = datetime.now(UTC)
    first = outbox.enqueue(ALERTS, "first", now=now)
    second = outbox.enqueue(ALERTS, "second", now=now)
    fake.delay("sendMessage", 2)
    stop = asyncio.Event()
    task = asyncio.create_task(
        app.run(stop=stop, handle_signals=False, polling_timeout=1, schedule=False,
                drain_every=0.2)
    )  # fmt: skip
    try:
        await fake.wait_for(lambda c: c.method == "sendMessage" and c.text == "first")
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        assert outbox.status(first) is OutboxStatus.SENT
        assert outbox.status(second) is OutboxStatus.PENDING
        assert [c.text for c in fake.calls if c.method == "sendMessage"] == ["first"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        app.monitor.state.close()
        await app.monitor.source.close()


# -- the command line -----------------------------------------------------------------------


def alertbot_run(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", "run"], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.slow
def test_run_on_a_state_file_in_use_exits_2_naming_the_holder(tmp_path: Path) -> None:
    """`alertbot run` while another holds the state file: exit 2, one sentence naming the
    holder's pid and what to do, no traceback, before anything else starts."""
    path = tmp_path / "state.sqlite3"
    holder = State(path, exclusive=True)
    try:
        done = alertbot_run({"BOT_TOKEN": TOKEN, "STATE_PATH": str(path),
                             "TELEGRAM_API_URL": "http://127.0.0.1:9"}, tmp_path)  # fmt: skip
    finally:
        holder.close()
    assert done.returncode == 2, done.stderr
    assert f"is in use by another alertbot (pid {os.getpid()})" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_another_program_s_sqlite_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """STATE_PATH naming another program's SQLite database: alertbot added its own twenty
    tables to it. Now it is refused, naming a few of its tables, and left as it was."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"another program's SQLite database \(tables users"):
        State(path, exclusive=True)
    assert path.read_bytes() == before
    State(tmp_path / "new.sqlite3", exclusive=True).close()  # the lock is free, a new file works


@pytest.mark.slow
def test_run_on_a_corrupt_state_file_exits_2_saying_how_to_recover(tmp_path: Path) -> None:
    """`alertbot run` on a file that is not SQLite: exit 2 saying to check STATE_PATH, no
    traceback, and the file untouched."""
    path = tmp_path / "state.sqlite3"
    _garbage(path)
    done = alertbot_run({"BOT_TOKEN": TOKEN, "STATE_PATH": str(path),
                         "TELEGRAM_API_URL": "http://127.0.0.1:9"}, tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{path} is not an SQLite database" in done.stderr and "STATE_PATH" in done.stderr
    assert "Traceback" not in done.stderr
    assert path.read_bytes() == random.Random(1).randbytes(64 * 1024)


@pytest.mark.slow
async def test_run_with_a_rejected_token_exits_2_without_printing_it(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """`alertbot run` whose token Telegram refuses (401): exit 2 with the sentence naming
    BOT_TOKEN, no traceback, the token nowhere in the output."""
    env = {"BOT_TOKEN": "42:WRONG-SECRET", "STATE_PATH": str(tmp_path / "s.db"),
           "TELEGRAM_API_URL": fake.url, "EMBEDDED_PATH": str(tmp_path / "demo")}  # fmt: skip
    done = await asyncio.to_thread(alertbot_run, env, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Telegram rejected BOT_TOKEN (401 Unauthorized): check the token from @BotFather" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr and "WRONG-SECRET" not in done.stderr + done.stdout


@pytest.mark.slow
async def test_run_retries_an_unreachable_bot_api_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    """`alertbot run` while the Bot API refuses connections: it keeps trying, a WARNING per
    try, and SIGTERM during the wait ends it with exit 0, no traceback, the lock released."""
    path = tmp_path / "state.sqlite3"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    env = {
        **base,
        "BOT_TOKEN": TOKEN,
        "STATE_PATH": str(path),
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
        "EMBEDDED_PATH": str(tmp_path / "demo"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    seen = b""
    try:
        while seen.count(b"failed at start-up") < 2:
            line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
            assert line, seen.decode()
            seen += line
    finally:
        process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stderr.read(), timeout=60)
        await process.wait()
    log = (seen + rest).decode()
    assert process.returncode == 0, log
    assert "WARNING" in log and "trying again in 2 s" in log
    assert "getMe at http://127.0.0.1:" in log and "(TELEGRAM_API_URL)" in log, log
    assert "Traceback" not in log and TOKEN.split(":")[1] not in log
    State(path, exclusive=True).close()  # the lock went with the process


# -- logs -----------------------------------------------------------------------------------


def test_the_log_filter_takes_secrets_out_of_messages_and_tracebacks() -> None:
    """A record whose arguments and exception text hold the token (as a proxy's error page
    echoing the URL would), its secret part alone, and the ClickHouse password comes out with
    none of them, the rest of the text kept."""
    token, password = "123:SECRET-part_x", "pa ss/word"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter([token, password, None, ""]))
    logger = logging.getLogger("tests.scrubbed")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        page = f"<h1>502 Bad Gateway</h1>http://api/bot{token}/sendMessage"
        try:
            raise ValueError(f"Content: {page} and /botSECRET-part_x/ and pa%20ss%2Fword")
        except ValueError:
            logger.exception("sending failed with %s via %s", page, password)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert "SECRET-part_x" not in text and "pa ss/word" not in text and "pa%20ss" not in text
    assert "Traceback" in text and "ValueError" in text and "502 Bad Gateway" in text
    assert text.count("***") >= 5


def test_a_state_path_under_a_file_names_that_file(tmp_path: Path) -> None:
    """STATE_PATH=/etc/passwd/s.db said "[Errno 17] File exists: '/etc/passwd'" (mkdir's words
    for a folder on the way that is a file): it now says that file is no folder, and what to
    set instead."""
    (tmp_path / "plain").write_text("x")
    path = tmp_path / "plain" / "deeper" / "s.db"
    with pytest.raises(StoreError) as refused:
        State(path)
    assert str(refused.value) == (
        f"cannot open the state file {path}: {tmp_path / 'plain'} is a file, not a folder; set "
        "STATE_PATH to a file in a folder this user can write to")


def test_a_state_path_that_is_a_folder_says_to_name_a_file(tmp_path: Path) -> None:
    """STATE_PATH=/srv/alertbot (a folder) said SQLite's "unable to open database file": it
    now says it is a folder and names a file in it to set instead; the folder is untouched."""
    with pytest.raises(StoreError) as refused:
        State(tmp_path)
    assert str(refused.value) == (f"{tmp_path} is a folder, not a file: set STATE_PATH to a "
                                  f"file, e.g. {tmp_path / 'alertbot.sqlite3'}")  # fmt: skip
    assert list(tmp_path.iterdir()) == []
