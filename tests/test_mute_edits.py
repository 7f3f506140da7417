"""/mute and /unmute edit what shows the mute: the alerts and digests of incidents that were
open while it was in force, the resolved ones too (they keep saying "🔕 muted" otherwise), and
nothing at all when nothing changed. Real aiogram against the fake Bot API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.buttons import Action, pack
from bot.core.incidents import Incident
from bot.state import ALL
from bot.state.incidents import ShownIn
from tests import test_bot
from tests.conftest import END, SourceSpec
from tests.fakebot import FakeTelegram, render_html
from tests.test_alerts_i18n import alert_in
from tests.test_bot import ADMIN, ALERTS, fake, settings_for
from tests.test_digest import actions, digest_day

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py


@pytest.mark.slow  # a check every 15 minutes until the digest resolves (hours)
async def test_unmute_after_the_digest_resolved_takes_the_mute_off_it(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A digest one of whose metrics is muted resolves ("✅ resolved after …; 🔕 1 of 5
    muted"); a longer /mute replaces that mute, and /unmute of that metric two days later
    edits the digest to drop the mute it no longer has. It kept saying 1 of 5 muted, since
    /unmute edited only the incidents still open (then: resolved since the mute was set,
    which a replaced mute moved)."""
    async with digest_day(fake, embedded_spec, tmp_path, "unmutelife") as (monitor, clock):
        app = monitor.app  # type: ignore[attr-defined]
        await app.tick()
        digest = await alert_in(fake, ALERTS)
        (digest_id,) = actions(digest)[Action.DIGEST_ACK]
        listed = monitor.state.digests.incidents(digest_id) or []
        first = monitor.state.incidents.get(listed[0])
        assert first is not None
        await fake.send(f"/mute {first.metric} 1d", user=ADMIN, chat=ALERTS)
        await fake.wait_for(lambda c: c.method == "editMessageCaption"
                            and c.message_id == digest.message_id)  # fmt: skip
        for minutes in range(15, 6 * 60, 15):
            clock.now = END + timedelta(minutes=minutes)
            await app.tick()
            if all(i and i.resolved_at for i in map(monitor.state.incidents.get, listed)):
                break

        def states() -> list[str]:
            return [render_html(c.text).split("\n")[0] for c in fake.calls
                    if c.method == "editMessageCaption" and c.message_id == digest.message_id]

        assert states()[-1].startswith("✅ resolved after") and "🔕" in states()[-1]
        # A longer mute replaces it; two days later (the digest long resolved) it is lifted.
        await fake.send(f"/mute {first.metric} 3d", user=ADMIN, chat=ALERTS)
        three = f"{END + timedelta(days=3):%Y-%m-%d}"  # the longer mute's end, on the digest
        await fake.wait_for(lambda c: c.method == "editMessageCaption"
                            and c.message_id == digest.message_id and three in c.text)
        clock.now = END + timedelta(days=2)
        before = len(states())
        await fake.send(f"/unmute {first.metric}", user=ADMIN, chat=ALERTS)
        await fake.wait_for(lambda c: c.method == "sendMessage" and "on again" in c.text)
        for _ in range(50):
            if len(states()) > before:
                break
            await asyncio.sleep(0.1)
        assert len(states()) > before, "the resolved digest still says a metric is muted"
        assert states()[-1].startswith("✅ resolved after") and "🔕" not in states()[-1]


@pytest.mark.slow
async def test_unmute_with_nothing_muted_edits_no_alert(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/unmute views and /unmute all with nothing muted say so and leave the alerts alone: each
    open alert was edited to the same text (an API call per alert, which Telegram answers with
    "message is not modified"), for every /unmute anyone typed."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with test_bot.running(settings, fake, warm=False):
        await alert_in(fake, ALERTS)
        start = len(fake.calls)
        said = await test_bot.reply(fake, "/unmute views", user=ADMIN)
        assert "were not muted" in said[0]
        said = await test_bot.reply(fake, "/unmute all", user=ADMIN)
        assert "Nothing was muted" in said[0]
        await asyncio.sleep(1.5)
        assert not [c for c in fake.calls[start:] if c.method.startswith("edit")]


async def test_all_may_be_written_vsyo_in_russian(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """«всё» is how many Russians write «все» (every metric): /mute всё 2h, /unmute всё and
    /subscribe всё answered "there is no metric 'всё'"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with test_bot.running(settings, fake, schedule=False, warm=False) as monitor:
        said = await test_bot.reply(fake, "/mute всё 2h", user=ADMIN)
        assert "all metrics muted until" in said[0], said
        assert monitor.state.mutes.until("views", END) is not None
        said = await test_bot.reply(fake, "/unmute Всё", user=ADMIN)
        assert "all metrics are on again" in said[0], said
        said = await test_bot.reply(fake, "/subscribe всё", user=ADMIN)
        assert monitor.state.subscriptions.of_chat(ADMIN) == [ALL], said
        await fake.send("/thresholds views всё", user=ADMIN)
        await fake.wait_for(lambda c: c.chat_id == ADMIN
                            and c.text.endswith("Change one: <code>/set views k 4</code>"))


async def test_a_mute_button_on_an_older_alert_shows_the_mute_on_the_open_one_too(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """An admin presses 🔕 on a resolved alert of a metric that has an open incident again: the
    metric is muted, and the open alert says so ("🔕 muted until"), as /mute makes it say. Only
    the older message was edited, and the open alert looked unmuted."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with test_bot.running(settings, fake, warm=False) as monitor:
        alert = await alert_in(fake, ALERTS)
        current = next(i for m in monitor.catalogue.metrics
                       if (i := monitor.state.incidents.open_for(m)) is not None
                       and alert.message_id in [s.message_id for s in
                                                monitor.state.incidents.messages(i.id or 0)])
        older = monitor.state.incidents.save(Incident(
            current.metric, END - timedelta(days=1), END - timedelta(days=1),
            resolved_at=END - timedelta(hours=20)))  # fmt: skip
        assert older.id is not None
        monitor.state.incidents.add_message(older.id, ShownIn(ALERTS, 9999, True, "older"))
        await fake.press(pack(Action.MUTE, older.id, 1), user=ADMIN, chat=ALERTS)
        edit = await fake.wait_for(lambda c: c.method == "editMessageCaption"
                                   and c.message_id == alert.message_id)  # fmt: skip
    assert render_html(edit[0].text).split("\n")[0].startswith("🔕 muted until")
