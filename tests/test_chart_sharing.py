"""The bot's charts go through one chart desk: many people asking for the same chart at once
cost one render, renders never exceed the desk's limit, and each chat's language gets its own
picture."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, ALERTS, fake, running, settings_for

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py

USERS = [1000 + n for n in range(8)]


async def test_many_people_asking_for_one_chart_cost_one_render(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Eight users send /metric views at the same moment: each gets the chart, the desk drew
    it once (plus at most the three /check charts it warms after the check), and never more
    than two at a time."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS,
                            seconds=120)  # the start-up check has run  # fmt: skip
        before = monitor.desk.renders
        monitor.desk.clear()
        await asyncio.gather(*(fake.send("/metric views", user=u) for u in USERS))
        for user in USERS:
            await fake.wait_for(lambda c, u=user: c.method == "sendPhoto" and c.chat_id == u,
                                seconds=120)  # fmt: skip
        drawn = monitor.desk.renders - before
        peak = monitor.desk.peak
    assert 1 <= drawn <= 1 + 3, drawn
    assert peak <= 2


async def test_a_russian_chat_gets_a_russian_chart_and_an_english_one_english(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The same /metric views from a chat that chose Russian and from an English one: two
    renders under two keys (one per language), not one picture for both."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS,
                            seconds=120)  # fmt: skip
        await fake.send("/lang ru", user=USERS[0])
        await fake.wait_for(lambda c: c.chat_id == USERS[0] and c.method == "sendMessage",
                            seconds=60)  # fmt: skip
        await fake.send("/metric views", user=USERS[0])
        await fake.send("/metric views", user=ADMIN)
        ru = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == USERS[0],
                                 seconds=120)  # fmt: skip
        en = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ADMIN,
                                 seconds=120)  # fmt: skip
        langs = {key[-1] for key in monitor.desk._done}  # the keys of the PNGs it holds
    assert {"en", "ru"} <= langs, langs
    assert ru[0].files and en[0].files
    assert ru[0].files != en[0].files
