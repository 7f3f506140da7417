"""An alert (and a digest) is edited to say it resolved even when Telegram fails that edit
the first time: the edit after a check is tried again after the next checks, as a message in
the outbox is, not given up at once. Real aiogram against the fake Bot API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from bot.service.monitor import Monitor
from tests import test_bot
from tests.conftest import END, SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ALERTS, fake, settings_for

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py


@asynccontextmanager
async def _opened(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, database: str
) -> AsyncIterator[tuple[Monitor, test_bot.Clock, set[int | None]]]:
    """The bot on the lifecycle data (`database`) after its first check at END: the monitor,
    the clock the tests move, and the message ids of the alerts that check sent."""
    spec = await test_bot.lifecycle_spec(embedded_spec, database)
    settings = settings_for(fake.url, spec, tmp_path / "s.db")
    clock = test_bot.Clock()
    async with test_bot.running(settings, fake, clock, schedule=False) as monitor:
        await monitor.app.tick()  # type: ignore[attr-defined]
        yield monitor, clock, {c.message_id for c in fake.calls
                               if c.method == "sendPhoto" and c.chat_id == ALERTS and c.buttons}


@pytest.mark.parametrize("failure", [(502, "Bad Gateway"),
                                     (400, "Bad Request: message to edit not found")])
async def test_a_resolved_alert_whose_edit_met_a_502_is_edited_at_the_next_check(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, failure: tuple[int, str]
) -> None:
    """Telegram (or a proxy before it) answers 502 to the edits that would say '✅ resolved
    after …': the alerts kept saying the metric was off, with their Ack, for good, although the
    'back to normal' messages (outbox) arrived. Now the next check edits them, and then
    nothing is left to retry. A message deleted meanwhile ('message to edit not found') is
    never tried again: no retry can reach it."""
    status, description = failure
    async with _opened(fake, embedded_spec, tmp_path, "editretry") as (monitor, clock, alerts):
        app = monitor.app  # type: ignore[attr-defined]
        assert alerts
        opened = [i for m in monitor.catalogue.metrics
                  if (i := monitor.state.incidents.open_for(m)) is not None]  # fmt: skip
        minutes = 0
        while any(monitor.state.incidents.open_for(i.metric) for i in opened):
            minutes += 15
            assert minutes < 6 * 60, "the incidents never resolved"
            clock.now = END + timedelta(minutes=minutes)
            fake.failures.clear()
            for _ in range(len(alerts)):
                fake.fail_next("editMessageCaption", status, description)
            await app.tick()

        def resolved() -> set[int | None]:
            return {c.message_id for c in fake.calls if c.method == "editMessageCaption"
                    and c.text.startswith("✅ resolved after") and c.result}  # fmt: skip

        assert not resolved() & alerts  # every edit of the check that resolved them failed
        waiting = monitor.state.journal.flagged("unedited:")
        assert bool(waiting) == (status == 502), waiting
        fake.failures.clear()
        clock.now = END + timedelta(minutes=minutes + 15)
        await app.tick()
        if status == 502:
            assert resolved() >= alerts
        else:  # gone for good: not tried again
            assert not resolved() & alerts
        assert not monitor.state.journal.flagged("unedited:")


@pytest.mark.slow  # about a minute: the hung edits are waited for
async def test_a_hung_edit_holds_the_check_back_seconds_not_minutes(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Telegram takes the edits that would say '✅ resolved after …' and never answers: each
    held the check for aiogram's minute, one after the other (three alerts, three minutes;
    more chats, more), and the scheduled checks, new alerts included, waited behind them. Now
    an edit is waited for seconds and tried again after the next check, as a failed one is."""
    async with _opened(fake, embedded_spec, tmp_path, "edithang") as (monitor, clock, alerts):
        app = monitor.app  # type: ignore[attr-defined]
        opened = [i for m in monitor.catalogue.metrics
                  if (i := monitor.state.incidents.open_for(m)) is not None]  # fmt: skip
        assert len(alerts) >= 2
        fake.hang.add("editMessageCaption")
        minutes = 0
        while any(monitor.state.incidents.open_for(i.metric) for i in opened):
            minutes += 15
            assert minutes < 6 * 60, "the incidents never resolved"
            clock.now = END + timedelta(minutes=minutes)
            started = time.monotonic()
            await asyncio.wait_for(app.tick(), timeout=120)
            assert time.monotonic() - started < 45, "a hung edit held the check for minutes"
        assert monitor.state.journal.flagged("unedited:")
        fake.release()
        clock.now = END + timedelta(minutes=minutes + 15)
        await app.tick()
        resolved = {c.message_id for c in fake.calls if c.method == "editMessageCaption"
                    and c.text.startswith("✅ resolved after") and c.result}  # fmt: skip
        assert resolved >= alerts
        assert not monitor.state.journal.flagged("unedited:")
