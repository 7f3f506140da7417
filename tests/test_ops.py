"""Running it in production: the log lines, /healthz and /metrics, webhook mode and reload,
through real aiogram and the fake Bot API server (in-process), and through the real
`alertbot run` process for what only a process shows (JSON on stderr, SIGHUP)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import BotApp
from bot.core.report import CheckReport
from bot.runtime import listen
from bot.service.ops import Ops
from bot.settings import Settings, SettingsError, load_settings
from bot.state import State
from queries.sources import ClickHouseSource
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, ALERTS, TOKEN, USER, running, settings_for

BUNDLED = Path(__file__).resolve().parents[1] / "queries"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(
        f"http://127.0.0.1:{port}{path}"
    ) as response:
        return response.status, await response.text()


def metric(text: str, name: str) -> float:
    """The value of one sample line of /metrics (`name` with its labels, as printed)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics:\n{text}")


def app_of(monitor: Any) -> BotApp:
    app: BotApp = monitor.app
    return app


async def test_start_up_check_and_sent_messages_are_logged(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At INFO the bot logs one start-up line (version, source, metrics, interval, alert chats,
    mode), one line per check (series, anomalies, rows read, duration) and one per message
    sent."""
    caplog.set_level(logging.INFO)
    port = free_port()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=port)
    async with running(settings, fake):
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        await asyncio.sleep(0.5)
    messages = [r.getMessage() for r in caplog.records]
    (start,) = [m for m in messages if " starting: " in m]
    assert "source the embedded database" in start and "6 metrics" in start, start
    assert "checks every 15 minutes," in start and f"alert chats {ALERTS}" in start, start
    assert "long polling" in start
    (check,) = [m for m in messages if m.startswith("check ")]
    assert "series" in check and "anomalies" in check and "rows read" in check, check
    assert any(m.startswith("sent telegram message") and str(ALERTS) in m for m in messages)
    assert any(f"http://127.0.0.1:{port}" in m for m in messages)  # where /healthz is


@pytest.mark.slow
async def test_healthz_and_metrics_after_a_check(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """After a successful check /healthz answers 200 ok, and /metrics counts the check, its
    series and anomalies, the alert sent, the open incident, an empty outbox and the Bot API
    error at start-up."""
    port = free_port()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=port)
    fake.fail_next("getMe", 502, "Bad Gateway")
    async with running(settings, fake):
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        await asyncio.sleep(0.5)
        status, body = await get(port, "/healthz")
        assert status == 200, body
        assert json.loads(body)["status"] == "ok"
        status, text = await get(port, "/metrics")
    assert status == 200
    assert metric(text, 'alertbot_checks_total{outcome="ok"}') == 1
    assert metric(text, 'alertbot_checks_total{outcome="failed"}') == 0
    assert metric(text, "alertbot_check_duration_seconds_count") == 1
    assert metric(text, "alertbot_series_checked") > 50
    assert metric(text, "alertbot_anomalies") >= 1
    assert metric(text, "alertbot_open_incidents") >= 1
    assert metric(text, 'alertbot_messages_total{channel="telegram",outcome="sent"}') >= 1
    assert metric(text, "alertbot_outbox_pending") == 0
    assert metric(text, "alertbot_outbox_oldest_pending_seconds") == 0
    assert metric(text, "alertbot_last_success_timestamp_seconds") > 1.7e9
    assert "alertbot_source_errors_total" in text
    api = 'alertbot_telegram_api_errors_total{error="TelegramServerError",method="getMe"}'
    assert metric(text, api) == 1


def test_the_last_success_survives_a_restart(tmp_path: Path) -> None:
    """alertbot_last_success_timestamp_seconds read 0 after every restart until the first
    check, so the README's alert rule (time() - it > 1800) fired at each deploy. It is the
    state file's last check that read every table: not a failed one's, nor 0."""
    state = State(tmp_path / "s.db")
    try:
        assert "alertbot_last_success_timestamp_seconds 0.0" in _text_of(Ops(state))
        ok = datetime(2026, 12, 1, 12, 0, 3, tzinfo=UTC)
        state.journal.record_check(ok, ok, 60, 1, {})
        failed = datetime(2026, 12, 1, 12, 15, 2, tzinfo=UTC)
        state.journal.record_check(failed, failed, 0, 0, {"feed_actions": "no answer"})
        text = _text_of(Ops(state))
    finally:
        state.close()
    assert metric(text, "alertbot_last_success_timestamp_seconds") == ok.timestamp(), text


def _text_of(ops: Ops) -> str:
    from prometheus_client import generate_latest

    return generate_latest(ops.registry).decode()


async def test_healthz_before_any_check(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """With no check yet /healthz says "starting" (200) within the start-up grace, and 503
    with the reason once the grace is over."""
    port = free_port()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=port)
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        status, body = await get(port, "/healthz")
        assert (status, json.loads(body)["status"]) == (200, "starting")
        app_of(monitor).health.grace = 0.0
        status, body = await get(port, "/healthz")
    assert status == 503
    assert "no check has finished" in json.loads(body)["reason"]


async def test_a_token_revoked_while_running_is_said_once_and_fails_healthz(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Telegram answers 401 to getUpdates once the bot runs (the token revoked in @BotFather):
    aiogram logged "Failed to fetch updates - TelegramUnauthorizedError" every few seconds,
    never naming BOT_TOKEN, and /healthz said ok. It is said once, with what to do; /healthz
    fails with it; and once Telegram takes the token again both say so."""
    port = free_port()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=port)
    caplog.set_level(logging.INFO)
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        app_of(monitor).health.grace = 1e6  # no check is due: only the token is judged
        for _ in range(3):
            fake.fail_next("getUpdates", 401, "Unauthorized")
        await fake.wait_for(lambda c: c.method == "getUpdates!401", count=2, seconds=15)
        status, body = await get(port, "/healthz")
        assert status == 503, body
        assert json.loads(body)["reason"].startswith(
            "Telegram refuses BOT_TOKEN (401 Unauthorized): it was revoked or replaced"), body
        await fake.wait_for(lambda c: c.method == "getUpdates!401", count=3, seconds=15)
        for _ in range(50):  # the next getUpdates, after aiogram's backoff, goes through
            status, body = await get(port, "/healthz")
            if status == 200:
                break
            await asyncio.sleep(0.2)
        assert (status, json.loads(body)["status"]) == (200, "starting"), body
    said = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("Telegram refuses BOT_TOKEN") for m in said) == 1, said
    assert not [m for m in said if "TelegramUnauthorizedError" in m], said
    assert said.count("Telegram takes BOT_TOKEN again") == 1, said


async def test_healthz_and_metrics_when_the_source_is_down(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A ClickHouse nobody answers at: /healthz turns 503 naming the source errors, /metrics
    counts a failed check and an error per table."""
    port = free_port()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=port)
    source = ClickHouseSource(closed_url(), database="x", timeout=5, retries=1, backoff=0.1)
    async with running(settings, fake, source=source):
        await fake.wait_for(lambda c: c.chat_id == ALERTS and "ClickHouse" in c.text, seconds=60)
        status, body = await get(port, "/healthz")
        _, text = await get(port, "/metrics")
    assert status == 503, body
    answer = json.loads(body)
    assert answer["status"] == "failing" and "source errors" in answer["reason"]
    assert metric(text, 'alertbot_checks_total{outcome="failed"}') == 1
    # Its own duration, once (not the last successful check's again, nor none at all).
    assert metric(text, "alertbot_check_duration_seconds_count") == 1
    assert metric(text, "alertbot_check_duration_seconds_sum") > 0
    assert metric(text, 'alertbot_source_errors_total{table="feed_actions"}') == 1
    assert metric(text, "alertbot_last_success_timestamp_seconds") == 0


def webhook_update(text: str, user: int) -> dict[str, Any]:
    """An update as Telegram POSTs it to a webhook: a private message with a command."""
    command = text.split(maxsplit=1)[0]
    return {"update_id": 77, "message": {
        "message_id": 5, "date": 1_700_000_000, "text": text,
        "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "Ann"},
        "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
    }}  # fmt: skip


async def test_webhook_mode_end_to_end(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """With WEBHOOK_URL the bot calls setWebhook with the URL and the secret, takes updates
    POSTed to the URL's path on its HTTP server (no polling), answers one with the right
    secret through the Bot API, and refuses one with a wrong secret (401, no reply)."""
    port = free_port()
    url, secret = f"http://127.0.0.1:{port}/telegram/hook", "s3cret-Token_1"
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=port,
                            webhook_url=url, webhook_secret=secret)  # fmt: skip
    async with running(settings, fake, schedule=False):
        (hook,) = await fake.wait_for(lambda c: c.method == "setWebhook")
        assert hook.data["url"] == url and hook.data["secret_token"] == secret
        assert hook.data.get("drop_pending_updates", "false") == "false"
        async with aiohttp.ClientSession() as session:
            wrong = await session.post(url, json=webhook_update("/start", 8),
                                       headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
            right = await session.post(url, json=webhook_update("/start", USER),
                                       headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            assert (wrong.status, right.status) == (401, 200)
        (hello,) = await fake.wait_for(lambda c: c.chat_id == USER, seconds=30)
        assert "/check" in hello.text
        await asyncio.sleep(0.5)
        assert fake.sent_to(8) == []
        status, _ = await get(port, "/healthz")  # the same server
        assert status == 200
    assert not [c for c in fake.calls if c.method == "getUpdates"]
    assert secret not in json.dumps([c.data for c in fake.calls if c.method != "setWebhook"])


async def test_reload_keeps_a_broken_catalogue_out(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/reload (admins) with a broken catalogue keeps the old one and says why; a good one is
    taken; a reloadable setting changed in .env (REPEAT_INTERVAL) applies, a bad .env keeps
    the old settings, ADMIN_IDS is named as needing a restart; an admin who chose Russian
    reads it all in Russian."""
    folder = tmp_path / "catalogue"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    toml = folder / "catalogue.toml"
    values: dict[str, Any] = {"catalogue_path": toml}
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=0, **values)

    def read_again() -> Settings:
        return settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=0, **values)

    async def reload() -> str:
        before = len(fake.sent_to(ADMIN))
        await fake.send("/reload", user=ADMIN)
        calls = await fake.wait_for(lambda c: c.chat_id == ADMIN, count=before + 1)
        return calls[-1].text

    async with running(settings, fake, schedule=False, warm=False) as monitor:
        app_of(monitor).read_settings = read_again
        old = monitor.catalogue
        good = toml.read_text()
        toml.write_text(good + "\n[metrics.views\n")
        answer = await reload()
        assert "Catalogue not reloaded, the old one stays" in answer, answer
        assert monitor.catalogue is old
        toml.write_text(good.replace('"Views"', '"Feed views"', 1))
        values.update(repeat_interval="2h", admin_ids="1,3")
        answer = await reload()
        assert "Catalogue reloaded: 6 metrics" in answer, answer
        assert monitor.catalogue.metrics["views"].title == "Feed views"
        assert "Settings reloaded: REPEAT_INTERVAL" in answer and "ADMIN_IDS" in answer
        assert app_of(monitor).notifier.policy.repeat.total_seconds() == 7200
        values.update(repeat_interval="soon")
        with pytest.raises(SettingsError):
            read_again()
        answer = await reload()
        assert "Settings not reloaded" in answer and "REPEAT_INTERVAL" in answer
        assert app_of(monitor).notifier.policy.repeat.total_seconds() == 7200
        # A CATALOGUE_PATH naming no file is a bad .env value too: nothing of it is taken. It
        # was half taken: RESOLVE_AFTER applied, "Settings reloaded: CATALOGUE_PATH" said, and
        # the next restart stopped on the file.
        values.update(repeat_interval="3h", catalogue_path=tmp_path / "nowhere.toml")
        answer = await reload()
        assert answer.startswith("🔄 Nothing reloaded; what is in force stays.\nSettings not "
                                 "reloaded, the old ones stay: "
                                 f"CATALOGUE_PATH={tmp_path / 'nowhere.toml'} names a catalogue "
                                 "that is refused\nCatalogue not reloaded, the old one stays: "
                                 "cannot read catalogue"), answer  # fmt: skip
        assert app_of(monitor).notifier.policy.repeat.total_seconds() == 7200
        assert monitor.settings.catalogue_path == toml and monitor.catalogue.metrics["views"]
        values.update(repeat_interval="soon", catalogue_path=toml)
        before = len(fake.sent_to(ADMIN))
        await fake.send("/lang ru", user=ADMIN)
        await fake.wait_for(lambda c: c.chat_id == ADMIN, count=before + 1)
        answer = await reload()  # in the admin's language; the reason as the setting says it
        assert "Настройки не перечитаны, действуют прежние: " in answer, answer
        assert "REPEAT_INTERVAL" in answer and "Каталог перечитан: 6 метрик (" in answer, answer
        assert "reloaded" not in answer.lower(), answer
        await fake.send("/reload", user=USER)  # not an admin
        (refused,) = await fake.wait_for(lambda c: c.chat_id == USER)
        assert "only admins" in refused.text


@pytest.mark.slow
async def test_real_process_logs_json_reloads_on_sighup_and_hides_the_token(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """`alertbot run` with LOG_FORMAT=json and an unreachable ClickHouse: every stderr line is
    a JSON object (time, level, logger, message), among them the start-up line, the failing
    check and the source error; SIGHUP with a broken catalogue keeps the old one and logs why;
    /healthz says 503; no secret in the log."""
    port = free_port()
    folder = tmp_path / "catalogue"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    env = {**base, "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.url, "LOG_FORMAT": "json",
           "STATE_PATH": str(tmp_path / "b.db"), "ALERT_CHAT_IDS": str(ALERTS),
           "CLICKHOUSE_URL": closed_url(), "CLICKHOUSE_PASSWORD": "pw-never-logged",
           "CLICKHOUSE_TIMEOUT": "5", "HTTP_PORT": str(port),
           "CATALOGUE_PATH": str(folder / "catalogue.toml"),
           "PYTHONPATH": str(BUNDLED.parent)}  # this tree's code, whatever pip installed
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake.wait_for(lambda c: c.chat_id == ALERTS and "ClickHouse" in c.text, seconds=120)
        status, body = await get(port, "/healthz")
        assert status == 503 and "source errors" in json.loads(body)["reason"]
        (folder / "feed_actions.sql").unlink()
        process.send_signal(signal.SIGHUP)
        await asyncio.sleep(1.0)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    text = stderr.decode()
    assert process.returncode == 0, text[-2000:]
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any(" starting: source ClickHouse at" in m for m in messages), messages
    assert any(m.startswith("check failed: 0 series") for m in messages), messages
    assert any(m.startswith("source error: feed_actions") for m in messages), messages
    assert any(m.startswith("reload: Catalogue not reloaded, the old one stays: cannot read "
                            "feed_actions.sql") for m in messages), messages
    for secret in (TOKEN, TOKEN.split(":")[1], "pw-never-logged"):
        assert secret not in text


def catches(pid: int, number: int) -> bool:
    """Whether the process has its own handler for signal `number` (SigCgt in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (number - 1) & 1)
    return False


async def run_process(fake: FakeTelegram, tmp_path: Path,
                      **env: str) -> asyncio.subprocess.Process:  # fmt: skip
    """`alertbot run` as a process of its own, on `fake`, its source a port nobody listens on,
    its stderr piped."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    env = {**base, "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.url,
           "STATE_PATH": str(tmp_path / "b.db"), "CLICKHOUSE_URL": closed_url(),
           "PYTHONPATH": str(BUNDLED.parent), **env}  # fmt: skip
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
async def test_sigterm_while_the_bot_starts_exits_0_without_a_traceback(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A redeploy's SIGTERM in the seconds `alertbot run` takes to start (imports, the state
    file, Telegram) stops it as one a moment later would: exit 0, no traceback, nothing sent;
    not death by the signal (-15), which a service manager reports as a failure."""
    process = await run_process(fake, tmp_path)
    try:
        # The first moment it can be stopped cleanly; on a machine busy with other work the
        # imports alone can take several seconds, so the wait is long and ends at once.
        for _ in range(6000):
            if process.returncode is not None or catches(process.pid, signal.SIGTERM):
                break
            await asyncio.sleep(0.01)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, (process.returncode, stderr.decode()[-2000:])
    text = stderr.decode()
    assert "Traceback" not in text and " starting: " not in text, text[-2000:]  # stopped early
    assert "SIGTERM before the bot had started: stopped" in text, text[-2000:]
    assert not [c for c in fake.calls if c.method.startswith("send")]


async def test_webhook_needs_its_secret_and_the_http_server(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """WEBHOOK_URL without WEBHOOK_SECRET (anyone could post commands as an admin), or with
    HTTP_PORT=0 (nothing would listen), stops `alertbot run` with a sentence naming them."""
    url = "https://bot.example.com/hook"
    lone = settings_for(fake.url, embedded_spec, tmp_path / "s.db", webhook_url=url)
    with pytest.raises(SettingsError, match="WEBHOOK_URL is set without WEBHOOK_SECRET"):
        await listen(lone, None, None, None)  # type: ignore[arg-type]
    off = settings_for(fake.url, embedded_spec, tmp_path / "s.db", webhook_url=url,
                       webhook_secret="abc", http_port=0)  # fmt: skip
    with pytest.raises(SettingsError, match="set HTTP_PORT"):
        await listen(off, None, None, None)  # type: ignore[arg-type]


def test_new_settings_are_validated_and_secrets_not_echoed() -> None:
    """LOG_LEVEL, LOG_FORMAT, HTTP_PORT and WEBHOOK_SECRET refuse bad values, each named in
    one sentence; the bad secret itself is never repeated."""
    with pytest.raises(SettingsError) as error:
        load_settings(log_level="loud", log_format="xml", http_port=70000,
                      webhook_secret="has spaces!")  # fmt: skip
    text = str(error.value)
    for name in ("LOG_LEVEL", "LOG_FORMAT", "HTTP_PORT", "WEBHOOK_SECRET"):
        assert name in text, text
    assert "has spaces" not in text
    good = load_settings(log_level="debug", log_format="JSON", http_port=0)
    assert (good.log_level, good.log_format, good.http_port) == ("DEBUG", "json", 0)


def test_source_errors_and_recoveries_are_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A table that cannot be read is logged as a source error when it starts failing (not on
    every check), and as recovered when a check reads it again."""
    caplog.set_level(logging.INFO)
    state = State(tmp_path / "s.db")
    try:
        ops = Ops(state)
        at = datetime(2026, 11, 27, 12, tzinfo=UTC)
        down = CheckReport(at, "ClickHouse", at, errors={"feed_actions": "cannot connect"})
        ops.checked(down, 1.0)
        ops.checked(down, 1.0)
        ops.checked(CheckReport(at, "ClickHouse", at), 1.0)
    finally:
        state.close()
    messages = [r.getMessage() for r in caplog.records]
    errors = [m for m in messages if m.startswith("source error: feed_actions")]
    assert len(errors) == 1 and "cannot connect" in errors[0], messages
    assert "source recovered: feed_actions can be read again" in messages
    assert [m.split(":")[0] for m in messages if m.startswith("check ")] == [
        "check failed", "check failed", "check ok"]
