"""The chat handlers through the real dispatcher and a fake Bot API server: one command table,
buttons answered whatever they carry, who may act on an incident, commands within a budget."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher, Router
from aiogram.filters import Command

from bot.chat import routers
from bot.chat.resend import PAUSES, TOAST_WITHIN
from bot.core.buttons import Action, pack, unpack
from bot.core.commands import COMMANDS
from bot.core.incidents import Incident
from bot.service.monitor import Monitor
from bot.state import State, StateLost
from bot.state.incidents import ShownIn
from bot.state.outbox import OutboxStatus
from queries import seeding
from queries.catalogue import Catalogue, load_catalogue
from queries.errors import SourceError
from queries.sources import ClickHouseSource
from tests.conftest import END, SourceSpec
from tests.fakebot import Call, FakeTelegram, render_html
from tests.test_bot import (
    ADMIN,
    ALERTS,
    TOKEN,
    USER,
    Clock,
    answer_in,
    fake,
    reply,
    running,
    settings_for,
)

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py

MEMBER, STRANGER = 7, 666
EVIL = '<a href="http://evil">x</a>'


def _commands(router: Router) -> set[str]:
    """The commands this router's message handlers answer (their Command filters)."""
    found: set[str] = set()
    for handler in router.message.handlers:
        for f in handler.filters or []:
            if isinstance(f.callback, Command):
                found |= {c for c in f.callback.commands if isinstance(c, str)}
    return found


def _walk(router: Router) -> list[Router]:
    out = [router]
    for sub in router.sub_routers:
        out += _walk(sub)
    return out


def test_the_command_table_matches_the_registered_handlers() -> None:
    """Every command in the table has a handler and every handled command is in the table;
    admin commands are exactly the admin router's and each has a refusal for everyone else."""
    dispatcher = Dispatcher()
    dispatcher.include_routers(*routers([ADMIN]))
    admin_router: set[str] = set()
    refusal: set[str] = set()
    others: set[str] = set()
    for router in _walk(dispatcher):
        found = _commands(router)
        {"admin": admin_router, "refusal": refusal}.get(router.name, others).update(found)
    table = {c.name for c in COMMANDS}
    handled = admin_router | refusal | others
    assert handled == table, (handled - table, table - handled)
    admin = {c.name for c in COMMANDS if c.admin}
    assert admin_router == admin
    assert refusal == admin
    assert others == table - admin


async def _alert(fake: FakeTelegram) -> Call:
    """The first alert the start-up check sent to the alert chat, with its buttons."""
    calls = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS
                                and bool(c.buttons), seconds=120)  # fmt: skip
    return calls[0]


def _button(alert: Call, action: Action) -> str:
    return next(b["callback_data"] for b in alert.buttons
                if (unpack(b.get("callback_data")) or (None,))[0] is action)  # fmt: skip


async def _answer(fake: FakeTelegram, query: str) -> str:
    calls = await fake.wait_for(
        lambda c: c.method.startswith("answerCallbackQuery")
        and c.data.get("callback_query_id") == query, seconds=20)  # fmt: skip
    return calls[0].data.get("text", "")


async def test_every_button_press_is_answered_even_malformed_or_out_of_date(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Malformed data, random bytes, unknown actions and ids of incidents or alerts that do not
    exist: each press is answered with a sentence and nothing else happens."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    rng = random.Random(5)
    pressed = ["ack:zzz", "nonsense", "", "ack:", "mute:1", "unack:1:2", "show:-1", "ack:1e3",
               "ack:" + "9" * 40, rng.randbytes(30).decode("latin-1"), "x" * 64,
               "ack:424242", "false:424242", "unfalse:424242", "mute:424242:24",
               "show:424242", "normal:424242", "unnormal:424242", "normal:1:2"]  # fmt: skip
    async with running(settings, fake, schedule=False, warm=False):
        queries = [await fake.press(d, user=ADMIN, chat=ALERTS) for d in pressed]
        answers = [await _answer(fake, q) for q in queries]
        await asyncio.sleep(0.5)
    assert all(answers), dict(zip(pressed, answers, strict=True))
    assert set(answers) == {"That button is out of date."}
    others = [c.method for c in fake.calls if c.method.startswith(("edit", "send"))]
    assert others == []


@pytest.mark.slow
async def test_a_stranger_cannot_ack_even_on_his_subscribed_copy(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A stranger who subscribed gets his own copy of the alert; his Ack and False alarm, on
    it or on the team's message, are refused with a sentence and the incident is unchanged."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    state = State(settings.state_path)
    state.subscriptions.add(STRANGER, "*", END)
    state.close()
    async with running(settings, fake, warm=False) as monitor:
        alert = await _alert(fake)
        ack, false = _button(alert, Action.ACK), _button(alert, Action.FALSE)
        incident_id = unpack(ack)[1][0]  # type: ignore[index]
        before = monitor.state.incidents.get(incident_id)
        copy = (await fake.wait_for(lambda c: c.chat_id == STRANGER and bool(c.buttons)
                                    and ack in [b.get("callback_data") for b in c.buttons]))[0]
        pressed = [(ack, alert), (false, alert), (ack, copy), (false, copy)]
        answers = []
        for data, message in pressed:
            query = await fake.press(data, user=STRANGER, message=message,
                                     first_name="Stranger")  # fmt: skip
            answers.append(await _answer(fake, query))
        await asyncio.sleep(0.5)
        after = monitor.state.incidents.get(incident_id)
    assert all("Only members of the alert chat" in a for a in answers), answers
    assert after == before
    assert not [c for c in fake.calls if c.method.startswith("edit")]
    assert not [c for c in fake.calls if "Stranger" in c.text]


async def test_a_member_acks_the_edit_keeps_the_keyboard_and_escapes_the_name(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A member of the alert chat whose name is an <a href> acknowledges: the alert is edited
    with the name as text on top, the keyboard now offering Un-ack, mute and the chart; the
    membership answer is cached, so an Un-ack right after asks Telegram nothing more."""
    fake.set_member(ALERTS, MEMBER)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        alert = await _alert(fake)
        ack = _button(alert, Action.ACK)
        incident_id = unpack(ack)[1][0]  # type: ignore[index]
        query = await fake.press(ack, user=MEMBER, message=alert, first_name=EVIL)
        assert "Acknowledged" in await _answer(fake, query)
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption" and c.data.get(
            "message_id") == str(alert.message_id)))[0]  # fmt: skip
        incident = monitor.state.incidents.get(incident_id)
        query = await fake.press(pack(Action.UNACK, incident_id), user=MEMBER, message=alert)
        assert "reminders are on again" in await _answer(fake, query)
        unacked = monitor.state.incidents.get(incident_id)
    assert incident is not None and incident.acknowledged_by == EVIL
    assert unacked is not None and unacked.acknowledged_by is None
    caption = edit.data["caption"]
    assert 'href="http://evil"' not in caption
    assert render_html(caption).startswith(f"👀 acknowledged by {EVIL}")
    assert render_html(alert.text).split("\n")[0] in render_html(caption)  # the alert, below
    actions = [unpack(b["callback_data"]) for b in edit.buttons]
    assert (Action.UNACK, (incident_id,)) in actions and (Action.FALSE, (incident_id,)) in actions
    assert (Action.MUTE, (incident_id, 1)) in actions
    assert any(a is not None and a[0] is Action.SHOW for a in actions)
    asked = [c for c in fake.calls if c.method == "getChatMember"]
    assert len(asked) == 1 and asked[0].data["user_id"] == str(MEMBER)


async def test_an_ack_whose_edit_was_lost_is_shown_when_pressed_again(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The Ack is saved but its edit never lands (Telegram refused it; as well the bot killed
    while the edit was on the wire): the alert still offers Ack. The next press answers
    "Already so." and now shows the state on the message, instead of leaving it wrong until
    the incident changes again; an edit that changes nothing is no error in the log."""
    fake.set_member(ALERTS, MEMBER)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, warm=False):
        alert = await _alert(fake)
        ack = _button(alert, Action.ACK)
        fake.fail_next("editMessageCaption", 400, "Bad Request: message can't be edited")
        query = await fake.press(ack, user=MEMBER, message=alert)
        assert "Acknowledged" in await _answer(fake, query)
        await fake.wait_for(lambda c: c.method == "editMessageCaption!400")
        query = await fake.press(ack, user=MEMBER, message=alert)
        assert "Already so" in await _answer(fake, query)
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption" and c.data.get(
            "message_id") == str(alert.message_id)))[0]  # fmt: skip
    assert render_html(edit.data["caption"]).startswith("👀 acknowledged by ")


@asynccontextmanager
async def _two_members_alerted(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> AsyncIterator[tuple[Monitor, Call, int]]:
    """The bot running with MEMBER and MEMBER + 1 in the alert chat: the monitor, the first
    alert it sent there and that alert's incident id."""
    fake.set_member(ALERTS, MEMBER)
    fake.set_member(ALERTS, MEMBER + 1)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, warm=False) as monitor:
        alert = await _alert(fake)
        yield monitor, alert, unpack(_button(alert, Action.ACK))[1][0]  # type: ignore[index]


async def test_a_second_ack_or_false_alarm_keeps_the_first_name(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Two members press Ack on the same alert (the second on a message whose edit had not
    reached him yet): the incident stays acknowledged by the first, and the second is told who
    did it. The same for False alarm: whoever marked it first is who the team asks why."""
    async with _two_members_alerted(fake, embedded_spec, tmp_path) as (monitor, alert, incident_id):
        answers = await _ack_then_false(fake, alert, [(MEMBER, "Анна <b>"), (MEMBER + 1, "Boris")])
        incident = monitor.state.incidents.get(incident_id)
    assert incident is not None
    assert (incident.acknowledged_by, incident.false_alarm_by) == ("Анна <b>", "Анна <b>")
    assert "Acknowledged" in answers[0] and "false alarm" in answers[2]
    assert answers[1] == "Already acknowledged by Анна <b>."
    assert answers[3] == "Already marked a false alarm by Анна <b>."


async def _ack_then_false(fake: FakeTelegram, alert: Call, people: list[tuple[int, str]]
                          ) -> list[str]:  # fmt: skip
    """Each of `people` (user id, first name) presses Ack on `alert`, then each False alarm:
    the answers, in that order."""
    answers = []
    for action in (Action.ACK, Action.FALSE):
        for user, name in people:
            query = await fake.press(_button(alert, action), user=user, message=alert,
                                     first_name=name)  # fmt: skip
            answers.append(await _answer(fake, query))
    return answers


async def test_a_second_mark_tells_two_members_of_one_name_apart(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Two members, both named Anna, press Ack, then False alarm, on one alert: the second
    Anna was told "Already so." as if she had marked it herself, the presser told apart by
    name. She is told which Anna did it ("Already acknowledged by Anna."); the first Anna,
    pressing again under a new name, is told it is already so."""
    async with _two_members_alerted(fake, embedded_spec, tmp_path) as (monitor, alert, incident_id):
        answers = await _ack_then_false(fake, alert, [(MEMBER, "Anna"), (MEMBER + 1, "Anna"),
                                                      (MEMBER, "Anya")])  # fmt: skip
        incident = monitor.state.incidents.get(incident_id)
    assert incident is not None
    assert (incident.acknowledged_by, incident.false_alarm_by) == ("Anna", "Anna")
    assert "Acknowledged" in answers[0] and "false alarm" in answers[3], answers
    assert answers[1] == "Already acknowledged by Anna.", answers
    assert answers[2] == "Already so.", answers
    assert answers[4] == "Already marked a false alarm by Anna.", answers
    assert answers[5] == "Already so.", answers


async def test_ack_and_un_ack_wait_for_a_false_alarm_to_be_taken_back(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A member calls the alert a false alarm; another presses Ack, then Un-ack, on a message
    not yet edited. Ack answered "Already acknowledged by" the one who had dismissed it, and
    Un-ack turned reminders back on for an incident still called false. Both now say who
    called it false and that Not false comes first, and change nothing; the edited alert
    offers Not false without Ack or Un-ack."""
    async with _two_members_alerted(fake, embedded_spec, tmp_path) as (monitor, alert, incident_id):
        query = await fake.press(_button(alert, Action.FALSE), user=MEMBER, message=alert,
                                 first_name="Anna")  # fmt: skip
        assert "false alarm" in await _answer(fake, query)
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption"))[-1]
        answers = []
        for data in (_button(alert, Action.ACK), pack(Action.UNACK, incident_id)):
            query = await fake.press(data, user=MEMBER + 1, message=alert, first_name="Boris")
            answers.append(await _answer(fake, query))
        incident = monitor.state.incidents.get(incident_id)
    assert incident is not None
    assert (incident.acknowledged_by, incident.false_alarm_by) == ("Anna", "Anna")
    said = "Anna marked it a false alarm: ↩️ Not false takes that back first."
    assert answers == [said, said]
    offered = {a[0] for a in (unpack(b["callback_data"]) for b in edit.buttons) if a}
    assert Action.UNFALSE in offered and not offered & {Action.ACK, Action.UNACK}, offered


async def test_a_failing_get_chat_member_refuses_politely(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """When Telegram cannot say whether the presser is in the alert chat (getChatMember 502),
    the press is answered with a sentence, the incident is unchanged, and the bot goes on."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, warm=False) as monitor:
        alert = await _alert(fake)
        ack = _button(alert, Action.ACK)
        incident_id = unpack(ack)[1][0]  # type: ignore[index]
        fake.fail_next("getChatMember", 502, "Bad Gateway")
        query = await fake.press(ack, user=MEMBER, message=alert)
        refused = await _answer(fake, query)
        incident = monitor.state.incidents.get(incident_id)
        fake.set_member(ALERTS, MEMBER)
        query = await fake.press(ack, user=MEMBER, message=alert)
        accepted = await _answer(fake, query)
    assert "could not check" in refused
    assert incident is not None and incident.acknowledged_by is None
    assert "Acknowledged" in accepted


async def test_mute_buttons_are_for_admins_and_keep_the_keyboard(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A member's (non-admin) mute button is refused and mutes nothing; an admin's mutes the
    incident's metric and the alert keeps its keyboard under a 'muted until' line."""
    fake.set_member(ALERTS, MEMBER)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, warm=False) as monitor:
        alert = await _alert(fake)
        mute = _button(alert, Action.MUTE)
        incident = monitor.state.incidents.get(unpack(mute)[1][0])  # type: ignore[index]
        assert incident is not None
        query = await fake.press(mute, user=MEMBER, message=alert)
        refused = await _answer(fake, query)
        muted_by_member = monitor.state.mutes.until(incident.metric, END)
        query = await fake.press(mute, user=ADMIN, message=alert)
        assert "Muted" in await _answer(fake, query)
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption" and c.data.get(
            "message_id") == str(alert.message_id)))[0]  # fmt: skip
        muted = monitor.state.mutes.until(incident.metric, END)
    assert "Only admins" in refused and muted_by_member is None
    assert muted is not None
    assert re.search(r"🔕 muted until \d{4}-\d\d-\d\d \d\d:\d\d \S+$",
                     edit.data["caption"].split("\n")[0]), edit.data["caption"]  # with its zone
    assert len(edit.buttons) == len(alert.buttons)


async def test_the_chart_button_sends_that_series_to_the_chat(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The chart button of an alert carries only the alert's id, and sends the chart and
    caption of the series that alerted to the chat where it was pressed: the total's for the
    start-up check's alert (every one of them is on a total), a slice's for an alert on a
    slice (recorded as the checker records one, the button built as it builds it)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        alert = await _alert(fake)
        record = monitor.state.journal.alert(unpack(_button(alert, Action.SHOW))[1][0])  # type: ignore[index]
        assert record is not None and record.slice == "total"
        on_slice = monitor.state.journal.record_alert(
            record.metric, "os=Android", record.bucket, numbers=(None,) * 5,
            reason="below the band", now=record.bucket,
        )  # fmt: skip
        for n, show in enumerate((_button(alert, Action.SHOW), pack(Action.SHOW, on_slice))):
            query = await fake.press(show, user=USER, message=alert)
            assert await _answer(fake, query)
            sent = await fake.wait_for(lambda c: c.chat_id == ALERTS and c.method == "sendPhoto"
                                       and not c.buttons, count=n + 1)  # charts carry none
    title = monitor.catalogue.metrics[record.metric].title
    assert title in sent[0].text and "Android" not in sent[0].text.split("\n")[0]
    assert title in sent[1].text and "Android" in sent[1].text.split("\n")[0], sent[1].text


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never sends a byte: a hung ClickHouse."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.mark.slow
async def test_metric_answers_within_its_budget_while_clickhouse_hangs(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, silent_server: str
) -> None:
    """ClickHouse accepts the connection and never answers (its client waits 60 s, with
    retries): /metric, /check and /backtest still answer within the budget, saying the source
    is not answering and that no check has finished yet."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = ClickHouseSource(silent_server, database="simulator")
    async with running(settings, fake, source=source) as monitor:
        monitor.budget = 3.0
        monitor.app.shutdown_grace = 2.0  # type: ignore[attr-defined]  # the stuck check is cut
        await asyncio.sleep(0.5)  # the start-up check is stuck on the source by now
        asked = time.monotonic()
        await fake.send("/metric views", user=USER)
        metric = await fake.wait_for(lambda c: c.chat_id == USER, seconds=10)
        took = time.monotonic() - asked
        await fake.send("/check", user=ADMIN)
        check = await fake.wait_for(lambda c: c.chat_id == ADMIN, seconds=10)
        await fake.send("/backtest views 2", user=STRANGER)
        backtest = await fake.wait_for(lambda c: c.chat_id == STRANGER, seconds=10)
    assert took < 3.0 + 2.0, took
    for answer in (metric[0].text, check[0].text, backtest[0].text):
        assert "not answering" in answer and "127.0.0.1" in answer
        assert "no check has finished yet" in answer and "/status" in answer


@pytest.mark.slow
async def test_status_and_check_say_a_check_that_read_nothing_failed(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, silent_server: str
) -> None:
    """ClickHouse accepts connections and never answers: before any check /status claims no
    "reachable" but "not checked yet"; after the check timed out on every table it says the
    check failed, names the source once and its error once, and shows no "0 series" result
    and no "data complete up to"; /check sends no empty table but the failure and why."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = ClickHouseSource(silent_server, database="simulator", timeout=1, retries=1)
    where = f"ClickHouse at {silent_server}"
    async with running(settings, fake, Clock(), schedule=False, source=source) as monitor:
        before = (await _say(fake, "/status", user=USER))[0].text
        await monitor.app.tick()  # type: ignore[attr-defined]
        after = (await _say(fake, "/status", user=USER))[0].text
        check = [c.text for c in await _say(fake, "/check", user=USER)]
        ru = (await _say(fake, "/status", user=MEMBER, language="ru"))[0].text
    assert "reachable" not in before and f"source: {where} — not checked yet" in before, before
    assert "failed on the source" in after and "reachable" not in after, after
    assert after.count(where) == 1 and after.count("did not answer within 1 s") == 1, after
    assert "0 series" not in after and "data complete" not in after, after
    assert "no check has finished yet" in after, after
    assert len(check) == 1 and "<pre>" not in check[0], check
    assert check[0].startswith("⚠️ The check failed") and "did not answer within 1 s" in check[0]
    assert check[0].count(where) == 1, check
    assert ru.count(silent_server) == 1 and "нет ответа за 1 с" in ru, ru


async def test_a_source_set_up_wrong_is_not_called_slow(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """An embedded database holding tables `alertbot seed` did not create (a setup mistake) is
    no slow source: /check says it is set up wrong, with the source's own sentence and no
    "try again in a minute", in the chat's language (the source named once, in its words);
    the scheduled check logs that sentence in one line, without a traceback."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = embedded_spec.open(f"foreign_{tmp_path.name[-12:]}")
    await source.ensure_database()
    await source.execute("CREATE TABLE IF NOT EXISTS feed_actions (user_id UInt32, "
                         "time DateTime) ENGINE = MergeTree() ORDER BY time")  # fmt: skip
    with caplog.at_level(logging.WARNING):
        async with running(settings, fake, source=source):
            english = (await _say(fake, "/check", user=ADMIN))[0].text
            russian = (await _say(fake, "/check", user=USER, language="ru"))[0].text
    assert english.startswith("⚠️ The source is set up wrong"), english
    assert "did not create" in english and "try again in a minute" not in english.lower()
    assert russian.startswith("⚠️ Источник настроен неверно (встроенная база в "), russian
    assert "которые создала не команда `alertbot seed`" in russian, russian
    assert "did not create" not in russian
    for said, source in ((english, "the embedded database at "), (russian, "встроенная база в ")):
        rest = said.replace(source, "", 1)
        assert source not in rest and "the embedded database" not in rest, said
    failed = [r for r in caplog.records if "scheduled check failed" in r.getMessage()]
    assert failed and all(r.exc_info is None for r in failed)
    assert "did not create" in failed[0].getMessage()


@pytest.mark.slow
async def test_backtest_writes_its_numbers_as_the_chat_does(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/backtest in a Russian chat writes its alerts a day and each alert's largest deviation
    with a comma, as every other reply there does (3,25); English keeps the point. Each alert
    is said in plain words: how many 15-minute intervals, and its largest deviation, with what
    a deviation of 1 means; a week's list of its last 12 (said so, of how many) still fits
    the chart's caption."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        ru = (await _say(fake, "/backtest views 2", user=USER, language="ru"))[0].text
        en = (await _say(fake, "/backtest views 2", user=MEMBER))[0].text
        week = await _say(fake, "/backtest views 7", user=MEMBER)
        week_ru = await _say(fake, "/backtest views 7", user=USER, language="ru")
    undated = re.sub(r"\b\d\d\.\d\d \d\d:\d\d\b", "", ru)  # its dates are day.month
    assert re.search(r"\(\d+,\d в день\)", ru) and not re.search(r"\d\.\d", undated), ru
    assert re.search(r"\(\d+\.\d a day\)", en), en
    assert "(время по UTC; шаг 15 минут; отклонение: 1 — граница диапазона, меньше 1 " \
           "— сдвиг, заметный только в сумме нескольких интервалов)" in ru  # fmt: skip
    assert re.search(r"^[\d.: ]+ (Просмотры|\w+=\w+) — \d+ интервал(а|ов)?, отклонение до "
                     r"\d+,\d$", ru, re.M), ru  # fmt: skip
    assert "(times in UTC; intervals of 15 minutes; deviation: 1 is the range's edge, below 1 " \
           "a shift that showed in the sum of several intervals)" in en  # fmt: skip
    assert re.search(r"^[\d: -]+ (Views|\w+=\w+) — \d+ intervals?, deviation up to \d+\.\d$",
                     en, re.M), en  # fmt: skip
    for said in (ru, en):
        assert not re.search(r"bucket|peak|пик", said), said
    dated = re.compile(r"^\d\d[.-]\d\d \d\d:\d\d ", re.M)  # an alert's line
    assert week[0].method == "sendPhoto" and len(dated.findall(week[0].text)) == 12  # a caption
    alerts = int(re.search(r"raised <b>(\d+)</b> alerts", week[0].text)[1])  # type: ignore[index]
    assert alerts > 12, week[0].text
    assert f"(the last 12 of {alerts}; times in UTC; intervals of 15 minutes;" in week[0].text, \
        week[0].text
    assert week_ru[0].method == "sendPhoto" and len(dated.findall(week_ru[0].text)) == 12
    assert re.search(r"\(последние 12 из \d+; время по UTC; шаг 15 минут;", week_ru[0].text), \
        week_ru[0].text


@pytest.mark.slow
async def test_backtest_and_history_say_the_zone_of_their_times(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/backtest and /history list times in TIMEZONE and say which zone they are in, as /metric
    and the alerts name it, in either language."""
    path = tmp_path / "s.db"
    state = State(path)
    try:
        state.journal.record_alert("views", "total", END, reason="below the expected range",
                                   numbers=(50.0, 100.0, 90.0, 110.0, -5.0), now=END)
    finally:
        state.close()
    settings = settings_for(fake.url, embedded_spec, path, timezone="Asia/Tokyo")
    async with running(settings, fake, schedule=False):
        en = (await _say(fake, "/backtest views 2", user=USER))[0].text
        ru = (await _say(fake, "/backtest views 2", user=MEMBER, language="ru"))[0].text
        history = (await _say(fake, "/history", user=USER))[0].text
        history_ru = (await _say(fake, "/history", user=MEMBER, language="ru"))[0].text
    assert "(times in Asia/Tokyo; intervals of 15 minutes;" in en, en
    assert "(время по Asia/Tokyo; шаг 15 минут;" in ru, ru
    local = END.astimezone(ZoneInfo("Asia/Tokyo"))
    for said, zone, when in ((history, "(times in Asia/Tokyo)", f"{local:%m-%d %H:%M}"),
                             (history_ru, "(время по Asia/Tokyo)", f"{local:%d.%m %H:%M}")):
        assert zone in said.splitlines()[0] and f"{when} <b>" in said, said


async def test_history_counts_its_alerts_in_the_languages_plural_forms(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/history's header takes the form of its number: "Последнее оповещение", "Последние 2
    оповещения", "5 оповещений", "21 оповещение" (not "Последние оповещения (1)"); English
    "The last alert", "Last 2 alerts"."""
    path = tmp_path / "s.db"
    state = State(path)
    try:
        for n in range(21):
            state.journal.record_alert("views", "total", END - timedelta(minutes=15 * n),
                                       reason="below the expected range",
                                       numbers=(50.0, 100.0, 90.0, 110.0, -5.0), now=END)
    finally:
        state.close()
    settings = settings_for(fake.url, embedded_spec, path)
    heads = {}
    async with running(settings, fake, schedule=False, warm=False):
        for n in (1, 2, 5, 21):
            said = (await _say(fake, f"/history {n}", user=MEMBER, language="ru"))[0].text
            heads[n] = said.splitlines()[0]
        english = [(await _say(fake, f"/history {n}", user=USER))[0].text.splitlines()[0]
                   for n in (1, 2)]  # fmt: skip
    assert heads == {1: "<b>Последнее оповещение</b> (время по UTC)",
                     2: "<b>Последние 2 оповещения</b> (время по UTC)",
                     5: "<b>Последние 5 оповещений</b> (время по UTC)",
                     21: "<b>Последние 21 оповещение</b> (время по UTC)"}, heads  # fmt: skip
    assert english == ["<b>The last alert</b> (times in UTC)",
                       "<b>Last 2 alerts</b> (times in UTC)"], english  # fmt: skip


async def test_history_names_a_total_by_its_metric_alone(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/history names an alert's series as its card does, the title in the chat's language:
    a total by the title alone (a Russian chat read the English "views total", then the code
    `views` where the card said «Просмотры»), a slice after it; a metric the catalogue no longer
    has, by the name it had."""
    path = tmp_path / "s.db"
    state = State(path)
    try:
        for name, where in (("views", "os=iOS"), ("views", "total"), ("gone", "os=iOS")):
            state.journal.record_alert(name, where, END, reason="below the expected range",
                                       numbers=(50.0, 100.0, 90.0, 110.0, -5.0), now=END)
    finally:
        state.close()
    settings = settings_for(fake.url, embedded_spec, path)
    async with running(settings, fake, schedule=False, warm=False):
        en = (await _say(fake, "/history", user=USER))[0].text
        ru = (await _say(fake, "/history", user=MEMBER, language="ru"))[0].text
    for said, title, below in ((en, "Views", "below the expected range"),
                               (ru, "Просмотры", "ниже ожидаемого диапазона")):  # fmt: skip
        assert f" <b>{title}</b> — {below}" in said, said
        assert f" <b>{title} · os=iOS</b> — {below}" in said and "total" not in said, said
        assert f" <code>gone os=iOS</code> — {below}" in said, said


async def test_history_says_what_became_of_each_alert(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/history under each alert: what became of the incident it opened, as the alert's
    message says it after the buttons (resolved after how long, a false alarm and who said
    so, acknowledged by whom), or that it is still going on; and where it did not reach a chat,
    whether it is still waiting to be sent or never was (no subscriber, every try failed). An
    alert shown in a chat, on its own or in a digest, reached it; one whose incident a later
    alert took over says nothing more. Names people gave are escaped, in either language."""
    path = tmp_path / "s.db"
    state = State(path)
    try:
        def alert(metric: str, minutes: int) -> int:
            return state.journal.record_alert(
                metric, "total", END - timedelta(minutes=minutes),
                reason="below the expected range", numbers=(50.0, 100.0, 90.0, 110.0, -5.0),
                now=END - timedelta(minutes=minutes))

        def shown(incident: Incident) -> ShownIn:
            assert incident.id is not None
            return ShownIn(USER, 40 + incident.id, False, "🚨 …")

        since = END - timedelta(hours=3)
        views = state.incidents.save(Incident(  # off from 3 h ago, normal 45 minutes later
            "views", since, since, resolved_at=since + timedelta(hours=1), since=since,
            ok_since=since + timedelta(minutes=45), acknowledged_by="Anna <b>",
            alert_id=alert("views", 180)))  # fmt: skip
        state.incidents.add_message(views.id or 0, shown(views))
        likes = state.incidents.save(Incident("likes", END, END, false_alarm_by="Борис",
                                              alert_id=alert("likes", 60)))  # fmt: skip
        digest = state.digests.create([likes.id or 0], END)  # it went out in a digest
        state.digests.add_message(digest, shown(likes))
        state.journal.record_delivery(likes.id or 0, USER, None, END, "Forbidden: blocked")
        alert("ctr", 45)  # its incident was taken over by the next alert
        ctr = state.incidents.save(Incident("ctr", END, END, alert_id=alert("ctr", 30)))
        queued = state.outbox.enqueue(USER, "🚨 ctr", incident_id=ctr.id, now=END)
        state.outbox.mark(queued, OutboxStatus.PENDING, now=END, error="Too Many Requests",
                          retry_at=END + timedelta(days=365))  # a retry due much later
        state.incidents.save(Incident("feed_users", END, END, alert_id=alert("feed_users", 20)))
    finally:
        state.close()
    settings = settings_for(fake.url, embedded_spec, path)
    async with running(settings, fake, schedule=False, warm=False):
        en = (await _say(fake, "/history", user=USER))[0].text.splitlines()
        ru = (await _say(fake, "/history", user=MEMBER, language="ru"))[0].text.splitlines()
    fates = [line.strip() for line in en[1:] if not line[0].isdigit()]
    assert fates == ["🔴 still going on; 📭 not delivered to any chat",
                     "🔴 still going on; ⏳ waiting to be sent",
                     "🙅 false alarm, says Борис",
                     "✅ resolved after 45 min; 👀 acknowledged by Anna &lt;b&gt;"], en
    assert en[3].endswith("<b>CTR (likes / views)</b> — below the expected range")
    assert en[5][0].isdigit()
    assert [line.strip() for line in ru[1:] if not line[0].isdigit()] == [
        "🔴 ещё продолжается; 📭 не доставлено ни в один чат",
        "🔴 ещё продолжается; ⏳ ждёт отправки",
        "🙅 ложная тревога — отметил(а) Борис",
        "✅ снова в норме спустя 45 минут; 👀 принял(а) Anna &lt;b&gt;"], ru


@pytest.mark.slow
async def test_a_stuck_check_gets_the_last_report_marked_stale(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """After one check has finished, a check that does not finish (the next bucket's, held
    here by holding the monitor's check lock) leaves /metric answering within the budget from
    the last report, marked with its time and that the source is not answering."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    clock = Clock()
    async with running(settings, fake, clock, schedule=False) as monitor:
        first = await monitor.report(budget=120)
        monitor.budget = 2.0
        clock.now = END + timedelta(minutes=15)  # the cached report is now for an old bucket
        async with monitor._lock:  # a check in progress that never ends
            asked = time.monotonic()
            await fake.send("/metric views", user=USER)
            answer = await fake.wait_for(lambda c: c.chat_id == USER, seconds=10)
            took = time.monotonic() - asked
            await monitor.close()
    assert not first.stale
    assert took < 2.0 + 2.0, took
    caption = answer[0].text
    finished = first.checked_at.astimezone(settings.zone)
    assert caption.startswith("⚠️ The source is slow or not answering")
    assert f"from {finished:%H:%M}" in caption and "Views" in caption


@pytest.mark.slow
async def test_a_stale_answer_from_a_source_set_up_wrong_says_so(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A check that fails because the source is set up wrong (its table dropped after the
    first check) is no slow source either: /metric answers from the last report with "set up
    wrong", the source's own sentence to fix and no "slow", in the chat's language; /status
    shows that sentence too instead of calling the source reachable. A chat that chose
    Russian reads the source's sentence in Russian too: only what the server said, the path
    and the setting stay as written."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = embedded_spec.open(f"dropped_{tmp_path.name[-12:]}")
    await seeding.seed(source, days=2, end=END)
    clock = Clock()
    async with running(settings, fake, clock, schedule=False, source=source) as monitor:
        first = await monitor.report(budget=120)
        await source.execute("DROP TABLE feed_actions")
        clock.now = END + timedelta(minutes=15)  # the next check loads rows into it, and fails
        english = (await _say(fake, "/metric views", user=USER))[0].text
        await _say(fake, "/lang ru", user=MEMBER)
        russian = (await _say(fake, "/metric views", user=MEMBER))[0].text
        status = (await _say(fake, "/status", user=USER))[0].text  # the same, not "reachable"
        russian_status = (await _say(fake, "/status", user=MEMBER))[0].text
    finished = f"{first.checked_at.astimezone(settings.zone):%H:%M}"
    assert "missing table" in status and "reachable" not in status, status
    assert status.count("the embedded database at") == 1, status  # the source named once
    assert russian_status.count("встроенная база в") == 1, russian_status
    assert english.startswith("⚠️ The source is set up wrong (the embedded database at "), english
    assert "missing table" in english and f"from {finished}" in english
    assert "Fix what it names" in english and "slow" not in english
    assert russian.startswith("⚠️ Источник настроен неверно (встроенная база в "), russian
    assert f"проверка, от {finished}" in russian and "медлит" not in russian
    for said in (russian, russian_status):
        assert "нет таблицы (" in said and "проверьте CLICKHOUSE_DATABASE" in said, said
        assert "feed_actions" in said, said  # what the server said, as it said it
        assert "missing table" not in said and "check CLICKHOUSE" not in said, said
        assert "the embedded database" not in said and "or seed it" not in said, said


@pytest.mark.slow
async def test_status_says_the_last_check_failed_and_drops_a_source_error_it_outlived(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A check that fails on the source (its table dropped) shows the source's error in
    /status; once the table is back and the next check fails on something else (a table of
    the state file gone), /status no longer shows that source error, nor
    calls the source reachable, and says the last check failed and where its details are, in
    either language; a check that finishes again clears it all."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = embedded_spec.open(f"failing_{tmp_path.name[-12:]}")
    await seeding.seed(source, days=2, end=END)
    clock = Clock()
    async with running(settings, fake, clock, schedule=False, source=source, warm=False) as monitor:
        app = monitor.app  # type: ignore[attr-defined]
        await app.tick()
        await source.execute("DROP TABLE feed_actions")
        clock.now = END + timedelta(minutes=15)
        with pytest.raises(SourceError):
            await app.tick()
        on_source = (await _say(fake, "/status", user=USER))[0].text
        await seeding.seed(source, days=2, end=END)
        # A state file broken behind the bot's back: a table the check reads is gone. (An
        # override it cannot read or build fails that metric alone, not the check:
        # tests/test_overrides_refused.py.)
        monitor.state.db.write("ALTER TABLE baselines RENAME TO baselines_away", ())
        clock.now = END + timedelta(minutes=30)
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await app.tick()
        failed = (await _say(fake, "/status", user=USER))[0].text
        failed_ru = (await _say(fake, "/status", user=MEMBER, language="ru"))[0].text
        monitor.state.db.write("ALTER TABLE baselines_away RENAME TO baselines", ())
        clock.now = END + timedelta(minutes=45)
        await app.tick()
        fine = (await _say(fake, "/status", user=USER))[0].text
    assert "missing table" in on_source and "⚠️ the check at " in on_source, on_source
    assert "missing table" not in failed and "reachable" not in failed, failed
    at = f"{(END + timedelta(minutes=30)).astimezone(settings.zone):%H:%M:%S}"
    assert f"⚠️ the check at {at} UTC failed on the bot's side; the details are in the bot's " \
           "log" in failed, failed  # fmt: skip
    assert f"⚠️ проверка в {at} UTC не удалась по вине бота; подробности — в журнале бота" in (
        failed_ru), failed_ru  # fmt: skip
    assert "нет таблицы" not in failed_ru and "доступен" not in failed_ru, failed_ru
    assert "⚠️" not in fine and "reachable" in fine, fine


async def test_a_replay_of_a_table_the_source_cannot_read_says_why(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/backtest of a metric whose table is missing (the other table checks fine) answers with
    the source's own sentence, set up wrong, in the chat's language: not "failed on my side",
    which sends the user to a log that holds nothing of ours."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = embedded_spec.open(f"nomsg_{tmp_path.name[-12:]}")
    await seeding.seed(source, days=2, end=END)
    await source.execute("DROP TABLE message_actions")
    async with running(settings, fake, Clock(), schedule=False, source=source, warm=False):
        english = (await _say(fake, "/backtest messages", user=USER))[0].text
        await _say(fake, "/lang ru", user=MEMBER)
        russian = (await _say(fake, "/backtest messages", user=MEMBER))[0].text
    assert english.startswith("⚠️ The source is set up wrong (the embedded database at "), english
    assert "message_actions does not exist; check CLICKHOUSE_DATABASE" in english, english
    assert russian.startswith("⚠️ Источник настроен неверно (встроенная база в "), russian
    assert "message_actions нет; проверьте CLICKHOUSE_DATABASE" in russian, russian
    for said in (english, russian):
        assert "failed on my side" not in said and said.count("/db") <= 1, said


async def test_the_menu_is_the_command_table(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """setMyCommands lists exactly the table's commands, and /help names each one a user may
    use, admin-only ones only for admins."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        menu = (await fake.wait_for(lambda c: c.method == "setMyCommands"))[0]
        await fake.send("/help", user=USER)
        user_help = (await fake.wait_for(lambda c: c.chat_id == USER))[0].text
        await fake.send("/help", user=ADMIN)
        admin_help = (await fake.wait_for(lambda c: c.chat_id == ADMIN))[0].text
    listed = [c["command"] for c in json.loads(menu.data["commands"])]
    assert listed == [c.name for c in COMMANDS]
    for c in COMMANDS:
        line = f"{c.usage()} — {c.what}"
        assert line in admin_help
        assert (line in user_help) is not c.admin


async def test_a_failed_reply_never_shows_the_error_and_odd_numbers_get_the_usage(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A reply lost to a proxy's 502 page (which echoes the URL with the token) on every try
    gets a fixed apology, never the exception's text, and one warning line in the log (no
    traceback, not the page); '²' and a 20-digit duration get the usage line."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        for _ in range(len(PAUSES) + 1):  # the reply and each try again
            fake.fail_next_html("sendMessage", chat=USER)
        with caplog.at_level(logging.INFO):
            await fake.send("/help", user=USER)
            calls = await fake.wait_for(lambda c: c.chat_id == USER and c.method == "sendMessage")
        assert "Sorry, that failed on my side" in calls[0].text
        sent = json.dumps([c.data for c in fake.calls if c.method == "sendMessage"])
        assert TOKEN not in sent and "Bad Gateway" not in sent and "Decode" not in sent
        lost = [r for r in caplog.records if "a reply was not sent" in r.getMessage()]
        assert [(r.levelname, r.exc_info) for r in lost] == [("WARNING", None)]
        assert "ClientDecodeError" in lost[0].getMessage()
        ours = [r for r in caplog.records if r.name.startswith("bot.")]
        assert not any(r.exc_info for r in ours), [r.getMessage() for r in ours if r.exc_info]
        assert not any("Bad Gateway" in r.getMessage() for r in ours)
        for text, user in (("/history ²", USER), ("/backtest views ²", USER),
                           ("/mute views 99999999999999999999w", ADMIN)):  # fmt: skip
            before = len(fake.sent_to(user))
            await fake.send(text, user=user)
            answer = await fake.wait_for(answer_in(user, method="sendMessage"),
                                         count=before + 1)  # fmt: skip
            assert "Usage" in answer[-1].text and "Sorry" not in answer[-1].text, answer[-1].text


async def test_a_reply_telegram_asks_to_hold_back_is_sent_after_the_wait(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Flood control (429 with retry_after 1) on /status's reply: it is sent again once the
    wait is over, and the person gets the status, not the apology. A wait longer than a reply
    may take drops the reply with one warning line and no apology (Telegram would refuse it
    too): never an error with a traceback, as if it were a bug of ours."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", chat=USER,
                       parameters={"retry_after": 1})  # fmt: skip
        with caplog.at_level(logging.INFO):
            await fake.send("/status", user=USER)
            await fake.wait_for(answer_in(USER, method="sendMessage"))
        got = fake.sent_to(USER)
        assert len(got) == 1 and "Sorry" not in got[0].text, [c.text for c in got]
        refused = next(c for c in fake.calls if c.method == "sendMessage!429")
        assert got[0].at - refused.at >= 1.0  # after the wait Telegram asked for
        assert [c.method for c in fake.calls if c.chat_id == USER] == ["sendMessage!429",
                                                                       "sendMessage"]
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3600", chat=USER,
                       parameters={"retry_after": 3600})  # fmt: skip
        with caplog.at_level(logging.INFO):
            await fake.send("/status", user=USER)
            await fake.wait_for(lambda c: c.chat_id == USER and c.method == "sendMessage!429",
                                count=2)  # fmt: skip
            await asyncio.sleep(0.5)
    assert len(fake.sent_to(USER)) == 1
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert not any(r.exc_info for r in ours), [r.getMessage() for r in ours if r.exc_info]
    dropped = [r for r in ours if "a reply was not sent" in r.getMessage()]
    assert [r.levelname for r in dropped] == ["WARNING"]
    assert "3600" in dropped[0].getMessage()


def _hold(fake: FakeTelegram, method: str, seconds: int, chat: int | None = None) -> None:
    """Telegram's flood control on the next call of `method`: 429, retry after `seconds`."""
    fake.fail_next(method, 429, f"Too Many Requests: retry after {seconds}", chat=chat,
                   parameters={"retry_after": seconds})  # fmt: skip


@pytest.mark.slow
async def test_flood_control_waits_do_not_use_up_the_tries_after_a_failure_on_the_way(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
) -> None:  # fmt: skip
    """Three 429s in a row (1 s each) and then a 429 followed by two proxy pages: each reply
    still arrives, the waits counted apart from the two tries a failure on the way gets."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        for _ in range(3):
            _hold(fake, "sendMessage", 1, chat=USER)
        await fake.send("/status", user=USER)
        await fake.wait_for(answer_in(USER, method="sendMessage"), seconds=20)
        _hold(fake, "sendMessage", 1, chat=USER)
        fake.fail_next_html("sendMessage", chat=USER)
        fake.fail_next_html("sendMessage", chat=USER)
        await fake.send("/status", user=USER)
        await fake.wait_for(answer_in(USER, method="sendMessage"), count=2, seconds=20)
    got = fake.sent_to(USER)
    assert len(got) == 2 and not any("Sorry" in c.text for c in got), [c.text for c in got]
    tried = [c.method for c in fake.calls if c.chat_id == USER]
    assert tried == ["sendMessage!429"] * 3 + ["sendMessage", "sendMessage!429"] + [
        "sendMessage!502"] * 2 + ["sendMessage"], tried


async def test_replies_in_a_chat_held_back_all_arrive(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
) -> None:  # fmt: skip
    """Five people ask /help in the alert group at once and a reply meets a 2 s hold: every
    reply arrives, none as an apology, the held one after its wait (the chat's held-back
    replies then go one at a time)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        _hold(fake, "sendMessage", 2, chat=ALERTS)
        for user in range(1001, 1006):
            await fake.send("/help", user=user, chat=ALERTS)
        first = (await fake.wait_for(lambda c: c.method == "sendMessage!429"))[0]
        await fake.wait_for(answer_in(ALERTS, method="sendMessage"), count=5, seconds=30)
    got = fake.sent_to(ALERTS)
    assert len(got) == 5 and not any("Sorry" in c.text for c in got)
    # The hold is honoured: the held reply (each names its asker) went 2 s later or more.
    again = [c for c in got if c.data["text"] == first.data["text"]]
    assert len(again) == 1 and again[0].at - first.at >= 2.0, [c.at - first.at for c in got]


async def test_a_button_s_reply_survives_flood_control_on_its_answer_and_is_not_our_bug(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A 429 on answerCallbackQuery only loses the press's notice: the thresholds the button
    asks for still arrive. A 429 of an hour on the chart a Chart button sends drops it with a
    warning line, no traceback."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as _:
        alert = await _alert(fake)
        with caplog.at_level(logging.INFO):
            _hold(fake, "answerCallbackQuery", 1)
            await fake.press("thr:views", user=USER, chat=USER)
            await fake.wait_for(answer_in(USER, method="sendMessage"), seconds=20)
            _hold(fake, "sendPhoto", 3600, chat=ALERTS)
            await fake.press(_button(alert, Action.SHOW), user=USER, message=alert)
            await fake.wait_for(lambda c: c.method == "sendPhoto!429" and c.chat_id == ALERTS,
                                seconds=30)  # fmt: skip
            await asyncio.sleep(0.5)
    assert "Views" in fake.sent_to(USER)[0].text
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert not any(r.exc_info for r in ours), [r.getMessage() for r in ours if r.exc_info]
    lines = [r.getMessage() for r in ours if r.levelname == "WARNING"]
    assert any("could not answer a button press" in m and "flood control" in m for m in lines)
    assert any("a reply was not sent" in m and "3600" in m for m in lines), lines


async def test_a_reply_lost_on_the_way_once_is_sent_again(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A proxy's 502 page on /metric's chart and on /status's text: each is sent again and
    the person gets the chart and the status, not the apology; the log says so in one line
    each, without the page."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        fake.fail_next_html("sendPhoto", chat=USER)
        fake.fail_next_html("sendMessage", chat=USER)
        with caplog.at_level(logging.INFO):
            await fake.send("/metric views", user=USER)
            await fake.wait_for(answer_in(USER, method="sendPhoto"))
            await fake.send("/status", user=USER)
            await fake.wait_for(answer_in(USER, method="sendMessage"))
    got = fake.sent_to(USER)
    assert [c.method for c in got] == ["sendPhoto", "sendMessage"], [c.text for c in got]
    assert got[0].text.startswith("<b>Views</b>")
    assert not any("Sorry" in c.text for c in got)
    again = [r.getMessage() for r in caplog.records if "sending it again" in r.getMessage()]
    assert len(again) == 2 and all("ClientDecodeError" in m for m in again), again
    assert not any("Bad Gateway" in r.getMessage() for r in caplog.records)


async def test_a_press_answer_lost_on_the_way_is_sent_again(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A proxy's 502 page on the answer to a button press: the answer (here the out-of-date
    notice) is sent again and the spinner stops with it; the log has one line for the retry,
    no warning that the press went unanswered, and not the page."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        fake.fail_next_html("answerCallbackQuery")
        with caplog.at_level(logging.INFO):
            query = await fake.press("nonsense", user=USER, chat=USER)
            await fake.wait_for(lambda c: c.method == "answerCallbackQuery", seconds=20)
    calls = fake.answers(query)
    assert [c.method for c in calls] == ["answerCallbackQuery!502", "answerCallbackQuery"]
    assert calls[1].data.get("text") == "That button is out of date."
    messages = [r.getMessage() for r in caplog.records]
    assert sum("sending it again" in m for m in messages) == 1, messages
    assert not any("could not answer a button press" in m for m in messages)
    assert not any("Bad Gateway" in m for m in messages)


@pytest.mark.slow
async def test_a_press_answer_that_hung_is_not_tried_again(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """An answer to a press that hangs for longer than TOAST_WITHIN before failing is not
    sent again (Telegram no longer takes it, and what the press sends next would wait for
    every try): one warning line, and the next press is answered at once."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        fake.hang.add("answerCallbackQuery")
        with caplog.at_level(logging.INFO):
            query = await fake.press("nonsense", user=USER, chat=USER)
            await fake.wait_for(lambda c: c.method == "answerCallbackQuery?")
            await asyncio.sleep(TOAST_WITHIN + 1.0)
            fake.release()  # the hung call fails now (500), long after it was made
            second = await fake.press("nonsense", user=USER, chat=USER)
            await fake.wait_for(lambda c: c.method == "answerCallbackQuery"
                                and c.data.get("callback_query_id") == second)  # fmt: skip
            await asyncio.sleep(2.5)  # room for a retry of the first, were there one
    assert [c.method for c in fake.answers(query)] == ["answerCallbackQuery?"]
    messages = [r.getMessage() for r in caplog.records]
    assert not any("sending it again" in m for m in messages), messages
    assert sum("could not answer a button press" in m for m in messages) == 1, messages


async def test_a_lost_state_file_refuses_every_change_and_status_says_so(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Once the state file is found deleted, /subscribe, /mute and buttons change nothing and
    say why; /status leads with "Alerting is stopped"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{settings.state_path}{suffix}").unlink, missing_ok=True)
        with pytest.raises(StateLost, match="deleted"):
            monitor.state.db.verify()
        for text, user in (("/subscribe views", USER), ("/mute views 1h", ADMIN)):
            before = len(fake.sent_to(user))
            await fake.send(text, user=user)
            answer = await fake.wait_for(answer_in(user, method="sendMessage"),
                                         count=before + 1)  # fmt: skip
            assert "Alerting is stopped" in answer[-1].text
        assert monitor.state.subscriptions.of_chat(USER) == []
        assert monitor.state.mutes.active(END) == []
        query = await fake.press(pack(Action.ACK, 1), user=ADMIN, chat=ALERTS)
        await fake.wait_for(lambda c: c.method == "answerCallbackQuery")
        assert "stopped" in json.dumps([c.data for c in fake.answers(query)])
        before = len(fake.sent_to(USER))
        await fake.send("/status", user=USER)
        status = await fake.wait_for(lambda c: c.chat_id == USER, count=before + 1)
        assert "Alerting is stopped" in status[-1].text and "deleted" in status[-1].text


async def test_a_lost_state_file_leaves_group_chatter_and_other_bots_commands_alone(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """While the state file is lost, the bot still speaks in a group only when spoken to:
    people's talk and a command addressed to another bot get no "Alerting is stopped"; a
    command for this bot does, and a private chat's plain text gets the usual hint."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    group = -555
    async with running(settings, fake, schedule=False) as monitor:
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{settings.state_path}{suffix}").unlink, missing_ok=True)
        with pytest.raises(StateLost):
            monitor.state.db.verify()
        for text in ("коллеги, кто-нибудь смотрел дашборд?", "/check@other_bot"):
            await fake.send(text, user=USER, chat=group)
        await fake.send("/subscribe@alerts_bot", user=USER, chat=group)
        answer = await fake.wait_for(lambda c: c.chat_id == group)
        await asyncio.sleep(1.0)  # room for an answer to the chatter, were there one
        in_group = [c.text for c in fake.sent_to(group)]
        await fake.send("hello", user=USER)
        hint = await fake.wait_for(lambda c: c.chat_id == USER)
    assert "Alerting is stopped" in answer[0].text
    assert len(in_group) == 1, in_group
    assert "/help" in hint[0].text and "stopped" not in hint[0].text, hint[0].text


async def test_a_lost_state_file_stops_a_command_in_a_photo_caption_too(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """aiogram's command filters read a photo's caption as a message's text: "/mute views 1h"
    under a picture mutes views. While the state file is lost it must be stopped like the same
    command typed (the guard read only text, and the mute went into the lost file)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{settings.state_path}{suffix}").unlink, missing_ok=True)
        with pytest.raises(StateLost):
            monitor.state.db.verify()
        await fake._push({"message": {
            "message_id": 9001, "date": int(time.time()),
            "chat": {"id": ADMIN, "type": "private"},
            "from": {"id": ADMIN, "is_bot": False, "first_name": "Anna"},
            "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
            "caption": "/mute views 1h",
            "caption_entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        }})  # fmt: skip
        # the admins' notice of the loss comes first ("Alerting is stopped."), then the refusal
        await fake.wait_for(lambda c: c.chat_id == ADMIN and "Alerting is stopped</b>:" in c.text)
        await asyncio.sleep(1.0)  # room for the mute's own answer, were it taken
    said = [c.text for c in fake.sent_to(ADMIN)]
    assert not any("muted until" in text for text in said), said


async def test_a_reply_to_a_group_that_just_became_a_supergroup_goes_to_its_new_id(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A command asked in a group that Telegram upgrades to a supergroup before the answer:
    the answer is refused (400, migrate_to_chat_id). It logged a traceback and sent an apology
    to the old id (refused again); now the answer goes to the new id, with no traceback."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    group, supergroup = -555, -100555
    async with running(settings, fake, schedule=False):
        fake.migrate(group, supergroup)
        with caplog.at_level(logging.WARNING):
            await fake.send("/help", user=USER, chat=group)
            answer = await fake.wait_for(lambda c: c.chat_id == supergroup)
            await asyncio.sleep(1.0)  # an apology would be on its way by now
    assert "/subscribe" in answer[0].text and len(fake.sent_to(supergroup)) == 1
    assert [c.method for c in fake.calls if c.chat_id == group] == ["sendMessage!400"]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


async def test_a_command_pasted_with_an_invisible_character_is_told_so(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A command copied from a page often carries a zero-width space or a byte-order mark.
    The bot answered "I don't know /status" (the character invisible) to /status, or the
    hint that it answers commands; it now names the invisible character and what to type, in
    the chat's language."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        after = (await _say(fake, "/status\u200b", user=USER))[0].text
        before = (await _say(fake, "\ufeff/help", user=USER))[0].text
        russian = (await _say(fake, "/status\u2060", user=MEMBER, language="ru"))[0].text
        # no such command: typing it again would not help, so it is not offered
        unknown = (await _say(fake, "/stauts\u200b", user=USER))[0].text
    assert unknown == "I don't know /stauts. Send /help for the commands.", unknown
    assert "U+200B" in after and "/status" in after and "\u200b" not in after, after
    assert "I don't know" not in after, after
    assert "U+FEFF" in before and "/help" in before and "\ufeff" not in before, before
    assert "U+2060" in russian and "невидим" in russian, russian


async def test_in_a_group_the_bot_speaks_only_when_spoken_to(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Group chatter and commands addressed to another bot get no answer; a command
    addressed to this bot does; a private chat still gets the hint."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    group = -555
    async with running(settings, fake, schedule=False):
        for text in ("коллеги, кто-нибудь смотрел дашборд?", "/check@other_bot",
                     "/nosuchcmd@other_bot"):  # fmt: skip
            await fake.send(text, user=USER, chat=group)
        await fake.send("/nosuchcmd@alerts_bot", user=USER, chat=group)
        answer = await fake.wait_for(lambda c: c.chat_id == group)
        assert "I don't know /nosuchcmd@alerts_bot" in answer[0].text
        await asyncio.sleep(1.0)  # room for an answer to the chatter, were there one
        assert len(fake.sent_to(group)) == 1
        await fake.send("hello", user=USER)
        hint = await fake.wait_for(lambda c: c.chat_id == USER)
        assert "/help" in hint[0].text


async def test_in_a_private_chat_a_command_for_another_bot_still_gets_an_answer(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """In a private chat no other bot reads along: /check@other_bot (a name typed wrong) or
    /@ got no answer at all, as in a group; now each gets the usual sentence, in the chat's
    language."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        other = (await _say(fake, "/check@other_bot", user=USER))[0].text
        bare = (await _say(fake, "/@", user=USER))[0].text
        russian = (await _say(fake, "/status@alertsbot", user=MEMBER, language="ru"))[0].text
    assert "I don't know /check@other_bot" in other and "/help" in other, other
    assert "I don't know /@" in bare, bare
    assert "Не знаю команды /status@alertsbot" in russian, russian


async def _say(fake: FakeTelegram, text: str, *, user: int, chat: int | None = None,
               language: str | None = None, count: int = 1,
               as_group: bool = False) -> list[Call]:  # fmt: skip
    """`user` writes `text` (from a Telegram client set to `language`) in `chat` (private
    unless given; `as_group`: as the group itself, as its anonymous administrators write);
    returns the bot's answers there."""
    target = chat or user
    before = len(fake.sent_to(target))
    sender: dict[str, object] = {"id": user, "is_bot": False, "first_name": f"User{user}"}
    if language is not None:
        sender["language_code"] = language
    command = text.split(maxsplit=1)[0]
    await fake._push({"message": {
        "message_id": 10_000 + len(fake.calls), "date": int(time.time()),
        "chat": {"id": target, "type": "private" if chat is None else "group"},
        "from": sender, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        **({"sender_chat": {"id": target, "type": "supergroup", "title": "G"}}
           if as_group else {}),
    }})  # fmt: skip
    calls = await fake.wait_for(lambda c: c.chat_id == target and c.method in
                                ("sendMessage", "sendPhoto"), count=before + count)  # fmt: skip
    return calls[before:]


async def test_a_russian_client_gets_russian_help_status_and_menu(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A private chat from a Telegram client in Russian gets /help and /status in Russian
    (without choosing anything) and keeps Russian once it subscribes (its alerts come without
    a message to take the language from); an English client gets English; the menu is also
    set for Russian clients, in Russian. A Russian sentence names its language in lower case
    ("язык: русский"); the button keeps the name as a label ("Русский")."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        help_ru = (await _say(fake, "/help", user=USER, language="ru-RU"))[0].text
        status_ru = (await _say(fake, "/status", user=USER, language="ru"))[0].text
        help_en = (await _say(fake, "/help", user=MEMBER, language="en"))[0].text
        menus = await fake.wait_for(lambda c: c.method == "setMyCommands", count=3)
        assert monitor.state.languages.of_chat(USER) is None
        subscribed = (await _say(fake, "/subscribe views", user=USER, language="ru"))[0].text
        kept = monitor.state.languages.of_chat(USER)
        lang_ru = (await _say(fake, "/lang", user=USER, language="ru"))[0]
    assert ("Теперь этот чат получает оповещения по метрике <b>Просмотры</b> "
            "(<code>views</code>)") in subscribed, subscribed  # fmt: skip
    assert kept == "ru"
    assert "проверяет" in help_ru and "раз в 15 минут" in help_ru and "/lang [en|ru]" in help_ru
    assert "<b>Состояние</b>" in status_ru and "следующая проверка" in status_ru
    assert "язык: русский" in status_ru and "не получает оповещений" in status_ru
    assert "Язык этого чата: русский." in lang_ru.text, lang_ru.text
    assert [b["text"] for b in lang_ru.buttons] == ["English", "Русский"]
    assert "встроенная база в " in status_ru and "embedded database" not in status_ru
    assert "watches" in help_en and "every 15 minutes" in help_en and "проверяет" not in help_en
    russian = [m for m in menus if m.data.get("language_code") == "ru"]
    described = {c["command"]: c["description"] for c in json.loads(russian[0].data["commands"])}
    assert described["status"].startswith("последняя и следующая проверка")
    assert described["lang"] == "язык бота в этом чате"


async def test_a_russian_admin_sets_a_decimal_with_a_comma_and_reads_refusals_in_russian(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The bot writes k=3,25 in Russian, so an admin who types `/set views k 2,5` gets it set
    (not "a number, not '2,5'"); a combination the detector refuses (persist_k above
    persist_m) is said in Russian, without the detector's English; the method is not a /set
    parameter, and the reply says where it is set."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        done = (await _say(fake, "/set views k 2,5", user=ADMIN, language="ru"))[0].text
        also = (await _say(fake, "/set views k=3,5", user=ADMIN, language="ru"))[0].text
        refused = (await _say(fake, "/set views persist_k 5", user=ADMIN, language="ru"))[0].text
        method = (await _say(fake, "/set views method iqr", user=ADMIN, language="ru"))[0].text
        assert monitor.state.overrides.of("views")["k"].value == 3.5
    assert "k: 3,25 → <b>2,5</b>" in done, done  # the numbers as the chat writes them
    assert "k: 2,5 → <b>3,5</b>" in also, also
    assert "persist_k должен быть не больше persist_m (3), а не 5." in refused, refused
    assert "must be" not in refused and "got" not in refused
    assert "задаётся в каталоге" in method and "[metrics.views.detector]" in method, method


async def test_numbers_typed_oddly_are_refused_and_echoed_cut_with_an_ellipsis(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views k 1_0` set k to 10 and `k ４` (a full-width digit) to 4: Python reads both as
    numbers, people do not type them so. Both are refused now. /backtest's days ask for a whole
    number (1.5 was "must be a number from 1 to 14"). A value too long to repeat is cut with
    "…", not silently."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        underscore = (await _say(fake, "/set views k 1_0", user=ADMIN))[0].text
        wide = (await _say(fake, "/set views k ４", user=ADMIN))[0].text
        share = (await _say(fake, "/set views min_rel_change ５%", user=ADMIN))[0].text
        long = (await _say(fake, "/set views k " + "9" * 60, user=ADMIN))[0].text
        days = (await _say(fake, "/backtest views 1.5", user=ADMIN))[0].text
        assert not {"k", "min_rel_change"} & set(monitor.state.overrides.of("views"))
    assert "k must be a number from 0.5 to 20, not '1_0'." in underscore, underscore
    assert "not '４'." in wide, wide
    assert "not '５%'." in share, share
    assert f"not '{'9' * 39}…'." in long, long
    assert "The number of days must be a whole number from 1 to 14." in days, days


async def test_russian_help_writes_decimals_with_a_comma(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Russian writes 0,1, and the bot's own values already read so (k = 3,25): the knobs'
    words say "0,1 = 10%", the full list's valid ranges "от 0,5 до 20", and a refused /set
    names the range the same way; no number in them, or in /help, has a decimal point."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        short = (await _say(fake, "/thresholds views", user=ADMIN, language="ru"))[0].text
        first = len(fake.sent_to(MEMBER))
        await _say(fake, "/thresholds views all", user=MEMBER, language="ru")
        await fake.wait_for(lambda c: c.chat_id == MEMBER and c.text.endswith(
            "Изменить: <code>/set views k 4</code>"))  # fmt: skip
        full = "\n".join(c.text for c in fake.sent_to(MEMBER)[first:])
        refused = (await _say(fake, "/set views k 30", user=ADMIN, language="ru"))[0].text
        help_ru = (await _say(fake, "/help", user=ADMIN, language="ru"))[0].text
    assert "(0,1 = 10%" in short, short
    assert "<code>k</code> = <b>3,25</b>" in full and "число от 0,5 до 20" in full, full
    assert "k: нужно число от 0,5 до 20, а не «30»" in refused, refused
    for text in (short, full, refused, help_ru):
        assert re.search(r"\d\.\d", text) is None, re.findall(r".{30}\d\.\d.{10}", text)


@pytest.mark.slow  # nine /set, each one taken a check and two 7-day replays (test_chat_typed: fast)
async def test_a_share_takes_a_percentage_and_a_bare_number_above_one_is_asked_again(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views min_rel_change 5` meant 5%, not 500%: for a share, a bare number above 1 is
    refused with what to write instead (in the chat's language, nothing changed), and 5% sets
    0.05, as do 12,5 % and 0,05 in Russian; a bare 1 is the whole (100%); 500% still sets 5
    where the range allows it, and the reply shows the share as a percentage too. A share whose
    usual values pass 1 (tail, a multiplier) takes a bare 1.5 as before; other parameters take
    no percentage."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        changed = monitor.state.overrides.of
        bare = (await _say(fake, "/set views min_rel_change 5", user=ADMIN))[0].text
        assert "min_rel_change" not in changed("views")
        percent = (await _say(fake, "/set views min_rel_change 5%", user=ADMIN))[0].text
        assert changed("views")["min_rel_change"].value == 0.05
        spaced = (await _say(fake, "/set views window_min_rel 12,5 %", user=ADMIN,
                             language="ru"))[0].text  # fmt: skip
        assert changed("views")["window_min_rel"].value == 0.125
        bare_ru = (await _say(fake, "/set views level_clip 7", user=ADMIN, language="ru"))[0].text
        comma = (await _say(fake, "/set views min_rel_width=0,05", user=ADMIN,
                            language="ru"))[0].text  # fmt: skip
        assert changed("views")["min_rel_width"].value == 0.05
        one = (await _say(fake, "/set views min_rel_change 1", user=ADMIN))[0].text
        assert changed("views")["min_rel_change"].value == 1.0  # a bare 1 is a whole: 100%
        whole = (await _say(fake, "/set views min_rel_change 500%", user=ADMIN))[0].text
        assert changed("views")["min_rel_change"].value == 5.0
        over = (await _say(fake, "/set views min_rel_change 2000%", user=ADMIN))[0].text
        tail = (await _say(fake, "/set views tail 1.5", user=ADMIN))[0].text
        assert changed("views")["tail"].value == 1.5
        k = (await _say(fake, "/set views k 5%", user=ADMIN))[0].text
        assert "level_clip" not in changed("views") and "k" not in changed("views")
    assert "min_rel_change is a share: 5 would mean 500%; write 0.05 or 5%." in bare, bare
    assert "If you do mean 500%, write 500%." in bare and "Usage: <code>/set" in bare
    assert "min_rel_change: 0.1 (10%) → <b>0.05 (5%)</b>" in percent, percent
    assert "window_min_rel: 0,15 (15%) → <b>0,125 (12,5%)</b>" in spaced, spaced
    assert "level_clip — доля: 7 означало бы 700%; напишите 0,07 или 7%." in bare_ru, bare_ru
    assert "Если нужно именно" not in bare_ru  # 700% is past level_clip's range anyway
    assert "min_rel_width: 0,02 (2%) → <b>0,05 (5%)</b>" in comma, comma
    assert "min_rel_change: 0.05 (5%) → <b>1 (100%)</b>" in one, one
    assert "min_rel_change: 1 (100%) → <b>5 (500%)</b>" in whole, whole
    assert ("min_rel_change must be a share from 0 to 10 or a percentage from 0% to 1,000%, "
            "not '2000%'") in over, over  # fmt: skip
    assert "tail: 0.75 (75%) → <b>1.5 (150%)</b>" in tail, tail
    assert "k must be a number from 0.5 to 20, not '5%'" in k, k


async def test_a_negative_zero_is_set_and_shown_as_zero(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views min_rel_change -0%` (or -0) is zero: the reply showed "-0 (-0%)" and the
    override kept a negative zero; it now says 0 (0%), and setting 0 after it changes nothing."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        percent = (await _say(fake, "/set views min_rel_change -0%", user=ADMIN))[0].text
        kept = monitor.state.overrides.of("views")["min_rel_change"].value
        bare = (await _say(fake, "/set views min_rel_change -0", user=ADMIN))[0].text
        thresholds = (await _say(fake, "/thresholds views all", user=USER))[0].text
    assert "→ <b>0 (0%)</b>" in percent, percent
    assert "-0" not in percent and "-0" not in thresholds, thresholds
    assert str(kept) == "0.0", kept
    assert "is 0 (0%) already: nothing changed" in bare, bare


def test_every_share_is_a_parameter_of_the_detectors() -> None:
    """The shares /set reads as percentages name real parameters, each a number: a renamed one
    would lose its guard against 5 meaning 500% without a word."""
    import detectors
    from bot.chat.thresholds import SHARE_PARAMS, SHARES, SHARES_PAST_ONE
    from detectors import RULE_PARAMS

    params = {**RULE_PARAMS}
    for method in detectors.METHODS.values():
        params |= getattr(method, "PARAMS", {})
    assert SHARES and SHARES_PAST_ONE and not SHARES & SHARES_PAST_ONE
    for name in SHARE_PARAMS:
        assert name in params and params[name].type is float, name


async def test_start_never_offers_telegram_s_stand_in_for_an_anonymous_sender_as_an_admin_id(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/start written anonymously (as the group, or on behalf of a channel) comes from
    Telegram's stand-in (GroupAnonymousBot, Channel_Bot), whose id in ADMIN_IDS would make
    every anonymous writer of every group an admin: the answer says how to get one's own id
    (/start in a private chat) instead of showing that one, in the chat's language; a person
    writing as themselves still sees their id."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    group = -555
    async with running(settings, fake, schedule=False, warm=False):
        anonymous = (await _say(fake, "/start", user=1087968824, chat=group,
                                as_group=True))[0].text  # fmt: skip
        before = len(fake.sent_to(group))
        await fake._push({"message": {
            "message_id": 99, "date": int(time.time()),
            "chat": {"id": group, "type": "supergroup", "title": "G"},
            "from": {"id": 136817688, "is_bot": True, "first_name": "Channel"},
            "sender_chat": {"id": -1001234, "type": "channel", "title": "News"},
            "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        }})  # fmt: skip
        channel = (await fake.wait_for(lambda c: c.chat_id == group, count=before + 1))[-1].text
        await _say(fake, "/lang ru", user=ADMIN, chat=group)
        russian = (await _say(fake, "/start", user=1087968824, chat=group,
                              as_group=True))[0].text  # fmt: skip
        person = (await _say(fake, "/start", user=MEMBER, chat=group))[0].text
    for text in (anonymous, channel, russian):
        assert "1087968824" not in text and "136817688" not in text, text
        assert f"<code>{group}</code>" in text  # the chat's id is still right
    assert "anonymously" in anonymous and "private chat" in anonymous, anonymous
    assert "anonymously" in channel
    assert "анонимно" in russian and "личном чате" in russian, russian
    assert f"<code>{MEMBER}</code>" in person


async def test_lang_switches_a_group_for_its_admins_only(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """In a group, a stranger's /lang ru (or its button) is refused and changes nothing; the
    group's administrator switches it to Russian (replies follow), an ADMIN_IDS user back to
    English; /lang alone shows the language and the two buttons; a bad argument gets the
    usage and an example."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    group = -555
    fake.set_member(group, MEMBER, "administrator")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        refused = (await _say(fake, "/lang ru", user=STRANGER, chat=group))[0].text
        assert monitor.state.languages.of_chat(group) is None
        shown = (await _say(fake, "/lang", user=STRANGER, chat=group))[0]
        query = await fake.press(shown.buttons[1]["callback_data"], user=STRANGER, message=shown)
        pressed = await _answer(fake, query)
        assert monitor.state.languages.of_chat(group) is None
        done = (await _say(fake, "/lang ru", user=MEMBER, chat=group))[0].text
        chosen = monitor.state.languages.of_chat(group)
        help_ru = (await _say(fake, "/help", user=STRANGER, chat=group))[0].text
        bad = (await _say(fake, "/lang de", user=STRANGER, chat=group))[0].text
        back = (await _say(fake, "/lang en", user=ADMIN, chat=group))[0].text
        help_en = (await _say(fake, "/help", user=STRANGER, chat=group))[0].text
        # An anonymous administrator writes as the group (its sender is GroupAnonymousBot,
        # no member): it may, as it may /subscribe.
        anonymous = (await _say(fake, "/lang ru", user=1087968824, chat=group,
                                as_group=True))[0].text  # fmt: skip
        anonymous_lang = monitor.state.languages.of_chat(group)
        stranger_lang = (await _say(fake, "/lang en", user=1087968824, chat=group))[0].text
    assert "Only the group's administrators" in refused
    assert "This chat's language: English" in shown.text
    assert [b["text"] for b in shown.buttons] == ["English", "Русский"]
    assert "Only the group's administrators" in pressed
    assert chosen == "ru" and "теперь в этом чате я говорю" in done
    assert "проверяет" in help_ru
    assert "Формат: <code>/lang [en|ru]</code>" in bad and "Например: <code>/lang ru" in bad
    assert "Я говорю только по-английски и по-русски, не «de»: en или ru." in bad, bad
    assert "I speak English" in back and "watches" in help_en
    assert "теперь в этом чате я говорю" in anonymous and anonymous_lang == "ru"
    assert "Язык группы могут менять только её администраторы" in stranger_lang  # not as it


async def test_help_without_alert_chats_speaks_of_subscribed_chats_only(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """With no ALERT_CHAT_IDS, /help in a chat that gets nothing no longer speaks of chats
    "set up" for alerts (a newcomer looked for one): only chats that subscribe get alerts, in
    either language."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", alert_chat_ids=())
    async with running(settings, fake, schedule=False, warm=False):
        en = (await _say(fake, "/help", user=USER))[0].text
        ru = (await _say(fake, "/help", user=MEMBER, language="ru"))[0].text
    assert "; it alerts the chats that subscribed when one leaves its expected range; " \
           "/subscribe to get the alerts here." in en, en
    assert "set up" not in en and "here too" not in en
    assert "присылает оповещение в подписанные чаты" in ru and "настроенные" not in ru, ru


async def test_status_in_an_alert_chat_says_it_gets_every_alert(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/status and /help in a chat listed in ALERT_CHAT_IDS say it gets every alert (the
    notifier sends it each one), never "nothing (/subscribe)", and /help there offers no
    /subscribe or /unsubscribe, which change nothing there; a private chat without
    subscription is told how to subscribe, and not that alerts come "here"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        alert_chat = (await _say(fake, "/status", user=MEMBER, chat=ALERTS))[0].text
        private = (await _say(fake, "/status", user=USER))[0].text
        help_team = (await _say(fake, "/help", user=MEMBER, chat=ALERTS))[0].text
        help_private = (await _say(fake, "/help", user=USER))[0].text
    assert "alerts here when one leaves its expected range" in help_team
    assert "every alert by configuration" in help_team and "/unsubscribe" not in help_team
    assert "/unsubscribe [metric|all] — stop alerts in this chat" in help_private
    assert "alerts here when" not in help_private
    assert "/subscribe to get the alerts here too" in help_private
    assert "this chat gets every alert (it is an alert chat, ALERT_CHAT_IDS)" in alert_chat
    assert "nothing" not in alert_chat and "/subscribe" not in alert_chat
    assert "this chat gets no alerts (/subscribe to get them)" in private


async def test_intervals_are_the_settings_in_force(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """With CHECK_INTERVAL=30s, /status says every 30 seconds (not "every 0 min") and /help
    says so too (not a hard-coded 15 minutes), in both languages; the next check's time has
    its seconds ('last check 22:53:40', 'next check 22:53' said the next one was past)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db",
                            check_interval=timedelta(seconds=30))  # fmt: skip
    async with running(settings, fake, schedule=False, warm=False):
        status = (await _say(fake, "/status", user=USER))[0].text
        help_text = (await _say(fake, "/help", user=USER))[0].text
        status_ru = (await _say(fake, "/status", user=MEMBER, language="ru"))[0].text
    assert "(every 30 seconds)" in status and "0 min" not in status
    # to the second: "next check 12:07" read as a check a minute late, or already past
    assert re.search(r"next check \d\d:\d\d:\d\d \(every 30 seconds\)", status), status
    assert "every 30 seconds:" in help_text and "15 minutes" not in help_text
    assert "(раз в 30 секунд)" in status_ru


async def test_thresholds_show_defaults_names_and_the_full_list_one_tap_away(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/thresholds shows each metric's k (the default, never "k=—"); /thresholds views shows
    the knobs tuned first in plain words with values and defaults, who changed one by name,
    and a button to every parameter; the button and `/thresholds views all` list them all,
    in English and Russian (the metric by its title in each), each message within Telegram's
    limit; a direction reads "both (rises and drops)", not "both (both ways)"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        names = list(monitor.params(monitor.catalogue.metrics["views"]))
        changed = (await _say(fake, "/set views k 4", user=ADMIN))[0].text
        assert "k: 3.25 → <b>4</b>" in changed, changed
        overview = (await _say(fake, "/thresholds", user=USER))[0].text
        short = (await _say(fake, "/thresholds views", user=USER))[0]
        query = await fake.press(short.buttons[0]["callback_data"], user=USER, message=short)
        await _answer(fake, query)
        # The full list's last line: a /set that changes something (k is 4 already).
        last = "\nChange one: <code>/set views k 3.5</code>"
        await fake.wait_for(lambda c: c.chat_id == USER and c.text.endswith(last))
        pressed = fake.sent_to(USER)[fake.sent_to(USER).index(short) + 1:]
        first = len(fake.sent_to(MEMBER))
        await _say(fake, "/thresholds views all", user=MEMBER, language="ru")
        await fake.wait_for(lambda c: c.chat_id == MEMBER and c.text.endswith(
            "Изменить: <code>/set views k 3.5</code>"))  # the last line; a part may start with it
        full_ru = fake.sent_to(MEMBER)[first:]
        short_ru = (await _say(fake, "/thresholds views", user=MEMBER, language="ru"))[0].text
        # A second word that is not `all` is no second metric.
        wrong = (await _say(fake, "/thresholds views everything", user=USER))[0].text
        wrong_ru = (await _say(fake, "/thresholds views полностью", user=MEMBER,
                               language="ru"))[0].text  # «всё» is all, as «все» is
        many = (await _say(fake, "/thresholds views likes all", user=USER))[0].text
    assert "After the metric only all (every parameter), not 'everything'." in wrong, wrong
    assert "One metric" not in wrong and "Usage" in wrong
    assert ("После метрики можно написать только all (все параметры), а не «полностью»."
            in wrong_ru)  # fmt: skip
    assert "One metric at a time" in many, many
    assert "k=—" not in overview
    # Each metric by its title, as its alerts name it, with the name /thresholds takes.
    assert ("<b>Likes</b> (<code>likes</code>): seasonal, k = 3.25, rises and drops — catalogue "
            "settings") in overview, overview  # fmt: skip
    assert ("<b>Views</b> (<code>views</code>): seasonal, k = 4, rises and drops — changed: k = 4 "
            "by User1") in overview, overview  # fmt: skip
    # A metric's own catalogue settings differ from the next one's: the overview says them.
    assert ("<b>Messages sent</b> (<code>messages</code>): seasonal, k = 3.25, rises and drops, "
            "min_abs_change = 20 — catalogue settings") in overview, overview  # fmt: skip
    # The value's explanation does not say the value again ("both (both ways)").
    assert "<code>direction</code> = <b>both (rises and drops)</b>" in short.text, short.text
    assert "<code>direction</code> = <b>both (рост и падение)</b>" in short_ru, short_ru
    assert "Sensitivity</b> <code>k</code> = <b>4</b> (set by User1 " in short.text
    assert "default 3.25" in short.text and "Which moves alert" in short.text
    # A share reads as a percentage too, in the summary and in the whole listing, as /set
    # takes it and says it back.
    assert "<code>min_rel_change</code> = <b>0.1 (10%)</b> (default)" in short.text
    assert "<code>min_rel_change</code> = <b>0.1 (10%)</b> (default)" in "\n".join(
        c.text for c in pressed)
    assert "set by 1 " not in short.text and short.text.count("\n") < 15
    assert short.buttons[0]["text"] == f"All {len(names)} parameters"
    for listing in ([c.text for c in pressed], [c.text for c in full_ru]):
        shown = "\n".join(listing)
        assert all(f"<code>{n}</code> =" in shown for n in names), shown
        assert all(len(render_html(part)) <= 4096 for part in listing)
    assert "метод сезонный (<code>seasonal</code>)" in full_ru[0].text
    assert "Чувствительность</b>" in short_ru and "по умолчанию 3,25" in short_ru
    # the metric is named in the chat's language: the catalogue's Russian title, not "Views"
    assert short_ru.startswith("<b>Просмотры</b> (<code>views</code>)"), short_ru
    assert short.text.startswith("<b>Views</b> (<code>views</code>)"), short.text


async def test_mute_understands_words_for_units(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/mute views 3 days and (in Russian) 2 часа mute for that long; what is not a duration
    gets the exact usage and an example to copy; a shorter mute says what it replaced."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        days = (await _say(fake, "/mute views 3 days", user=ADMIN))[0].text
        views = monitor.state.mutes.until("views", END)
        hours = (await _say(fake, "/mute likes 2 часа", user=ADMIN, language="ru"))[0].text
        likes = monitor.state.mutes.until("likes", END)
        odd = (await _say(fake, "/mute views soon", user=ADMIN))[0].text
        twice = (await _say(fake, "/mute views 2h 2h", user=ADMIN))[0].text
        shorter = (await _say(fake, "/mute views 1d 12h", user=ADMIN))[0].text
    assert views == END + timedelta(days=3) and "muted until" in days
    # A shorter mute replaces a longer one, and says so (a typo for 12d is then seen).
    longer = f"{END + timedelta(days=3):%Y-%m-%d %H:%M}"
    assert f"It replaces the longer mute until {longer}" in shorter, shorter
    assert likes == END + timedelta(hours=2) and "заглушены до" in hours
    assert "'soon' is not a duration" in odd
    assert "'2h 2h' is not a duration" in twice, twice  # a slip, not 4 hours
    assert "Usage: <code>/mute METRIC|all DURATION</code>" in odd
    assert "For example: <code>/mute views 3h</code>" in odd


def _renamed_catalogue(folder: Path, name: str, to: str) -> Catalogue:
    """The bundled catalogue, copied into `folder` with metric `name` renamed `to`."""
    queries = Path(__file__).resolve().parents[1] / "queries"
    for sql in ("feed_actions.sql", "message_actions.sql"):
        shutil.copy(queries / sql, folder / sql)
    toml = (queries / "catalogue.toml").read_text(encoding="utf-8")
    (folder / "catalogue.toml").write_text(toml.replace(f"[metrics.{name}]", f"[metrics.{to}]"),
                                           encoding="utf-8")  # fmt: skip
    return load_catalogue(folder / "catalogue.toml")


async def test_a_metric_named_in_capitals_in_the_catalogue_is_named_in_any_case(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A catalogue's [metrics.DAU]: /mute DAU and /thresholds dau find it (the chat read names
    lowercased and found no 'dau': the metric could be neither muted, tuned nor subscribed
    to from the chat), and a typo gets "Did you mean DAU?"."""
    catalogue = _renamed_catalogue(tmp_path, "likes", "DAU")
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, catalogue=catalogue) as monitor:
        muted = (await _say(fake, "/mute DAU 2h", user=ADMIN))[0].text
        shown = (await _say(fake, "/thresholds dau", user=ADMIN))[0].text
        typo = (await _say(fake, "/metric DAUU", user=ADMIN))[0].text
        mutes = [m.metric for m in monitor.state.mutes.active(END)]
    assert "muted until" in muted and mutes == ["DAU"], (muted, mutes)
    assert "DAU" in shown and "There is no metric" not in shown, shown
    assert "Did you mean DAU?" in typo, typo


async def test_button_answers_follow_the_chat_language(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Once the alert group chose Russian, a stranger's Ack is refused and a member's Ack
    confirmed in Russian, and an out-of-date button says so in Russian."""
    fake.set_member(ALERTS, MEMBER)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, warm=False) as monitor:
        alert = await _alert(fake)
        monitor.state.languages.set(ALERTS, "ru", ADMIN, END)
        ack = _button(alert, Action.ACK)
        refused = await _answer(fake, await fake.press(ack, user=STRANGER, message=alert))
        done = await _answer(fake, await fake.press(ack, user=MEMBER, message=alert))
        stale = await _answer(fake, await fake.press("ack:424242", user=MEMBER, chat=ALERTS))
    assert refused.startswith("Отмечать этот инцидент могут только участники чата оповещений")
    assert done.startswith("Принято: напоминаний по этому инциденту больше не будет")
    assert stale == "Эта кнопка устарела."


async def test_false_alarm_on_a_resolved_alert_keeps_its_keyboard(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """An alert whose incident has resolved is marked False alarm: the edit keeps Undo false
    alarm, the mutes and the chart (a resolved incident has nothing to acknowledge), so the
    mark can still be taken back from that message."""
    fake.set_member(ALERTS, MEMBER)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        alert = await _alert(fake)
        false = _button(alert, Action.FALSE)
        incident_id = unpack(false)[1][0]  # type: ignore[index]
        incident = monitor.state.incidents.get(incident_id)
        assert incident is not None and incident.is_open
        monitor.state.incidents.save(replace(incident, resolved_at=incident.opened_at
                                             + timedelta(hours=1)))  # fmt: skip
        query = await fake.press(false, user=MEMBER, message=alert)
        await _answer(fake, query)
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption" and c.data.get(
            "message_id") == str(alert.message_id)))[0]  # fmt: skip
        marked = monitor.state.incidents.get(incident_id)
    assert marked is not None and marked.false_alarm_by is not None
    actions = {(unpack(b["callback_data"]) or (None,))[0] for b in edit.buttons}
    assert {Action.UNFALSE, Action.MUTE, Action.SHOW} <= actions, edit.buttons
    assert Action.ACK not in actions


async def test_check_charts_every_total_it_shows_red_before_any_slice(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/check's charts (three at most) go to the totals it marks 🔴 before any slice,
    however much further out a slice is, so a metric read as broken in the table is always
    drawn. On the demo the Android slices score higher than some of the red totals, which had
    no chart while those slices did."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        answers = await reply(fake, "/check", user=USER, count=4)  # the table and 3 charts
        report = (await monitor.report()).report
    by_title = {m.title: m.name for m in monitor.catalogue.metrics.values()}
    red = [by_title[title] for title in re.findall(r"^🔴 (.+?): ", render_html(answers[0]), re.M)]
    titles = [render_html(text).split("\n")[0].split(" — ")[0] for text in answers[1:]]

    def severity(name: str) -> float:
        return abs(next(r.verdict.score or 1e9 for r in report.anomalies
                        if r.metric.name == name and r.slice.is_total))  # fmt: skip

    # The case that went wrong: a red total less severe than the third most severe anomaly.
    third = sorted((abs(r.verdict.score or 1e9) for r in report.anomalies), reverse=True)[2]
    assert any(severity(name) < third for name in red), red
    drawn = min(len(red), 3)
    first = sorted(red, key=severity, reverse=True)[:drawn]
    # Drawn, whatever the order they are sent in (the largest change first).
    assert {monitor.catalogue.metrics[name].title for name in first} <= set(titles), titles
    assert sum(" · " in title for title in titles) == 3 - drawn, titles


async def test_a_chart_that_cannot_be_drawn_leaves_its_text(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """matplotlib failing on every picture (a font, a broken install) costs /check, /metric
    and /backtest their charts, not their answers: each chart's caption goes as a message of
    its own, /check's later charts still go, and the log says why once per chart."""
    from matplotlib.figure import Figure

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no renderer")

    monkeypatch.setattr(Figure, "savefig", broken)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    with caplog.at_level(logging.ERROR):
        async with running(settings, fake, schedule=False):
            check = await _say(fake, "/check", user=USER, count=4)  # the table and 3 charts
            single = await _say(fake, "/metric views os=Android", user=USER)
            replay = await _say(fake, "/backtest views 2", user=USER)
    assert [c.method for c in check] == ["sendMessage"] * 4, check
    assert all(" — " in render_html(c.text).split("\n")[0] for c in check[1:]), check
    assert [c.method for c in single] == ["sendMessage"], single
    assert render_html(single[0].text).startswith("Views · os=Android — "), single[0].text
    assert [c.method for c in replay] == ["sendMessage"] and "Views" in replay[0].text, replay
    failed = [r for r in caplog.records if "could not be drawn" in r.getMessage()]
    assert len(failed) == 3 + 2, [r.getMessage() for r in failed]


def _with_metrics(n: int) -> Catalogue:
    """The bundled catalogue and `n` more copies of views, each with a title of its own."""
    c = load_catalogue()
    metrics = dict(c.metrics)
    for i in range(n):
        name = f"views_{i:02d}"
        metrics[name] = replace(c.metrics["views"], name=name,
                                title=f"Feed views, all platforms {i:02d}",
                                names={"ru": {"title": f"Просмотры ленты, все платформы {i:02d}"}})
    return replace(c, metrics=metrics)


@pytest.mark.parametrize("command", ["/status", "/help", "/metrics", "/unmute all"])
async def test_many_metrics_by_title_are_answered_in_several_messages(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, command: str
) -> None:
    """81 metrics, each subscribed to and muted: /status, /help, /metrics and /unmute all name
    them all by title and name, over 4096 characters; Telegram refused the one message and
    the user read "that failed on my side". They now come in as many valid messages as it
    takes, the last metric named in one of them."""
    catalogue = _with_metrics(75)
    state = State(tmp_path / "s.db")
    for name in catalogue.metrics:
        state.subscriptions.add(ADMIN, name, END)
        state.mutes.add(name, END + timedelta(hours=3), ADMIN, END)
    state.close()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, catalogue=catalogue):
        await _say(fake, command, user=ADMIN)
        await fake.wait_for(lambda c: c.chat_id == ADMIN and "all platforms 74" in c.text)
        answers = [c for c in fake.sent_to(ADMIN) if c.method.startswith("sendMessage")]
    assert not [c.method for c in answers if "!" in c.method], [c.method for c in answers]
    shown = "".join(render_html(c.text) for c in answers)
    assert "failed on my side" not in shown
    assert all(len(render_html(c.text)) <= 4096 for c in answers)
    assert "all platforms 74" in shown, shown[-300:]


async def test_a_long_title_leaves_a_button_s_answer_its_news(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Metrics titled with 300 characters: the answer to 🔕 and 📏 New normal (200 characters
    at most) was cut inside the title and never said until when, or that it was accepted. The
    title is shortened there, and the sentence stays whole."""
    c = load_catalogue()
    title = ("Просмотры ленты: <b>жирно</b> & «ёлки» " * 10)[:300]
    catalogue = replace(c, metrics={n: replace(m, title=title) for n, m in c.metrics.items()})
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, catalogue=catalogue, warm=False):
        alert = await _alert(fake)
        muted = await _answer(fake, await fake.press(_button(alert, Action.MUTE), user=ADMIN,
                                                     message=alert))  # fmt: skip
        accepted = await _answer(fake, await fake.press(_button(alert, Action.ACCEPT),
                                                        user=ADMIN, message=alert))  # fmt: skip
    assert len(muted) <= 200 and " until " in muted and "…" in muted, muted
    assert len(accepted) <= 200 and accepted.endswith("accepted as normal."), accepted


async def test_set_with_a_word_too_many_says_it_takes_one_value(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views k 4 extra` was told "Name the metric, the parameter and its new value.",
    all of which it had named: it is told now that /set takes one value, with the line to
    send, in either language, and nothing is set (the method, not set with /set at all, is
    told where it is set)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        english = render_html((await _say(fake, "/set views k 4 extra", user=ADMIN))[0].text)
        spaced = render_html((await _say(fake, "/set views k = 4 5", user=ADMIN))[0].text)
        method = render_html((await _say(fake, "/set views method iqr x", user=ADMIN))[0].text)
        russian = render_html((await _say(fake, "/set views k 4 extra", user=ADMIN,
                                          language="ru"))[0].text)  # fmt: skip
        assert "k" not in monitor.state.overrides.of("views")
    assert english.startswith("/set takes one value, not '4 extra': send /set views k 4"), english
    assert "Name the metric" not in english
    assert spaced.startswith("/set takes one value, not '4 5': send /set views k 4"), spaced
    assert "set in the catalogue" in method and "takes one value" not in method, method
    assert russian.startswith("/set принимает одно значение, а не «4 extra»: отправьте "
                              "/set views k 4"), russian  # fmt: skip


async def test_an_unknown_parameter_is_answered_with_the_closest_and_the_list(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views kk 4` got "views has no parameter 'kk'" and a pointer to the full list of
    47: it now offers the closest name (in any case: `K` is k), the parameters people change
    most and where every one is listed, in the chat's language; a name close to none gets the
    list without a guess."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        typo = render_html((await _say(fake, "/set views kk 4", user=ADMIN))[0].text)
        upper = render_html((await _say(fake, "/set views K 4", user=ADMIN))[0].text)
        far = render_html((await _say(fake, "/set views zzzz 4", user=ADMIN))[0].text)
        russian = render_html((await _say(fake, "/set views persist 2", user=ADMIN,
                                          language="ru"))[0].text)  # fmt: skip
        assert not monitor.state.overrides.of("views")
    assert typo.startswith("views has no parameter 'kk'. Did you mean k? "), typo
    assert ("The ones people change most: k, direction, min_rel_change, min_abs_change, "
            "persist_k, severe, days; every one: /thresholds views all") in typo, typo
    assert "Did you mean k?" in upper, upper
    assert "Did you mean" not in far and "/thresholds views all" in far, far
    assert russian.startswith("У views нет параметра «persist». Возможно, вы имели в виду "
                              "persist_"), russian  # fmt: skip
    assert "Чаще всего меняют: k, direction" in russian, russian
    assert "все параметры — /thresholds views all" in russian, russian


async def test_a_slice_by_a_dimension_the_metric_lacks_says_what_to_type(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/metric views platform=iOS` got "views is sliced by os, source, country, not
    'platform'.": it now says what to send, the line with the closest dimension where one is
    close (`contry`), else the value alone, which finds its slice, in either language."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        far = render_html((await _say(fake, "/metric views platform=iOS", user=USER))[0].text)
        close = render_html((await _say(fake, "/metric views contry=Russia", user=USER))[0].text)
        russian = render_html((await _say(fake, "/metric views platform=iOS", user=MEMBER,
                                          language="ru"))[0].text)  # fmt: skip
        alone = await _say(fake, "/metric views iOS", user=USER)  # what it offers works
    assert far.startswith("views is sliced by os, source, country, not 'platform': send the "
                          "value alone, /metric views iOS, and I find its slice."), far
    assert close.startswith("views is sliced by os, source, country, not 'contry'. Did you "
                            "mean /metric views country=Russia?"), close  # fmt: skip
    assert russian.startswith("У views срезы по os, source, country, а не по «platform»: "
                              "отправьте только значение, /metric views iOS, и я найду его "
                              "срез."), russian  # fmt: skip
    assert render_html(alone[0].text).startswith("Views · os=iOS"), alone[0].text


@pytest.mark.slow
async def test_a_metric_whose_table_cannot_be_read_says_why_and_what_to_do(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/metric of a metric whose table is missing (the other table checks fine) said "Cannot
    check messages now: <error>", and no more: it now names the source once, says it is set
    up wrong and what to do next, in either language."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = embedded_spec.open(f"nometric_{tmp_path.name[-12:]}")
    await seeding.seed(source, days=2, end=END)
    await source.execute("DROP TABLE message_actions")
    async with running(settings, fake, Clock(), schedule=False, source=source):
        english = render_html((await _say(fake, "/metric messages", user=USER))[0].text)
        russian = render_html((await _say(fake, "/metric messages", user=MEMBER,
                                          language="ru"))[0].text)  # fmt: skip
    assert english.startswith("⚠️ Cannot check Messages sent (messages) now: the source is set "
                              "up wrong (the embedded database at "), english  # fmt: skip
    assert "message_actions does not exist" in english, english
    assert english.endswith("Fix what it names, then try again; /status shows more."), english
    assert english.count("the embedded database at") == 1, english
    assert russian.startswith("⚠️ Не удаётся проверить Отправленные сообщения (messages): "
                              "источник настроен неверно (встроенная база в "), russian
    assert russian.endswith("Исправьте то, что названо, и попробуйте снова; подробнее — "
                            "/status."), russian  # fmt: skip
