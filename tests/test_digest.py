"""A digest's buttons act on every incident it lists (Ack, mutes, charts), the digest edited to
say so; an older digest's one-incident buttons still work; an edit after a button reads in the
language the message was sent in, whatever the chat chose since. Real aiogram against the fake
Bot API; a state file of the previous schema keeps working."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.buttons import Action, pack, unpack
from bot.core.text import CAPTION_LIMIT
from bot.service.monitor import Monitor
from bot.state import ShownIn, State
from bot.state.db import MIGRATIONS
from queries.catalogue import Catalogue
from tests import test_bot
from tests.conftest import END, SourceSpec
from tests.fakebot import TEXT_LIMIT, Call, FakeTelegram, render_html, utf16_length
from tests.test_alerts_i18n import MEMBER, ODD_DB, alert_in, copy_with_odd_os, running
from tests.test_bot import ADMIN, ALERTS, USER, fake, settings_for
from tests.test_chat import STRANGER
from tests.test_plan import CATALOGUE

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py

COPIES = ("views_app", "views_web")


def four_at_once() -> Catalogue:
    """The bundled catalogue and two copies of views: with feed_users, views and likes, five
    metrics fire at the dataset's end, so they arrive as one digest."""
    views = CATALOGUE.metrics["views"]
    extra = {name: dataclasses.replace(views, name=name, title=f"Views {name[6:]}")
             for name in COPIES}  # fmt: skip
    return dataclasses.replace(CATALOGUE, metrics={**CATALOGUE.metrics, **extra})


@asynccontextmanager
async def digest_day(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, database: str
) -> AsyncIterator[tuple[Monitor, test_bot.Clock]]:
    """The bot with `four_at_once` on the lifecycle data (`database`), no check run yet (the
    first, at END, sends a digest), MEMBER in the alert chat: the monitor and the clock the
    tests move."""
    spec = await test_bot.lifecycle_spec(embedded_spec, database)
    settings = settings_for(fake.url, spec, tmp_path / "s.db")
    fake.set_member(ALERTS, MEMBER)
    clock = test_bot.Clock()
    async with test_bot.running(settings, fake, clock, schedule=False, catalogue=four_at_once(),
                                warm=False) as monitor:  # fmt: skip
        yield monitor, clock


def actions(call: Call) -> dict[Action, tuple[int, ...]]:
    out = {}
    for b in call.buttons:
        unpacked = unpack(b["callback_data"])
        assert unpacked is not None
        out.setdefault(unpacked[0], unpacked[1])
    return out


@pytest.mark.slow
async def test_a_digests_buttons_act_on_every_incident_it_lists(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Ack on a digest acknowledges every incident in it and edits the digest to say who; its
    1 h mute mutes every metric it lists and says which; its Chart sends the charts of the
    worst three; an Ack of one incident (an older version's digest) still acts on that one."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    fake.set_member(ALERTS, MEMBER)
    async with running(settings, fake, four_at_once()) as monitor:
        digest = await alert_in(fake, ALERTS)
        assert "metrics off" in digest.text
        buttons = actions(digest)
        assert Action.ACK not in buttons and Action.MUTE not in buttons
        (digest_id,) = buttons[Action.DIGEST_ACK]
        listed = monitor.state.digests.incidents(digest_id)
        assert listed is not None and len(listed) >= 4
        # A stranger who never received the digest presses its buttons (crafted callback
        # data on the alert chat's message): refused, nothing acknowledged, nothing muted.
        for action in (pack(Action.DIGEST_ACK, digest_id), pack(Action.DIGEST_FALSE, digest_id),
                       pack(Action.DIGEST_MUTE, digest_id, 1)):  # fmt: skip
            query = await fake.press(action, user=STRANGER, message=digest)
            said = await fake.wait_for(lambda c, q=query: c.method == "answerCallbackQuery"
                                       and c.data.get("callback_query_id") == q)  # fmt: skip
            assert said[0].data.get("show_alert") in ("true", True), said[0].data
        stray = [monitor.state.incidents.get(i) for i in listed]
        assert all(i is not None and i.acknowledged_by is None and i.false_alarm_by is None
                   for i in stray)  # fmt: skip
        assert not any(monitor.state.mutes.until(i.metric, END) for i in stray if i is not None)
        await fake.press(pack(Action.DIGEST_ACK, digest_id), user=MEMBER, message=digest)
        said = await fake.wait_for(lambda c: c.method == "answerCallbackQuery"
                                   and "Acknowledged" in c.data.get("text", ""))  # fmt: skip
        assert f"{len(listed)} incidents" in said[0].data["text"]
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption"))[0]
        assert render_html(edit.text).startswith("👀 acknowledged by User7\n🚨")
        assert actions(edit)[Action.DIGEST_UNACK] == (digest_id,)
        incidents = [monitor.state.incidents.get(i) for i in listed]
        assert all(i is not None and i.acknowledged_by == "User7" for i in incidents)
        metrics = [i.metric for i in incidents if i is not None]

        await fake.press(pack(Action.DIGEST_MUTE, digest_id, 1), user=ADMIN, message=digest)
        note = await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                                   and "muted until" in c.text)  # fmt: skip
        assert all(f"<code>{m}</code>" in note[0].text for m in metrics), note[0].text
        assert re.search(r"muted until \d{4}-\d\d-\d\d \d\d:\d\d UTC by ", note[0].text), note[0]
        assert all(monitor.state.mutes.until(m, END) is not None for m in metrics)
        muted = await fake.wait_for(lambda c: c.method == "editMessageCaption"
                                    and "🔕 muted until" in c.text)  # fmt: skip
        assert "👀 acknowledged by User7" in muted[0].text

        await fake.press(pack(Action.DIGEST_SHOW, digest_id), user=USER, message=digest)
        charts = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS
                                     and not c.buttons, count=3, seconds=60)  # fmt: skip
        titles = [monitor.catalogue.metrics[m].title for m in metrics[:3]]
        assert [next(t for t in titles if t in c.text) for c in charts] == titles

        # A digest an older version sent: its Ack carries the worst incident's id.
        await fake.press(pack(Action.UNACK, listed[0]), user=MEMBER, message=digest)
        await fake.wait_for(lambda c: c.method == "answerCallbackQuery"
                            and "No longer acknowledged" in c.data.get("text", ""))  # fmt: skip
        first, second = (monitor.state.incidents.get(i) for i in listed[:2])
        assert first is not None and first.acknowledged_by is None
        assert second is not None and second.acknowledged_by == "User7"

        # /history: the digest reached the alert chat, so none of its alerts reads as lost.
        await fake.send("/history", user=USER)
        told = (await fake.wait_for(lambda c: c.chat_id == USER and "alerts" in c.text))[0].text
    assert "📭" not in told and "⏳" not in told, told
    assert told.count("👀 acknowledged by User7") == len(listed) - 1, told


async def test_an_edit_after_a_button_reads_in_the_language_the_alert_was_sent_in(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """An alert sent in English to a group that then switches to Russian (/lang ru): Ack edits
    it all in English, the state line, the body and the buttons, not half and half."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    fake.set_member(ALERTS, MEMBER)
    async with running(settings, fake, warm=False) as monitor:
        alert = await alert_in(fake, ALERTS)
        await fake.send("/lang ru", user=ADMIN, chat=ALERTS)
        await fake.wait_for(lambda c: c.chat_id == ALERTS and c.method == "sendMessage")
        assert monitor.state.languages.of_chat(ALERTS) == "ru"
        (incident_id,) = actions(alert)[Action.ACK]
        await fake.press(pack(Action.ACK, incident_id), user=MEMBER, message=alert)
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption"))[0]
    text = render_html(edit.text)
    assert text.startswith("👀 acknowledged by User7\n") and "expected" in text, text
    assert "ожидалось" not in text and "принял" not in text
    labels = {unpack(b["callback_data"])[0]: b["text"] for b in edit.buttons}  # type: ignore[index]
    assert labels[Action.UNACK] == "↩️ Un-ack" and labels[Action.SHOW] == "📈 Chart"


@pytest.mark.slow  # a check every 15 minutes until all of them resolve (hours)
async def test_a_digest_says_how_many_of_its_incidents_are_back_and_then_that_all_are(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A digest whose incidents resolve is edited as they do: while some are back to normal it
    says how many of how many, once all are it says resolved (after how long) and its Ack is
    gone, as a resolved alert's is; /mute of one of its metrics shows at once as "1 of N muted"."""
    async with digest_day(fake, embedded_spec, tmp_path, "digestlife") as (monitor, clock):
        await monitor.app.tick()  # type: ignore[attr-defined]
        digest = await alert_in(fake, ALERTS)
        (digest_id,) = actions(digest)[Action.DIGEST_ACK]
        listed = monitor.state.digests.incidents(digest_id)
        assert listed is not None and len(listed) >= 4
        first = monitor.state.incidents.get(listed[0])
        assert first is not None
        await fake.send(f"/mute {first.metric} 1d", user=ADMIN, chat=ALERTS)
        await fake.wait_for(lambda c: c.method == "sendMessage" and "muted until" in c.text)
        shown = await fake.wait_for(lambda c: c.method == "editMessageCaption"
                                    and c.message_id == digest.message_id)  # fmt: skip
        until = f"{END + timedelta(days=1):%Y-%m-%d %H:%M} UTC"  # the mute's end, in TIMEZONE
        assert render_html(shown[0].text).startswith(f"🔕 1 of {len(listed)} muted until "
                                                     f"{until}\n🚨"), shown[0].text
        ended: list[Call] = []
        for minutes in range(15, 6 * 60, 15):
            clock.now = END + timedelta(minutes=minutes)
            await monitor.app.tick()  # type: ignore[attr-defined]
            ended = [c for c in fake.calls if c.method == "editMessageCaption"
                     and c.message_id == digest.message_id and "resolved after" in c.text]
            if ended:
                break
        assert ended, "the digest was never edited to resolved"
        states = [render_html(c.text).split("\n")[0] for c in fake.calls
                  if c.method == "editMessageCaption" and c.message_id == digest.message_id]
        assert all(i.resolved_at for i in map(monitor.state.incidents.get, listed) if i)
        muted = f"🔕 1 of {len(listed)} muted until {until}"
        assert any(re.fullmatch(rf"✅ \d of {len(listed)} back to normal; {muted}", s)
                   for s in states), states  # fmt: skip
        assert re.fullmatch(rf"✅ resolved after \d+ h( \d+ min)?; {muted}", states[-1]), states
        last = actions(ended[-1])
        assert Action.DIGEST_ACK not in last and Action.DIGEST_UNACK not in last
        assert Action.DIGEST_FALSE in last and Action.DIGEST_SHOW in last


def test_a_state_file_from_before_digests_keeps_its_alert_messages(tmp_path: Path) -> None:
    """A state file from before digests opens: the messages it kept for edits are there (their
    language unknown: the chat's is used), and digests can be recorded."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    digests = next(n for n, step in enumerate(MIGRATIONS) if "CREATE TABLE digests" in step)
    for number, step in enumerate(MIGRATIONS[:digests]):
        db.executescript(f"BEGIN; {step}; PRAGMA user_version = {number + 1}; COMMIT;")
    db.execute("INSERT INTO incident_messages VALUES (5, -100, 42, 1, 'caption')")
    db.commit()
    db.close()
    state = State(path)
    try:
        assert state.incidents.messages(5) == [ShownIn(-100, 42, True, "caption", None)]
        digest = state.digests.create([5, 6, 7, 8], END)
        state.digests.add_message(digest, ShownIn(-100, 43, False, "digest", "ru"))
        assert state.digests.incidents(digest) == [5, 6, 7, 8]
        assert state.digests.messages(digest) == [ShownIn(-100, 43, False, "digest", "ru")]
    finally:
        state.close()


@pytest.mark.slow  # a copy of the data renamed, five metrics' charts; the alert's test is fast
async def test_a_digest_of_a_long_cyrillic_html_slice_takes_its_mute_and_ack_edits_in_russian(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The Android slice renamed to ~620 Cyrillic characters with ':' and <b>, LANGUAGE=ru, five
    metrics off at once (a digest): /mute of one of them and the digest's Ack edit it as HTML
    Telegram accepts at the first try, within the message's limit, in Russian, the odd name
    shown as text. (The digest is too long for a photo's caption: it goes out as a message.)"""
    assert embedded_spec.kind == "embedded"  # the odd copy is made inside chDB
    await copy_with_odd_os(embedded_spec)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", language="ru",
                            clickhouse_database=ODD_DB)  # fmt: skip
    fake.set_member(ALERTS, MEMBER)
    async with running(settings, fake, four_at_once()):
        sent = await fake.wait_for(lambda c: c.chat_id == ALERTS and bool(c.buttons)
                                   and c.method in ("sendPhoto", "sendMessage"), seconds=120)
        digest = sent[0]
        edited = "editMessageCaption" if digest.method == "sendPhoto" else "editMessageText"
        limit = CAPTION_LIMIT if digest.method == "sendPhoto" else TEXT_LIMIT
        assert "Азербайджанская Республика: <b>Баку</b>" in render_html(digest.text)
        await fake.send("/mute views 1d", user=ADMIN, chat=ALERTS)
        muted = await fake.wait_for(lambda c: c.method == edited
                                    and c.message_id == digest.message_id)  # fmt: skip
        (digest_id,) = actions(digest)[Action.DIGEST_ACK]
        await fake.press(pack(Action.DIGEST_ACK, digest_id), user=MEMBER, message=digest)
        acked = await fake.wait_for(lambda c: c.method == edited
                                    and c.message_id == digest.message_id, count=2)  # fmt: skip
    assert [c.method for c in fake.calls if "!" in c.method] == []
    first, last = render_html(muted[0].text), render_html(acked[-1].text)
    assert re.match(r"🔕 заглушено 1 из \d+ до \d{4}-\d\d-\d\d \d\d:\d\d UTC\n", first), first
    assert last.startswith("👀 принял(а) User7; 🔕 заглушено 1 из"), last
    assert all(utf16_length(text) <= limit for text in (first, last))
    assert "Азербайджанская Республика: <b>Баку</b>" in last
