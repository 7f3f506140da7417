"""Operations found wanting by an attack on the running service: what a reload, a signal at
start-up and a failing or flapping source do, as operators meet them."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.app import BotApp
from bot.channels import TelegramChannel
from bot.service.delivery import Delivery
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import OutboxStatus, State
from queries.catalogue import load_catalogue
from queries.sources import ClickHouseSource
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import (
    ADMIN,
    ALERTS,
    TOKEN,
    USER,
    Clock,
    fake,
    reply,
    running,
    settings_for,
)
from tests.test_chat import silent_server
from tests.test_cli import clean_env
from tests.test_ops import (
    app_of,
    catches,
    closed_url,
    free_port,
    run_process,
    webhook_update,
)

__all__ = ["fake", "silent_server"]  # the fixtures of tests/test_bot.py and test_chat.py

BUNDLED = Path(__file__).resolve().parents[1] / "queries"
VIEWS_AGAIN = '''
[metrics.views2]
title = "Views again"
kind = "count"
table = "feed_actions"
column = "views"
'''


async def test_commands_read_the_catalogue_a_reload_took(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A metric added to the catalogue and reloaded (SIGHUP or /reload) is one the chat's
    commands know: polling handed every update the catalogue of the start, so /metric views2
    was "no metric" while the checks alerted on it, and /mute views2 was refused."""
    folder = tmp_path / "catalogue"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    toml = folder / "catalogue.toml"
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=0,
                            catalogue_path=toml)  # fmt: skip

    def read_again() -> Settings:
        return settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=0,
                            catalogue_path=toml)  # fmt: skip

    async with running(settings, fake, schedule=False, warm=False) as monitor:
        app = app_of(monitor)
        app.read_settings = read_again
        before = (await reply(fake, "/metric views2", user=USER))[0]
        toml.write_text(toml.read_text() + VIEWS_AGAIN)
        said = await app.reload()  # as SIGHUP does
        after = (await reply(fake, "/metric views2", user=USER))[0]
        muted = (await reply(fake, "/mute views2 1h", user=ADMIN))[0]
        listed = (await reply(fake, "/metrics", user=USER))[0]
    assert "There is no metric" in before, before
    assert "Catalogue reloaded: 7 metrics" in said, said
    assert after.startswith("<b>Views again</b>"), after
    assert "Views again" in muted and "muted" in muted.lower(), muted
    assert "views2" in listed, listed


@pytest.mark.slow
async def test_sighup_while_the_bot_starts_reloads_once_it_has_started(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A reload asked in the seconds `alertbot run` takes to start (config management editing
    .env right after a restart) is done once it has started: by default SIGHUP ended the
    process (exit -1), and systemd's Restart=on-failure does not restart a process a signal
    ended cleanly."""
    process = await run_process(fake, tmp_path, HTTP_PORT="0")
    lines: list[str] = []
    try:
        for _ in range(6000):  # the moment it notes an early SIGTERM: seconds from started
            if process.returncode is not None or catches(process.pid, signal.SIGTERM):
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGHUP)
        assert process.stderr is not None
        async with asyncio.timeout(120):
            while not any("reload: Catalogue reloaded" in line for line in lines):
                raw = await process.stderr.readline()
                assert raw, "".join(lines[-30:])  # it ended: the SIGHUP killed it
                lines.append(raw.decode())
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.communicate(), timeout=60)
    text = "".join(lines) + rest[1].decode()
    assert process.returncode == 0, (process.returncode, text[-2000:])
    assert "SIGHUP before the bot had started: reloading now" in text, text[-2000:]
    assert "Traceback" not in text, text[-2000:]


@pytest.mark.slow
async def test_a_telegram_that_does_not_answer_costs_a_drain_one_timeout_not_one_each(
    tmp_path: Path,
) -> None:
    """Telegram hangs (each send times out): the drain after a check tried every message in
    turn, a whole timeout each, so the scheduled checks stood still for minutes. Now the first
    timeout pauses the channel until that message's retry: one try per drain, the rest kept."""
    server = FakeTelegram(TOKEN)
    await server.start()
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url), timeout=0.5)
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    state = State(tmp_path / "s.db")
    try:
        server.delay("sendMessage", 3)  # received at once, answered after the timeout
        rows = [state.outbox.enqueue(ALERTS, f"notice {n}", now=datetime.now(UTC))
                for n in range(3)]  # fmt: skip
        outbox = Delivery(state, {"telegram": TelegramChannel(bot)})
        assert await outbox.drain() == 0
        assert await outbox.drain() == 0  # within the pause: nothing tried
        tried = [c for c in server.calls if c.method == "sendMessage"]
        assert len(tried) == 1, tried
        assert all(state.outbox.status(r) is OutboxStatus.PENDING for r in rows)
    finally:
        state.close()
        await bot.session.close()
        await server.stop()


@pytest.mark.slow
async def test_a_stop_gives_the_work_in_flight_one_deadline_in_all(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, silent_server: str
) -> None:
    """SIGTERM while a check hangs on the source and a send hangs on Telegram: each of the two
    got the whole grace in turn (2 x 30 s, past systemd's TimeoutStopSec=30s, which then kills
    mid-send). Now one deadline covers both: the stop takes the grace, not twice it."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=0)
    state = State(settings.state_path)
    state.outbox.enqueue(ALERTS, "a notice Telegram will not answer", now=datetime.now(UTC))
    state.close()
    fake.delay("sendMessage", 8)
    source = ClickHouseSource(silent_server, database="simulator")
    monitor = Monitor(source=source, catalogue=load_catalogue(),
                      state=State(settings.state_path), settings=settings,
                      clock=Clock())  # fmt: skip
    app = BotApp(settings, monitor)
    app.shutdown_grace = 3.0
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop=stop, handle_signals=False, polling_timeout=1,
                                       drain_every=0.2))  # fmt: skip
    try:
        await fake.wait_for(lambda c: c.method == "sendMessage")  # in flight, unanswered
        await asyncio.sleep(0.5)  # ... and the start-up check stuck on the source
        asked = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        took = time.monotonic() - asked
    finally:
        monitor.state.close()
        await source.close()
    assert 3.0 <= took < 5.5, took  # 6 s and more when each task had the grace of its own


@pytest.mark.parametrize(("command", "extra", "code", "said"), [
    (["run"], {}, 2, "BOT_TOKEN is not set"),
    (["check", "--json"], {"CLICKHOUSE_URL": "closed"}, 1, "cannot connect to ClickHouse at"),
])  # fmt: skip
def test_with_json_logs_the_line_that_says_why_it_stopped_is_json_too(
    tmp_path: Path, command: list[str], extra: dict[str, str], code: int, said: str
) -> None:
    """LOG_FORMAT=json: every line on stderr is a JSON object, the last one, which says why
    the command stopped, included: it was plain text, which a log pipeline reading JSON lines
    drops or mangles, and it is the one that says why the service died."""
    env = {**clean_env(), "HOME": str(tmp_path), "STATE_PATH": str(tmp_path / "s.db"),
           "LOG_FORMAT": "json", "CLICKHOUSE_PASSWORD": "pw-never-said", **extra}  # fmt: skip
    if env.get("CLICKHOUSE_URL") == "closed":
        env["CLICKHOUSE_URL"] = closed_url()
    done = subprocess.run([sys.executable, "-m", "bot", *command], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == code, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # each one JSON
    assert lines[-1]["level"] == "CRITICAL" and said in lines[-1]["message"], lines[-1]
    assert "pw-never-said" not in done.stderr


async def test_a_webhook_body_that_is_no_update_is_a_bad_request(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """With the right secret, a body that is not JSON got 500, and JSON that is no update got
    200 with "Task exception was never retrieved" in the log: both are 400 now, nothing is
    logged as an error, and a real update after them is answered. Without the secret: 401,
    whatever the body."""
    port = free_port()
    url, secret = f"http://127.0.0.1:{port}/telegram/hook", "s3cret-Token_1"
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=port,
                            webhook_url=url, webhook_secret=secret)  # fmt: skip
    right = {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with running(settings, fake, schedule=False, warm=False):
        await fake.wait_for(lambda c: c.method == "setWebhook")
        async with aiohttp.ClientSession() as session:
            statuses = []
            for body, headers in ((b"{not json", right), (b'{"hello": [1, 2]}', right),
                                  (b'{"update_id": "x"}', right), (b"{not json", {})):
                async with session.post(url, data=body, headers=headers) as answer:
                    statuses.append(answer.status)
            async with session.post(url, json=webhook_update("/start", USER),
                                    headers=right) as answer:  # fmt: skip
                statuses.append(answer.status)
        (hello,) = await fake.wait_for(lambda c: c.chat_id == USER, seconds=30)
        await asyncio.sleep(0.3)
    assert statuses == [400, 400, 400, 401, 200], statuses
    assert "/check" in hello.text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text
