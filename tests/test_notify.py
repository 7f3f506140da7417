"""`alertbot check --notify` as cron or Airflow runs it: a real process, the embedded demo, the
fake Bot API over HTTP, the state file shared between runs."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.buttons import Action, unpack
from bot.state import State
from tests.conftest import clear_of_the_next_bucket
from tests.fakebot import FakeTelegram
from tests.test_cli import alertbot

# Each test runs `alertbot check --notify` as separate processes over a fresh demo: minutes in all.
pytestmark = pytest.mark.slow

ALERTS = ("sendPhoto", "sendMessage")
EDITS = ("editMessageCaption", "editMessageText")


async def notify(env: dict[str, str], *extra: str) -> tuple[int, str, str]:
    """One `alertbot check --notify` run; the fake server keeps answering while it runs."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check", "--notify", *extra, env={**base, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def seed(path: Path, end: datetime) -> None:
    done = alertbot("seed", "--days", "8", "--end", end.isoformat(),
                    env={"EMBEDDED_PATH": str(path)})  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    telegram = FakeTelegram("9:NOTIFY")
    await telegram.start()
    yield telegram
    await telegram.stop()


def sent(fake: FakeTelegram, chat: int) -> list[str]:
    return [c.text for c in fake.calls if c.method in ALERTS and c.chat_id == chat]


async def test_two_runs_send_one_alert_then_nothing_and_recovery_resolves_it(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A demo incident ongoing now: the first run alerts the chat once, a second run on the
    same state sends nothing new (the incident continues); a run over data that has recovered
    resolves the incident, edits the alert (keeping False alarm, the mutes and the chart) and
    says so in the chat."""
    await clear_of_the_next_bucket(150)  # the two runs must check the same bucket
    now = datetime.now(UTC)
    seed(tmp_path / "ongoing", now)
    env = {"EMBEDDED_PATH": str(tmp_path / "ongoing"), "STATE_PATH": str(tmp_path / "s.db"),
           "BOT_TOKEN": "9:NOTIFY", "TELEGRAM_API_URL": fake.url,
           "ALERT_CHAT_IDS": "-100", "ADMIN_IDS": "1"}  # fmt: skip

    code, out, err = await notify(env, "--json")
    assert code == 0, err[-2000:]
    assert '"anomaly"' in out  # the check's own output is still printed
    first = sent(fake, -100)
    assert first and any("Android" in text for text in first), first
    said = re.search(r"notify: (\d+) (messages?) sent", err)
    assert said and said[2] == ("message" if said[1] == "1" else "messages"), err[-2000:]

    code, _, err = await notify(env)
    assert code == 0, err[-2000:]
    assert sent(fake, -100) == first  # the same incident: no second alert
    assert not [c for c in fake.calls if c.method in EDITS]

    # The data recovers: a demo whose incident ended a day ago, extended to now with normal data.
    seed(tmp_path / "recovered", now - timedelta(days=1))
    env |= {"EMBEDDED_PATH": str(tmp_path / "recovered"), "RESOLVE_AFTER": "1"}
    code, _, err = await notify(env)
    assert code == 0, err[-2000:]
    edits = [c for c in fake.calls if c.method in EDITS and c.chat_id == -100]
    assert edits, [c.method for c in fake.calls]
    for edit in edits:  # resolved, the alert keeps what can still be done: not Ack
        actions = {(unpack(b["callback_data"]) or (None,))[0] for b in edit.buttons}
        assert {Action.FALSE, Action.MUTE, Action.SHOW} <= actions and Action.ACK not in actions
    resolved = sent(fake, -100)[len(first) :]
    assert resolved and all("back to normal" in text for text in resolved), resolved
    assert "9:NOTIFY" not in out + err  # the token never leaks


async def test_a_run_beside_a_lock_holder_exits_2_saying_who_holds_it(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """While another alertbot holds the state file (here: this test, as `alertbot run` would),
    --notify exits 2 with one sentence naming the holder, and sends nothing."""
    path = tmp_path / "s.db"
    holder = State(path, exclusive=True)
    try:
        env = {"EMBEDDED_PATH": str(tmp_path / "demo"), "STATE_PATH": str(path),
               "BOT_TOKEN": "9:NOTIFY", "TELEGRAM_API_URL": fake.url}  # fmt: skip
        code, out, err = await notify(env)
    finally:
        holder.close()
    assert code == 2, err
    assert "in use by another alertbot" in err and f"pid {os.getpid()}" in err
    assert "Traceback" not in err and out == ""
    assert not [c for c in fake.calls if c.method in ALERTS]


def test_notify_without_a_token_or_with_at_is_a_usage_error(tmp_path: Path) -> None:
    """--notify needs BOT_TOKEN and checks as of now: each mistake exits 2 with a sentence."""
    env = {"STATE_PATH": str(tmp_path / "s.db"), "EMBEDDED_PATH": str(tmp_path / "demo")}
    done = alertbot("check", "--notify", env=env)
    assert done.returncode == 2 and "BOT_TOKEN is not set" in done.stderr, done.stderr
    done = alertbot("check", "--notify", "--at", "2024-01-01T00:00",
                    env={**env, "BOT_TOKEN": "9:NOTIFY"})  # fmt: skip
    assert done.returncode == 2 and "drop --at" in done.stderr, done.stderr


@pytest.mark.parametrize(("token", "said"), [
    ("9:WRONG", "Telegram rejected BOT_TOKEN (401 Unauthorized)"),
    ("9:NOTIFY", "does not know BOT_TOKEN (404 Not Found)"),
])  # fmt: skip
async def test_a_token_telegram_refuses_exits_2_at_once_and_checks_nothing(
    fake: FakeTelegram, tmp_path: Path, token: str, said: str
) -> None:
    """A token Telegram refuses: every run ran its check, kept its alerts 'waiting for a
    retry' for a minute and exited 0, so a scheduler saw success while no alert could ever
    go. Now the run asks getMe first and exits 2 with the sentence `alertbot run` says."""
    if token == "9:NOTIFY":  # a token Telegram cannot even parse gets a 404
        fake.fail_next("getMe", 404, "Not Found")
    env = {"EMBEDDED_PATH": str(tmp_path / "demo"), "STATE_PATH": str(tmp_path / "s.db"),
           "BOT_TOKEN": token, "TELEGRAM_API_URL": fake.url, "ALERT_CHAT_IDS": "-2"}  # fmt: skip
    code, out, err = await notify(env)
    assert code == 2 and said in err and "Traceback" not in err, err[-2000:]
    assert out == ""
    assert not [c for c in fake.calls if c.method in ALERTS]
    assert not (tmp_path / "demo").exists()  # no check ran: not even the demo was made


async def test_alerts_to_an_alert_chat_that_removed_the_bot_are_said_dropped_and_exit_2(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """The only alert chat kicked the bot: stderr says how many messages were dropped, for
    which chat and why, the admin is told what to do, and the run exits 2 (a setting or the
    chat must change; the next run would lose its alerts the same way)."""
    seed(tmp_path / "demo", datetime.now(UTC))
    fake.chat_gone(-2, 403, "Forbidden: bot was kicked from the group chat")
    env = {"EMBEDDED_PATH": str(tmp_path / "demo"), "STATE_PATH": str(tmp_path / "s.db"),
           "BOT_TOKEN": "9:NOTIFY", "TELEGRAM_API_URL": fake.url,
           "ALERT_CHAT_IDS": "-2", "ADMIN_IDS": "1"}  # fmt: skip
    code, _, err = await notify(env)
    assert code == 2, err[-2000:]
    # the one message sent: the admin's notice
    said = re.search(r"notify: 1 message sent, 0 waiting for a retry, (\d+) dropped: "
                     r"chat -2 removed the bot \(403\)", err)  # fmt: skip
    assert said and int(said[1]) >= 1, err[-2000:]
    told = [c.text for c in fake.calls if c.method == "sendMessage" and c.chat_id == 1]
    assert len(told) == 1 and "ALERT_CHAT_IDS" in told[0], told
