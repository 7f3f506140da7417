"""The Telegram bot end to end: real aiogram polling a fake Bot API server over HTTP, the demo
data in chDB, the clock fixed at the dataset's end (the Android incident is ongoing)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import BotApp
from bot.core.buttons import Action, pack, unpack
from bot.service.monitor import Monitor
from bot.settings import Settings, load_settings
from bot.state import State
from queries.catalogue import Catalogue, load_catalogue
from queries.sources import EmbeddedSource, Source
from tests.conftest import (
    DAYS,
    END,
    PRISTINE,
    ServerControl,
    SourceSpec,
    copy_database,
    held_history,
)
from tests.fakebot import Call, FakeTelegram

TOKEN = "42:TEST-TOKEN"
ADMIN, USER, ALERTS = 1, 2, -100


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


def settings_for(url: str, spec: SourceSpec, state: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "bot_token": TOKEN, "telegram_api_url": url, "admin_ids": (ADMIN,),
        "alert_chat_ids": (ALERTS,), "state_path": state, "clickhouse_url": None,
        "clickhouse_database": spec.database,
        "http_port": 0,  # no /healthz listener: bots of several tests never fight for a port
    }  # fmt: skip
    if spec.path is not None:
        values["embedded_path"] = spec.path
    return load_settings(**{**values, **extra})


async def lifecycle_spec(embedded_spec: SourceSpec, database: str) -> SourceSpec:
    """`database` (re)created on the embedded server with 8 days of demo data ending at END
    (a copy of the session's, as seeded), whose Android incident lasts END .. END + 3 h:
    checks moved on from END see it open, then resolve, loading the rows after END into
    `database` alone."""
    assert DAYS == 8  # the days these scenarios were written for
    await copy_database(embedded_spec, PRISTINE, database)
    return SourceSpec("embedded", path=embedded_spec.path, database=database)


def hold_history(settings: Settings) -> None:
    """A new state file of a bot on the session's seeded data, with the bundled catalogue,
    starts as a copy of the one holding that data's history (conftest.held_history): as after
    a restart, the bot's first check fetches only its last hour."""
    held = held_history(settings.embedded_path, settings.clickhouse_database)
    if held is not None and settings.catalogue_path is None and not settings.state_path.exists():
        shutil.copyfile(held, settings.state_path)


class Clock:
    """The time the bot believes it is; tests move it."""

    def __init__(self) -> None:
        self.now = END

    def __call__(self) -> datetime:
        return self.now


# What a command waits for a check before answering from the last one, in these tests: more
# than the product's 10 s, which a first check on the embedded demo can take on a busy 2-core
# machine (the suite run beside a benchmark did), and less than `FakeTelegram.wait_for`'s 30 s.
# The tests of the budget itself set it lower.
COMMAND_BUDGET = 25.0


@asynccontextmanager
async def running(
    settings: Settings,
    fake: FakeTelegram,
    clock: Clock | None = None,
    *,
    schedule: bool = True,
    source: Source | None = None,
    catalogue: Catalogue | None = None,
    warm: bool = True,
    held: bool = True,
) -> AsyncIterator[Monitor]:
    """The bot as `alertbot run` starts it (with `catalogue`), stopped cleanly afterwards.
    `warm=False`: no /check charts drawn ahead after each check (Monitor.warm), for scenarios
    that run check after check and never ask for them (each would draw three charts per
    check, a second or more of CPU, to throw away). `held=False`: a new state file starts
    empty, as at a first install, not holding the seeded data's history (`hold_history`)."""
    if source is None:
        source = EmbeddedSource(settings.embedded_path, database=settings.clickhouse_database)
        if catalogue is None and held:
            hold_history(settings)
    monitor = Monitor(source=source, catalogue=catalogue or load_catalogue(),
                      state=State(settings.state_path), settings=settings,
                      clock=clock or Clock())  # fmt: skip
    monitor.budget = COMMAND_BUDGET
    app = BotApp(settings, monitor)
    monitor.warm = warm
    monitor.app = app  # type: ignore[attr-defined]  # tests trigger checks through it
    stop = asyncio.Event()
    task = asyncio.create_task(
        app.run(
            stop=stop, handle_signals=False, polling_timeout=1, schedule=schedule, drain_every=0.2
        )
    )
    try:
        await fake.wait_for(lambda c: c.method == "setMyCommands")
        yield monitor
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        monitor.state.close()
        await source.close()


def is_alert(call: Call) -> bool:
    """Whether a sent message is an alert (its buttons act on an incident or an alert)."""
    return any(unpack(b.get("callback_data")) is not None for b in call.buttons)


def answer_in(chat: int, *, method: str | None = None, text: str = "") -> Callable[[Call], bool]:
    """What the bot sent to `chat` (by `method`, else any send; holding `text`), alerts left
    out."""
    methods = (method,) if method else ("sendMessage", "sendPhoto")
    return lambda c: (c.chat_id == chat and c.method in methods and text in c.text
                      and not is_alert(c))  # fmt: skip


async def reply(fake: FakeTelegram, text: str, *, user: int, count: int = 1) -> list[str]:
    """Send `text` as `user` and return the texts (and captions) of the bot's answers; an
    alert the subscribed user gets meanwhile is not an answer."""
    before = len([c for c in fake.sent_to(user) if not is_alert(c)])
    await fake.send(text, user=user)
    calls = await fake.wait_for(answer_in(user), count=before + count)
    return [c.text for c in calls[before:]]


async def test_first_check_pushes_the_incident_alert_with_its_chart(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """At start-up the bot sets its command menu, checks, and sends the alert chat a photo
    whose caption names the metric, the slice that moved, the value and the expected range."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, held=False):  # a first start: nothing held yet
        commands = (await fake.wait_for(lambda c: c.method == "setMyCommands"))[0]
        names = {c["command"] for c in json.loads(commands.data["commands"])}
        assert {"check", "metric", "set", "mute", "backtest", "status"} <= names
        photos = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        caption = photos[0].text
        assert "Android" in caption and "expected" in caption and "off since" in caption
        assert len(caption) <= 1024
        assert photos[0].file("photo")[:8] == b"\x89PNG\r\n\x1a\n"
        rows = json.loads(photos[0].data["reply_markup"])["inline_keyboard"]
        assert [b["text"] for b in rows[0]] == ["👀 Ack", "🙅 False alarm"]
        assert [b["text"] for b in rows[1]][:2] == ["🔕 1 h", "🔕 24 h"]


async def test_commands_answer_users(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/start, /check, /metric, /metrics, /thresholds, /status, /history and bad input: every
    command answers, wrong arguments with the correct usage."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake):
        hello = (await reply(fake, "/start", user=USER))[0]
        assert "/check" in hello and f"your user id: <code>{USER}</code>" in hello
        check = await reply(fake, "/check", user=USER, count=4)  # the table and 3 charts
        assert "Feed active users" in check[0] and "slices off" in check[0]
        assert [c.method for c in fake.sent_to(USER)[-3:]] == ["sendPhoto"] * 3
        metric = await reply(fake, "/metric views os=Android", user=USER)
        assert "Views · os=Android" in metric[0] and "anomaly" in metric[0]
        assert fake.sent_to(USER)[-1].method == "sendPhoto"
        assert "Views · os=iOS" in (await reply(fake, "/metric views iOS", user=USER))[0]
        wrong = await reply(fake, "/metric veiws", user=USER)
        assert "Did you mean views?" in wrong[0] and "Usage: <code>/metric" in wrong[0]
        # A one-word title is a name too, in the catalogue's languages; a typo in one is
        # answered with the metric's name.
        assert (await reply(fake, "/metric Лайки", user=USER))[0].startswith("<b>Likes</b>")
        russian = (await reply(fake, "/metric просмотрры", user=USER))[0]
        assert "Did you mean views?" in russian, russian
        assert "no slice" in (await reply(fake, "/metric views os=Windows", user=USER))[0]
        # A bare value that is no slice lists the slices too, as os=Windows does; a long
        # one is cut with "…".
        typo = (await reply(fake, "/metric views Russiaa", user=USER))[0]
        assert "Views (views) has no slice 'Russiaa'; slices: total, os=Android" in typo, typo
        long = (await reply(fake, "/metric views " + "Б" * 60, user=USER))[0]
        assert f"no slice '{'Б' * 39}…'; slices:" in long, long
        assert "ctr" in (await reply(fake, "/metrics", user=USER))[0]
        assert "ctr" in (await reply(fake, "/Metrics", user=USER))[0]
        thresholds = await reply(fake, "/thresholds views", user=USER)
        assert "persist_k" in thresholds[0] and "k</code> = <b>3.25" in thresholds[0]
        status = await reply(fake, "/status", user=USER)
        assert "last check" in status[0] and "reachable" in status[0]
        history = (await reply(fake, "/history 5", user=USER))[0]
        # The stored reasons in the chat's words, as alerts and /check say them.
        assert "Last" in history and "expected range" in history and "bucket" not in history
        assert "from 1 to 50" in (await reply(fake, "/history 500", user=USER))[0]
        assert "I don't know /frobnicate" in (await reply(fake, "/frobnicate", user=USER))[0]
        await reply(fake, "/lang ru", user=USER)
        russian = (await reply(fake, "/history 5", user=USER))[0]
        assert "диапазон" in russian and "expected range" not in russian


@pytest.mark.slow
async def test_settings_are_for_admins_and_survive_a_restart(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A non-admin's /set is refused politely; an admin's is validated, shows its effect on
    the last 7 days, and is still in force (with subscriptions) after a restart."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, warm=False):
        refused = await reply(fake, "/set views k 5", user=USER)
        assert "only admins" in refused[0]
        bad = await reply(fake, "/set views k -1", user=ADMIN)
        assert "k must be a number from 0.5 to 20, not '-1'" in bad[0] and "Usage" in bad[0]
        unknown = await reply(fake, "/set views speed 3", user=ADMIN)
        assert "no parameter 'speed'" in unknown[0]
        same = await reply(fake, "/set views k 3,25", user=ADMIN)  # the value in force
        assert same[0] == ("<b>Views</b> (<code>views</code>) k is 3.25 already: nothing "
                           "changed."), same
        assert "set by" not in (await reply(fake, "/thresholds views", user=ADMIN))[0]
        done = await reply(fake, "/set views k 6", user=ADMIN)
        assert "k: 3.25 → <b>6</b>" in done[0] and "would have raised" in done[0]
        # As the catalogue and --set write it: PARAM=VALUE.
        also = await reply(fake, "/set views severe=3", user=ADMIN)
        assert "severe: 2 → <b>3</b>" in also[0]
        assert "Usage" in (await reply(fake, "/set views severe=", user=ADMIN))[0]
        # HTML, ':' and Cyrillic in the value, and a stranger's PARAM=VALUE: escaped, refused.
        odd = await reply(fake, "/set views jump=<b>Очень:длинное_значение</b>", user=ADMIN)
        assert "jump must be a number from 0 to 100, not '&lt;b&gt;Очень:длинное" in odd[0]
        assert "only admins" in (await reply(fake, "/set views jump=0", user=USER))[0]
        # A phone capitalizes the first letter: a command is the same in any case, its
        # refusal too.
        assert "only admins" in (await reply(fake, "/Set views jump=0", user=USER))[0]
        assert "jump: 2 → <b>1</b>" in (await reply(fake, "/SET views jump=1", user=ADMIN))[0]
        assert "🔔" in (await reply(fake, "/subscribe views", user=USER))[0]
        # In a chat of ALERT_CHAT_IDS a subscription changes nothing, and the reply says so.
        await fake.send("/unsubscribe", user=USER, chat=ALERTS)
        said = await fake.wait_for(lambda c: c.chat_id == ALERTS and "ALERT_CHAT_IDS" in c.text)
        assert "gets every alert by configuration" in said[0].text
        assert "ALERT_CHAT_IDS" not in (await reply(fake, "/subscribe views", user=USER))[0]
    # No scheduled check this time: its alert to the subscribed USER would race the replies.
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        assert monitor.state.overrides.of("views")["k"].value == 6.0
        assert monitor.state.subscriptions.of_chat(USER) == ["views"]
        shown = await reply(fake, "/thresholds views", user=USER)
        assert "k</code> = <b>6</b> (set by User1 " in shown[0]  # the name, not the id
        assert "↩️" in (await reply(fake, "/reset views", user=ADMIN))[0]
        assert monitor.state.overrides.of("views") == {}


async def test_mutes_from_command_and_button(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/mute needs an admin and a valid duration, and its alert shows it (/unmute takes it off);
    the alert's mute button works for admins only; a muted metric gets no alert."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        assert "not a duration" in (await reply(fake, "/mute views soon", user=ADMIN))[0]
        assert "1 minute to 30 days" in (await reply(fake, "/mute views 90d", user=ADMIN))[0]
        assert "muted until" in (await reply(fake, "/mute views 2h", user=ADMIN))[0]
        assert monitor.state.mutes.until("views", END) is not None
        views = monitor.state.incidents.open_for("views")
        assert views is not None and views.id is not None
        shown = monitor.state.incidents.messages(views.id)
        assert shown  # its alert went out, and /mute edits it to say so, as the button does
        await fake.wait_for(lambda c: c.method == "editMessageCaption"
                            and c.message_id == shown[0].message_id
                            and c.text.startswith("🔕 muted until"))  # fmt: skip
        likes = monitor.state.incidents.open_for("likes")
        assert likes is not None and likes.id is not None
        await fake.press(pack(Action.MUTE, likes.id, 1), user=USER, chat=ALERTS)
        refused = await fake.wait_for(lambda c: c.method == "answerCallbackQuery"
                                      and "Only admins" in c.data.get("text", ""))  # fmt: skip
        assert refused
        assert monitor.state.mutes.until("likes", END) is None
        await fake.press(pack(Action.MUTE, likes.id, 24), user=ADMIN, chat=ALERTS)
        said = await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                                   and " muted until " in c.text)  # fmt: skip
        # The metric by its title and name, as the alert names it and /unmute takes it.
        assert said[0].text.startswith("🔕 <b>Likes</b> (<code>likes</code>) muted until "), said
        day = monitor.state.mutes.until("likes", END)
        assert day is not None
        # Its 1 h button now keeps the longer mute, and says so, instead of cutting it short.
        await fake.press(pack(Action.MUTE, likes.id, 1), user=ADMIN, chat=ALERTS)
        kept = await fake.wait_for(lambda c: c.method == "answerCallbackQuery"
                                   and "stays muted until" in c.data.get("text", ""))  # fmt: skip
        assert kept[0].data["text"].startswith("Likes (likes) stays muted until "), kept[0].data
        assert monitor.state.mutes.until("likes", END) == day
        assert "on again" in (await reply(fake, "/unmute views", user=ADMIN))[0]
        edits = await fake.wait_for(lambda c: c.method == "editMessageCaption"
                                    and c.message_id == shown[0].message_id, count=2)  # fmt: skip
        assert "🔕" not in edits[-1].text.split("\n")[0]  # the mute line goes with the mute


async def test_concurrent_requests_share_one_check(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Twenty chats asking for /metric at once are all answered, from one computation."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        users = range(100, 120)
        await asyncio.gather(*(fake.send("/metric likes", user=u) for u in users))
        for u in users:
            await fake.wait_for(answer_in(u, text="Likes"))
        runs = monitor.state.db.rows("SELECT count() FROM check_runs")[0][0]
        assert runs == 1


async def test_backtest_command_sends_a_chart(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/backtest METRIC [days] replays the current settings and answers with a chart."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake):
        answer = await reply(fake, "/backtest views 2", user=USER)
        assert "would have raised" in answer[0] and "in the last 2 days (" in answer[0]
        one = (await reply(fake, "/backtest views 1", user=USER))[0]
        assert "in the last day over" in one and "a day)" not in one, one
        assert fake.sent_to(USER)[-1].method == "sendPhoto"
        assert "from 1 to 14" in (await reply(fake, "/backtest views 99", user=USER))[0]


@pytest.mark.slow
async def test_alerts_survive_telegram_rate_limits_and_blocked_chats(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A 429 with retry_after is waited out and the alert still arrives once; a chat that
    blocked the bot (403, and getChat agrees) loses its subscriptions instead of failing every
    check."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    state = State(settings.state_path)
    state.subscriptions.add(777, "*", END)
    state.close()
    fake.fail_next("sendPhoto", 429, "Too Many Requests: retry after 1", chat=ALERTS,
                   parameters={"retry_after": 1})  # fmt: skip
    fake.chat_gone(777)  # blocked: every send and getChat answer 403
    async with running(settings, fake) as monitor:
        await fake.wait_for(lambda c: c.method == "sendPhoto!429")
        await fake.wait_for(lambda c: c.method == "sendPhoto!403")
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        await asyncio.sleep(1.5)  # anything still in flight lands now
        to_alerts = [c for c in fake.calls if c.method == "sendPhoto" and c.chat_id == ALERTS]
        assert len(to_alerts) == len({c.text for c in to_alerts})  # none delivered twice
        assert not [c for c in fake.calls if c.method == "sendPhoto" and c.chat_id == 777]
        assert monitor.state.subscriptions.of_chat(777) == []


@pytest.mark.slow
async def test_a_reply_to_a_user_who_blocked_the_bot_is_one_log_line_and_no_apology(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A user who sends a command and blocks the bot before the answer (or a group that removed
    it during a slow /check): the answer gets 403. That logged two tracebacks and then sent an
    apology to the same chat, refused again; now one warning line, and nothing more is sent."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        fake.chat_gone(777)
        with caplog.at_level(logging.WARNING):
            await fake.send("/help", user=777)
            await fake.wait_for(lambda c: c.method == "sendMessage!403" and c.chat_id == 777)
            await asyncio.sleep(1.0)  # an apology would be on its way by now
    assert [c.method for c in fake.calls if c.chat_id == 777] == ["sendMessage!403"]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    said = [r.getMessage() for r in caplog.records if "777" in r.getMessage()]
    assert said == ["a reply to chat 777 was not sent: Telegram refused it (Telegram server "
                    "says - Forbidden: bot was blocked by the user); the bot is blocked there "
                    "or no longer in that chat"], said


@pytest.mark.slow
async def test_an_alert_chat_that_removed_the_bot_is_told_to_the_admins_once(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The alert chat kicked the bot: the admins hear once, in their language, which chat and
    what to do; /status counts every dropped alert, not the one error; the next loss to the
    same chat is not told again."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    state = State(settings.state_path)
    state.languages.set(ADMIN, "ru", ADMIN, END)
    state.close()
    fake.chat_gone(ALERTS, 403, "Forbidden: bot was kicked from the group chat")
    async with running(settings, fake, warm=False) as monitor:
        told = await fake.wait_for(answer_in(ADMIN, text=str(ALERTS)))
        assert "ALERT_CHAT_IDS" in told[0].text and "Forbidden: bot was kicked" in told[0].text
        assert "недоступен" in told[0].text, told[0].text  # the admin's language
        lost = sum(d.count for d in monitor.state.outbox.dropped(END - timedelta(days=3650)))
        assert lost >= 2
        monitor.state.outbox.enqueue(ALERTS, "one more", now=datetime.now(UTC))
        await monitor.app.delivery.drain()  # type: ignore[attr-defined]
        status = await reply(fake, "/status", user=ADMIN)  # in Russian, as the admin chose
        assert f"{lost + 1} сообщени" in status[0] and "отброшен" in status[0], status[0]
        assert str(ALERTS) in status[0] and "kicked" in status[0]
        # Anyone else sees how many, not which chats blocked or removed the bot.
        other = await reply(fake, "/status", user=USER)
        assert f"{lost + 1} messages dropped in the last 24 h" in other[0], other[0]
        assert str(ALERTS) not in other[0] and "kicked" not in other[0], other[0]
        # So does every member of a group where an admin asks.
        await fake.send("/status", user=ADMIN, chat=-300)
        group = (await fake.wait_for(lambda c: c.chat_id == -300))[0]
        assert str(ALERTS) not in group.text and "kicked" not in group.text, group.text
        notices = [c for c in fake.sent_to(ADMIN) if str(ALERTS) in c.text
                   and "Состояние" not in c.text]  # the notice, not the /status asked for
        assert len(notices) == 1, notices


@pytest.mark.slow
async def test_one_incident_is_one_alert_a_reminder_and_one_resolution(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Across checks of one episode: one alert, no repeat each check, a reminder only after
    REPEAT_INTERVAL, an acknowledgement shown on the alert, and once the metric is back for two
    checks the alert is edited to 'resolved after ...' and a resolution message follows."""
    spec = await lifecycle_spec(embedded_spec, "lifecycle")  # Android: END .. END + 3 h
    settings = settings_for(fake.url, spec, tmp_path / "s.db", repeat_interval="1h")
    clock = Clock()
    async with running(settings, fake, clock, schedule=False) as monitor:
        app = monitor.app  # type: ignore[attr-defined]

        def photos() -> list[str]:
            return [c.text for c in fake.calls if c.method == "sendPhoto" and c.chat_id == ALERTS]

        await app.tick()
        alerts = photos()
        assert len(alerts) >= 1 and any("Android" in a for a in alerts)
        clock.now = END + timedelta(minutes=15)
        await app.tick()
        assert photos() == alerts  # still the same incident: nothing new
        metric = next(m for m in ("feed_users", "views", "likes") if any(
            monitor.catalogue.metrics[m].title in a for a in alerts))  # fmt: skip
        incident = monitor.state.incidents.open_for(metric)
        assert incident is not None
        fake.set_member(ALERTS, USER)  # only members of the alert chat (or admins) may ack
        await fake.press(f"ack:{incident.id}", user=USER, chat=ALERTS)
        await fake.wait_for(lambda c: c.method == "editMessageCaption"
                            and "acknowledged by User2" in c.data.get("caption", ""))  # fmt: skip
        clock.now = END + timedelta(hours=1, minutes=30)
        await app.tick()
        reminders = [c.text for c in fake.calls if "still off" in c.text]
        assert reminders and not any(
            monitor.catalogue.metrics[metric].title in r for r in reminders
        )  # acknowledged: no reminder for it
        for minutes in (225, 240, 255):
            clock.now = END + timedelta(minutes=minutes)
            await app.tick()
        done = await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                                   and "back to normal" in c.text)  # fmt: skip
        assert "after" in done[0].text
        edits = [c for c in fake.calls if c.method == "editMessageCaption"
                 and "resolved after" in c.data.get("caption", "")]  # fmt: skip
        assert edits
        assert photos() == alerts  # never re-alerted during the episode
        assert monitor.state.incidents.open_for(metric) is None


@pytest.mark.slow
async def test_late_rows_give_one_late_notice_and_no_drop_alert(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Ingestion lag half-fills the newest buckets for 45 minutes: the operators hear once
    that the data is late and once that it arrives again; no metric alerts a drop."""
    from queries import demo, seeding

    end = datetime(2026, 11, 20, 11, 2, tzinfo=END.tzinfo)  # 14:02 local, a busy hour
    lag = demo.Incident("lag", demo.IncidentKind.LATE_DATA, end - timedelta(minutes=15),
                        end + timedelta(minutes=30), 0.0, {}, "rows 5-25 minutes late")  # fmt: skip
    spec = SourceSpec("embedded", path=embedded_spec.path, database="lagging")
    source = spec.open()
    await source.execute("CREATE DATABASE IF NOT EXISTS lagging")
    await seeding.seed(source, days=8, end=end, planned=(lag,), live_incidents=False)
    await source.close()
    settings = settings_for(fake.url, spec, tmp_path / "s.db")
    clock = Clock()
    clock.now = end
    async with running(settings, fake, clock, schedule=False) as monitor:
        app = monitor.app  # type: ignore[attr-defined]
        await app.tick()
        late = [c for c in fake.calls if "⏳ Data in" in c.text]
        feed = [c for c in late if "feed_actions" in c.text]
        assert {c.chat_id for c in feed} == {ALERTS, ADMIN} and len(feed) == 2
        assert "not judged" in late[0].text
        status = (await reply(fake, "/check", user=USER))[0]
        assert "⏳ feed_actions: the " in status and "judged once it fills" in status, status
        state = (await reply(fake, "/status", user=USER))[0]
        late_at = next(iter(monitor.last_report[0].late.values())).bucket
        assert "⏳ feed_actions: the " in state, state  # and complete only up to that interval
        assert f"complete up to {late_at.tz_convert(settings.zone):%H:%M}" in state, state
        for minutes in (15, 30, 60):
            clock.now = end + timedelta(minutes=minutes)
            await app.tick()
        late = [c for c in fake.calls if "⏳ Data in" in c.text]
        assert len([c for c in late if "feed_actions" in c.text]) == 2  # once, not per check
        back = [c for c in fake.calls if "✅ Data in" in c.text and "arriving again" in c.text]
        assert len(back) == len(late)  # each late notice has its all-clear
        assert not [c for c in fake.calls if c.method == "sendPhoto" and c.chat_id == ALERTS]
        assert all(monitor.state.incidents.open_for(m) is None for m in monitor.catalogue.metrics)


async def test_clickhouse_down_for_two_checks_gives_one_notice_each_way_and_no_false_alerts(
    fake: FakeTelegram, server_spec: SourceSpec, server_control: ServerControl, tmp_path: Path
) -> None:
    """The real ClickHouse server stopped for two checks, then started again: no alert and
    no resolution while it is gone, one outage notice, one recovery notice once it has been
    read twice in a row (RESOLVE_AFTER), and the bot keeps answering commands meanwhile."""
    from queries.sources import ClickHouseSource

    assert server_spec.url is not None
    # The seeded rows end at END: later buckets are empty. A grace this long keeps them "late"
    # rather than a silent table, so only the outage is under test here.
    settings = settings_for(fake.url, server_spec, tmp_path / "s.db", late_data_grace="3h",
                            clickhouse_url=server_spec.url)  # fmt: skip
    clock = Clock()
    source = ClickHouseSource(server_spec.url, database=server_spec.database, timeout=5,
                              retries=2, backoff=0.05)  # fmt: skip
    try:
        async with running(settings, fake, clock, schedule=False, source=source) as monitor:
            app = monitor.app  # type: ignore[attr-defined]
            await app.tick()
            before = len([c for c in fake.calls if c.method == "sendPhoto"])
            assert before >= 1
            open_before = {
                m: monitor.state.incidents.open_for(m) for m in monitor.catalogue.metrics
            }
            await server_control.stop()
            for minutes in (15, 30):
                clock.now = END + timedelta(minutes=minutes)
                await app.tick()
            assert len([c for c in fake.calls if c.method == "sendPhoto"]) == before
            assert "reachable" not in (await reply(fake, "/status", user=USER))[0]
            notices = [c for c in fake.calls if "Cannot read" in c.text]
            assert {c.chat_id for c in notices} == {ALERTS, ADMIN} and len(notices) == 2
            await server_control.start()
            clock.now = END + timedelta(minutes=45)
            await app.tick()
            assert not [c for c in fake.calls if "can be read again" in c.text]  # 1 of 2 clean
            clock.now = END + timedelta(minutes=60)
            await app.tick()
            back = [c for c in fake.calls if "can be read again" in c.text]
            assert len(back) == 2
            assert len([c for c in fake.calls if c.method == "sendPhoto"]) == before
            assert not [c for c in fake.calls if "back to normal" in c.text]
            for metric, incident in open_before.items():
                still = monitor.state.incidents.open_for(metric)
                assert (still is None) == (incident is None)
    finally:
        await server_control.start()  # whatever happened, the other tests need it


async def test_every_alert_arrives_exactly_once_through_429_and_502_storms(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The alert chat's first sends meet a 429 and then five 502s in a row: everything is
    delivered once the server recovers, and nothing twice."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    fake.fail_next("sendPhoto", 429, "Too Many Requests", chat=ALERTS,
                   parameters={"retry_after": 1})  # fmt: skip
    for _ in range(5):
        fake.fail_next("sendPhoto", 502, "Bad Gateway", chat=ALERTS)
    async with running(settings, fake, schedule=False) as monitor:
        app = monitor.app  # type: ignore[attr-defined]
        app.delivery.retry_base = 0.05
        await app.tick()
        opened = [m for m in monitor.catalogue.metrics if monitor.state.incidents.open_for(m)]
        assert opened
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS,
                            count=len(opened), seconds=60)  # fmt: skip
        await asyncio.sleep(1.0)
        delivered = [c.text for c in fake.calls if c.method == "sendPhoto" and c.chat_id == ALERTS]
        assert len(delivered) == len(opened) == len(set(delivered))
        assert len([c for c in fake.calls if c.method == "sendPhoto!502"]) == 5
        assert monitor.state.outbox.pending() == 0


async def test_a_crash_while_sending_loses_nothing_and_sends_nothing_twice(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The process dies while Telegram has not answered a send (as under kill -9); after a
    restart the outbox resumes: each alert arrives once, and the next check does not raise
    the same incidents again. The restart's log counts everything left to send, not only the
    message caught mid-send."""
    caplog.set_level(logging.INFO, logger="bot.service.delivery")
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    fake.hang.add("sendPhoto")
    async with running(settings, fake, schedule=False) as monitor:
        app = monitor.app  # type: ignore[attr-defined]
        tick = asyncio.create_task(app.tick())
        await fake.wait_for(lambda c: c.method == "sendPhoto?")
        tick.cancel()  # the process is gone mid-send: no clean-up of ours runs
        opened = [m for m in monitor.catalogue.metrics if monitor.state.incidents.open_for(m)]
    fake.release()
    async with running(settings, fake, schedule=False) as monitor:
        app = monitor.app  # type: ignore[attr-defined]
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS,
                            count=len(opened), seconds=30)  # fmt: skip
        await app.tick()  # the same incidents are still open: no new alert
        await asyncio.sleep(1.0)
        delivered = [c.text for c in fake.calls if c.method == "sendPhoto" and c.chat_id == ALERTS]
        assert len(delivered) == len(opened) == len(set(delivered))
        assert monitor.state.outbox.pending() == 0
    said = [r.getMessage() for r in caplog.records if "caught mid-send" in r.getMessage()]
    assert len(opened) > 1 and len(said) == 1, said
    waiting = int(re.search(r"holds (\d+) message", said[0]).group(1))  # type: ignore[union-attr]
    assert waiting >= len(opened) and "1 of them caught mid-send" in said[0], said


def _fuzz_messages(n: int, seed: int) -> list[str]:
    """Random commands and arguments of every awkward kind."""
    import random

    rng = random.Random(seed)
    commands = ["/start", "/help", "/check", "/metric", "/metrics", "/subscribe", "/unsubscribe",
                "/thresholds", "/history", "/status", "/backtest", "/set", "/reset", "/mute",
                "/unmute", "/nope", "/metric@alerts_bot", ""]  # fmt: skip
    words = ["views", "VIEWS", "ctr", "all", "os=iOS", "iOS", "country=Россия", "k", "-1", "0",
             "1e308", "NaN", "inf", "-5m", "99999999999999999999", "2h", "30d", "'; DROP TABLE "
             "feed_actions; --", "1 OR 1=1", "🚀🔥", "\u202e", "\x00", "os=", "=", "total",
             "persist_k", "window", "3.5", "days", "<b>", "&amp;", "feed_users"]  # fmt: skip
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.03:
            out.append("x" * 5000)
        elif kind < 0.06:
            out.append("/metric " + "ё" * rng.randint(100, 3000))
        else:
            args = " ".join(rng.choice(words) for _ in range(rng.randint(0, 4)))
            out.append(f"{rng.choice(commands)} {args}".strip() or "hello")
    return out


@pytest.mark.slow
async def test_fuzzed_commands_all_get_an_answer_and_change_nothing(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """2,000 random commands from non-admins: each one answered, none crashing a handler
    (no 'Sorry, that failed'), and no setting, mute or override changed."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    messages = _fuzz_messages(2000, seed=11)
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()  # the computation everyone's /check and /metric will share
        for n, text in enumerate(messages):
            await fake.send(text, user=10_000 + n)
        for n in range(len(messages)):
            await fake.wait_for(answer_in(10_000 + n), seconds=120)
        answers = [c for c in fake.calls if c.chat_id and c.chat_id >= 10_000]
        assert not [c.text for c in answers if "Sorry, that failed" in c.text]
        assert all(len(c.text) <= 4096 for c in answers)
        for metric in monitor.catalogue.metrics:
            assert monitor.state.overrides.of(metric) == {}
        assert monitor.state.mutes.active(END) == []
