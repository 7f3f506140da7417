"""An alert (and a digest) is edited to say it resolved even when Telegram fails that edit
the first time: the edit after a check is tried again after the next checks, as a message in
the outbox is, not given up at once. Real aiogram against the fake Bot API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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
    async with test_bot.running(settings, fake, clock, schedule=False, warm=False) as monitor:
        await monitor.app.tick()  # type: ignore[attr-defined]
        yield monitor, clock, {c.message_id for c in fake.calls
                               if c.method == "sendPhoto" and c.chat_id == ALERTS and c.buttons}


async def _until_resolved(
    monitor: Monitor, clock: test_bot.Clock, check: Callable[[], Awaitable[None]]
) -> int:
    """A check every 15 minutes from END (`check` queues what fails and runs it) until every
    incident open now has resolved; returns the minutes that took (under 6 hours)."""
    opened = [i for m in monitor.catalogue.metrics
              if (i := monitor.state.incidents.open_for(m)) is not None]  # fmt: skip
    minutes = 0
    while any(monitor.state.incidents.open_for(i.metric) for i in opened):
        minutes += 15
        assert minutes < 6 * 60, "the incidents never resolved"
        clock.now = END + timedelta(minutes=minutes)
        await check()
    return minutes


@pytest.mark.parametrize("failure", [
    (502, "Bad Gateway"),
    # a check every 15 minutes for hours, as the 502's: CI runs it
    pytest.param((400, "Bad Request: message to edit not found"), marks=pytest.mark.slow),
])  # fmt: skip
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

        async def failing() -> None:
            fake.failures.clear()
            for _ in range(len(alerts)):
                fake.fail_next("editMessageCaption", status, description)
            await app.tick()

        minutes = await _until_resolved(monitor, clock, failing)

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


@pytest.mark.parametrize("refusals", [1, pytest.param(2, marks=pytest.mark.slow)])  # as 1's
async def test_an_edit_telegram_refuses_as_it_is_goes_as_plain_text_or_is_left(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, refusals: int
) -> None:
    """Telegram refuses the edit that would say '✅ resolved after …' as it is (400: can't
    parse entities): the same edit was tried again after each of the next 8 checks, to the same
    400. Now it goes at once as plain text without buttons, as a refused send does; refused
    that way too, it is left as it is (logged), with nothing to retry."""
    refused = "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3"
    async with _opened(fake, embedded_spec, tmp_path, f"editrefused{refusals}") as (
        monitor, clock, _
    ):  # fmt: skip
        app = monitor.app  # type: ignore[attr-defined]

        async def refusing() -> None:
            fake.failures.clear()
            for _ in range(refusals):  # the check's first edit, then its plain one
                fake.fail_next("editMessageCaption", 400, refused, chat=ALERTS)
            await app.tick()

        minutes = await _until_resolved(monitor, clock, refusing)

        calls = [c for c in fake.calls if c.method.startswith("editMessageCaption")]
        refused_ids = {c.message_id for c in calls if c.method.endswith("!400")}
        assert refused_ids, "no edit was refused"
        for message_id in refused_ids:
            tries = [(c.text, c.method == "editMessageCaption") for c in calls
                     if c.message_id == message_id]  # fmt: skip
            at = next(n for n, (_, ok) in enumerate(tries) if not ok)
            if refusals == 1:  # the plain edit right after it went
                text, ok = tries[at + 1]
                assert ok and "<" not in text and "<b>" in tries[at][0], tries
            else:  # refused as plain text too
                assert [ok for _, ok in tries[at : at + 2]] == [False, False], tries
                assert "<" not in tries[at + 1][0], tries
        went = [c for c in calls if c.message_id in refused_ids and c.method == "editMessageCaption"
                and c.text.startswith("✅ resolved after") and "<" not in c.text]  # fmt: skip
        assert bool(went) == (refusals == 1), went
        assert not monitor.state.journal.flagged("unedited:")
        before = len(fake.calls)
        clock.now = END + timedelta(minutes=minutes + 15)
        await app.tick()  # nothing failed is left to try again
        assert not [c for c in fake.calls[before:] if c.method.startswith("editMessageCaption")
                    and c.message_id in refused_ids]  # fmt: skip


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
        assert len(alerts) >= 2
        fake.hang.add("editMessageCaption")

        async def timed() -> None:
            started = time.monotonic()
            await asyncio.wait_for(app.tick(), timeout=120)
            assert time.monotonic() - started < 45, "a hung edit held the check for minutes"

        minutes = await _until_resolved(monitor, clock, timed)
        assert monitor.state.journal.flagged("unedited:")
        fake.release()
        clock.now = END + timedelta(minutes=minutes + 15)
        await app.tick()
        resolved = {c.message_id for c in fake.calls if c.method == "editMessageCaption"
                    and c.text.startswith("✅ resolved after") and c.result}  # fmt: skip
        assert resolved >= alerts
        assert not monitor.state.journal.flagged("unedited:")
