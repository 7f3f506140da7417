"""The chat handlers through the real dispatcher and a fake Bot API server: one command table,
buttons answered whatever they carry, who may act on an incident, commands within a budget."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram import Dispatcher, Router
from aiogram.filters import Command

from bot.chat import routers
from bot.core.buttons import Action, pack, unpack
from bot.core.commands import COMMANDS
from bot.state import State, StateLost
from queries.sources import ClickHouseSource
from tests.conftest import END, SourceSpec
from tests.fakebot import Call, FakeTelegram, render_html
from tests.test_bot import ADMIN, ALERTS, TOKEN, USER, Clock, fake, running, settings_for

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
               "show:424242"]  # fmt: skip
    async with running(settings, fake, schedule=False):
        queries = [await fake.press(d, user=ADMIN, chat=ALERTS) for d in pressed]
        answers = [await _answer(fake, q) for q in queries]
        await asyncio.sleep(0.5)
    assert all(answers), dict(zip(pressed, answers, strict=True))
    assert set(answers) == {"That button is out of date."}
    others = [c.method for c in fake.calls if c.method.startswith(("edit", "send"))]
    assert others == []


async def test_a_stranger_cannot_ack_even_on_his_subscribed_copy(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A stranger who subscribed gets his own copy of the alert; his Ack and False alarm, on
    it or on the team's message, are refused with a sentence and the incident is unchanged."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    state = State(settings.state_path)
    state.subscriptions.add(STRANGER, "*", END)
    state.close()
    async with running(settings, fake) as monitor:
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


async def test_a_failing_get_chat_member_refuses_politely(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """When Telegram cannot say whether the presser is in the alert chat (getChatMember 502),
    the press is answered with a sentence, the incident is unchanged, and the bot goes on."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
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
    async with running(settings, fake) as monitor:
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
    assert "🔕 muted until" in edit.data["caption"].split("\n")[0]
    assert len(edit.buttons) == len(alert.buttons)


async def test_the_chart_button_sends_that_series_to_the_chat(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The chart button of an alert carries only the alert's id, and sends the chart and
    caption of the series that alerted to the chat where it was pressed."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        alert = await _alert(fake)
        show = _button(alert, Action.SHOW)
        record = monitor.state.journal.alert(unpack(show)[1][0])  # type: ignore[index]
        assert record is not None
        query = await fake.press(show, user=USER, message=alert)
        assert await _answer(fake, query)
        sent = await fake.wait_for(lambda c: c.chat_id == ALERTS and c.method == "sendPhoto"
                                   and not c.buttons)  # alerts carry buttons; charts do not
    title = monitor.catalogue.metrics[record.metric].title
    chart = sent[-1]
    assert title in chart.text
    if record.slice not in ("", "total"):
        assert record.slice.split("=", 1)[1] in chart.text


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


async def test_the_menu_is_the_command_table(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """setMyCommands lists exactly the table's commands, and /help names each one a user may
    use, admin-only ones only for admins."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
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
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A reply lost to a proxy's 502 page (which echoes the URL with the token) gets a fixed
    apology, never the exception's text; '²' and a 20-digit duration get the usage line."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        fake.fail_next_html("sendMessage", chat=USER)
        await fake.send("/help", user=USER)
        calls = await fake.wait_for(lambda c: c.chat_id == USER and c.method == "sendMessage")
        assert "Sorry, that failed on my side" in calls[0].text
        sent = json.dumps([c.data for c in fake.calls if c.method == "sendMessage"])
        assert TOKEN not in sent and "Bad Gateway" not in sent and "Decode" not in sent
        for text, user in (("/history ²", USER), ("/backtest views ²", USER),
                           ("/mute views 99999999999999999999w", ADMIN)):  # fmt: skip
            before = len(fake.sent_to(user))
            await fake.send(text, user=user)
            answer = await fake.wait_for(lambda c, u=user: c.chat_id == u and c.method ==
                                         "sendMessage", count=before + 1)  # fmt: skip
            assert "Usage" in answer[-1].text and "Sorry" not in answer[-1].text, answer[-1].text


async def test_a_lost_state_file_refuses_every_change_and_status_says_so(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Once the state file is found deleted, /subscribe, /mute and buttons change nothing and
    say why; /status leads with "Alerting is stopped"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(f"{settings.state_path}{suffix}").unlink, missing_ok=True)
        with pytest.raises(StateLost, match="deleted"):
            monitor.state.db.verify()
        for text, user in (("/subscribe views", USER), ("/mute views 1h", ADMIN)):
            before = len(fake.sent_to(user))
            await fake.send(text, user=user)
            answer = await fake.wait_for(lambda c, u=user: c.chat_id == u and c.method ==
                                         "sendMessage", count=before + 1)  # fmt: skip
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
