"""Channels and the outbox drainer: the webhook against a local HTTP receiver, Telegram through
real aiogram against the fake Bot API server, and what Delivery makes of every outcome."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiohttp import web

from bot.channels import (
    Gone,
    Message,
    RateLimited,
    Rejected,
    RetryAfter,
    Sent,
    TelegramChannel,
    WebhookChannel,
    build_channels,
    buttons_json,
)
from bot.core.buttons import Action, Button, alert_buttons, pack
from bot.core.incidents import Incident
from bot.service.delivery import Delivery
from bot.state import ALL, OutboxStatus, State
from tests.fakebot import FakeTelegram

TOKEN = "77:CHANNEL-SECRET-TOKEN"
SECRET = TOKEN.split(":", 1)[1]
A, B = -100, -200
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    client = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    yield client
    await client.session.close()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    opened = State(tmp_path / "state.sqlite3")
    yield opened
    opened.close()


def delivery(state: State, **channels: Any) -> Delivery:
    out = Delivery(state, channels)
    out.retry_base = 0.05
    return out


def sends(fake: FakeTelegram, chat: int) -> list[Any]:
    return fake.sent_to(chat)


def attempts(fake: FakeTelegram, chat: int) -> list[Any]:
    """Every send to `chat` the fake saw, refused ones included."""
    return [c for c in fake.calls if c.chat_id == chat and c.method.startswith(("send", "Send"))]


# -- the webhook ---------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A local HTTP endpoint that answers scripted statuses (then 200) and records each POST."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    seen: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.json()))
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        return web.Response(status=status, headers=headers, text="<html>secret page</html>")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook?key=url-secret"
    yield hook
    await runner.cleanup()


def enqueue_hook(state: State, text: str = "<b>Views</b> fell &amp; stayed", **meta: Any) -> int:
    return state.outbox.enqueue(
        0, text, png=PNG, incident_id=7, channel="webhook", now=now(),
        meta={"event": "alert", "metric": "views", "slice": "os=Android", **meta},
    )  # fmt: skip


async def test_webhook_posts_the_alert_as_json_with_its_key_and_secret(
    state: State, receiver: Receiver
) -> None:
    """One POST: version, event, incident, metric, slice, plain text and the HTML, the outbox
    key as Idempotency-Key, the secret as a bearer token; the row is SENT."""
    row = enqueue_hook(state)
    sender = delivery(state, webhook=WebhookChannel(receiver.url, "s3cret"))
    assert await sender.drain() == 1
    [(headers, body)] = receiver.seen
    assert body == {
        "version": 1, "event": "alert", "incident_id": 7, "metric": "views",
        "slice": "os=Android", "text": "Views fell & stayed",
        "html": "<b>Views</b> fell &amp; stayed", "key": f"outbox-{row}",
    }  # fmt: skip
    assert headers["Idempotency-Key"] == f"outbox-{row}"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"].startswith("application/json")
    assert state.outbox.status(row) is OutboxStatus.SENT


async def test_webhook_retries_a_500_and_delivers_once_with_the_same_key(
    state: State, receiver: Receiver
) -> None:
    """A 500 leaves the row pending; the retry delivers it, with the same Idempotency-Key, and
    nothing is posted a third time."""
    receiver.answers = [(500, {})]
    row = enqueue_hook(state)
    sender = delivery(state, webhook=WebhookChannel(receiver.url))
    assert await sender.drain() == 0
    assert state.outbox.status(row) is OutboxStatus.PENDING
    await asyncio.sleep(1.1)  # the outbox keeps whole seconds
    assert await sender.drain() == 1
    await sender.drain()
    keys = [h["Idempotency-Key"] for h, _ in receiver.seen]
    assert keys == [f"outbox-{row}"] * 2
    assert "Authorization" not in receiver.seen[0][0]
    assert state.outbox.status(row) is OutboxStatus.SENT


async def test_a_message_that_keeps_failing_is_tried_again_later_each_time_up_to_5_minutes(
    state: State, receiver: Receiver
) -> None:
    """A receiver that answers 502 every time: the row stays pending, its tries are counted,
    and each next try is twice as far off as the one before (2, 4, 8 ... s) up to 5 minutes,
    read from when the outbox holds it due on a clock of the test's own, not by waiting."""
    receiver.answers = [(502, {})] * 11
    row = enqueue_hook(state)
    clock = [now()]
    sender = Delivery(state, {"webhook": WebhookChannel(receiver.url)}, wall=lambda: clock[0])
    waits = []
    for tries in range(1, 11):
        assert await sender.drain() == 0
        item = state.outbox.get(row)
        assert item is not None and item.attempts == tries
        assert state.outbox.status(row) is OutboxStatus.PENDING
        due = next(s for s in range(1, 400) if state.outbox.due(
            clock[0] + timedelta(seconds=s)))  # fmt: skip
        waits.append(due)
        clock[0] += timedelta(seconds=due)
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert len(receiver.seen) == 10


async def test_webhook_410_is_gone_and_drops_only_the_webhook_queue(
    state: State, receiver: Receiver, fake: FakeTelegram, bot: Bot
) -> None:
    """A 410: that row and the webhook's other pending rows are dead after one POST; a Telegram
    message in the same outbox is still delivered."""
    receiver.answers = [(410, {})]
    first, second = enqueue_hook(state), enqueue_hook(state, event="resolved")
    telegram = state.outbox.enqueue(A, "still here", now=now())
    sender = delivery(state, webhook=WebhookChannel(receiver.url), telegram=TelegramChannel(bot))
    assert await sender.drain() == 1
    assert len(receiver.seen) == 1
    assert state.outbox.status(first) is OutboxStatus.DEAD
    assert state.outbox.status(second) is OutboxStatus.DEAD
    assert state.outbox.status(telegram) is OutboxStatus.SENT


async def test_webhook_400_is_rejected_after_one_plain_retry(
    state: State, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 twice (as sent, then as plain text): the row is dead with both reasons, logged at
    ERROR, and neither the URL's key nor the receiver's page appears in the reason."""
    receiver.answers = [(400, {}), (400, {})]
    row = enqueue_hook(state)
    sender = delivery(state, webhook=WebhookChannel(receiver.url))
    with caplog.at_level(logging.INFO):
        assert await sender.drain() == 0
    assert len(receiver.seen) == 2
    assert state.outbox.status(row) is OutboxStatus.DEAD
    error = state.db.rows("SELECT error FROM outbox WHERE id=?", (row,))[0][0]
    assert error == "HTTP 400; as plain text: HTTP 400"
    assert any(r.levelno == logging.ERROR and str(row) in r.getMessage() for r in caplog.records)
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))
    assert "url-secret" not in ours + error and "secret page" not in ours + error


async def test_webhook_429_waits_retry_after_and_holds_the_channel(
    state: State, receiver: Receiver
) -> None:
    """A 429 with Retry-After: 1 pauses the webhook: the next row is not posted in that drain;
    after a second both are delivered."""
    receiver.answers = [(429, {"Retry-After": "1"})]
    first, second = enqueue_hook(state), enqueue_hook(state)
    sender = delivery(state, webhook=WebhookChannel(receiver.url))
    assert await sender.drain() == 0
    assert len(receiver.seen) == 1
    await asyncio.sleep(1.2)
    assert await sender.drain() == 2
    assert [b["key"] for _, b in receiver.seen] == [f"outbox-{i}" for i in (first, first, second)]


async def test_webhook_outcomes_for_unreachable_and_odd_statuses(receiver: Receiver) -> None:
    """Connection refused is a retry; 404 gone; 422 rejected; 503 with an HTTP-date Retry-After a
    retry; edit() is a no-op success."""
    message = Message(0, "<i>x</i>", key="k", meta={"event": "notice"})
    closed = WebhookChannel("http://127.0.0.1:9/hook")
    assert isinstance(await closed.send(message), RetryAfter)
    hook = WebhookChannel(receiver.url)
    receiver.answers = [(404, {}), (422, {}),
                        (503, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})]  # fmt: skip
    assert isinstance(await hook.send(message), Gone)
    assert isinstance(await hook.send(message), Rejected)
    later = await hook.send(message)
    assert isinstance(later, RetryAfter) and not isinstance(later, RateLimited)
    assert later.seconds > 1e6
    assert await hook.edit(message, 1, is_photo=False) == Sent(None)


# -- Telegram ------------------------------------------------------------------------------------


async def test_a_502_html_page_is_a_retry_and_the_retry_delivers_it_once(
    state: State, fake: FakeTelegram, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy's 502 page echoing the token: the channel answers RetryAfter (not an exception),
    the row waits, the next drain delivers it once, and neither log nor row holds the token."""
    fake.fail_next_html("sendPhoto", 502, chat=A)
    channel = TelegramChannel(bot)
    outcome = await channel.send(Message(A, "<b>x</b>", png=PNG))
    assert isinstance(outcome, RetryAfter) and not isinstance(outcome, RateLimited)
    assert outcome.reason.startswith("ClientDecodeError") and SECRET not in outcome.reason

    fake.fail_next_html("sendPhoto", 502, chat=A)
    row = state.outbox.enqueue(A, "<b>Views</b> fell", png=PNG, now=now())
    sender = delivery(state, telegram=channel)
    with caplog.at_level(logging.DEBUG):
        assert await sender.drain() == 0
        assert state.outbox.status(row) is OutboxStatus.PENDING
        await asyncio.sleep(1.1)
        assert await sender.drain() == 1
    assert [c.method for c in fake.calls] == ["sendPhoto!502", "sendPhoto!502", "sendPhoto"]
    assert state.outbox.status(row) is OutboxStatus.SENT
    errors = state.db.rows("SELECT error FROM deliveries")
    assert SECRET not in caplog.text and SECRET not in json.dumps(errors)


async def test_a_403_with_the_chat_still_there_drops_nothing(
    state: State, fake: FakeTelegram, bot: Bot
) -> None:
    """A 403 on one send while getChat still answers: that message waits about a minute, the
    chat's next message and the other chat's are delivered, its subscriptions stay."""
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat=A)
    state.subscriptions.add(A, ALL, now())
    first = state.outbox.enqueue(A, "one", now=now())
    second = state.outbox.enqueue(A, "two", now=now())
    other = state.outbox.enqueue(B, "three", now=now())
    assert await delivery(state, telegram=TelegramChannel(bot)).drain() == 2
    assert [c.method for c in fake.calls] == ["sendMessage!403", "getChat", "sendMessage",
                                              "sendMessage"]  # fmt: skip
    assert state.outbox.status(first) is OutboxStatus.PENDING
    retry_at = state.db.rows("SELECT next_at FROM outbox WHERE id=?", (first,))[0][0]
    assert retry_at >= now().timestamp() + 50
    assert state.outbox.status(second) is OutboxStatus.SENT
    assert state.outbox.status(other) is OutboxStatus.SENT
    assert state.subscriptions.of_chat(A) == [ALL]


async def test_a_403_confirmed_by_getchat_drops_only_that_chat(
    state: State, fake: FakeTelegram, bot: Bot
) -> None:
    """getChat fails with 403 too: that chat's queued messages are dead without being tried and
    its subscriptions off; the other chat's messages and subscriptions are untouched."""
    fake.chat_gone(A)
    for chat in (A, B):
        state.subscriptions.add(chat, "views", now())
    gone = [state.outbox.enqueue(A, f"a{n}", now=now()) for n in range(3)]
    kept = [state.outbox.enqueue(B, f"b{n}", now=now()) for n in range(2)]
    assert await delivery(state, telegram=TelegramChannel(bot)).drain() == 2
    assert [c.method for c in fake.calls if c.chat_id == A] == ["sendMessage!403", "getChat!403"]
    assert [state.outbox.status(i) for i in gone] == [OutboxStatus.DEAD] * 3
    assert [state.outbox.status(i) for i in kept] == [OutboxStatus.SENT] * 2
    assert [c.text for c in sends(fake, B)] == ["b0", "b1"]
    assert state.subscriptions.of_chat(A) == []
    assert state.subscriptions.of_chat(B) == ["views"]


async def test_chat_not_found_is_gone_only_once_getchat_agrees(
    bot: Bot, fake: FakeTelegram
) -> None:
    """400 "chat not found" then getChat "chat not found": Gone; the same 400 with getChat fine:
    a retry, not Gone."""
    channel = TelegramChannel(bot)
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found", chat=A)
    fake.fail_next("getChat", 400, "Bad Request: chat not found", chat=A)
    assert isinstance(await channel.send(Message(A, "x")), Gone)
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found", chat=A)
    assert isinstance(await channel.send(Message(A, "x")), RetryAfter)


async def test_a_caption_telegram_cannot_parse_goes_out_once_as_plain_text(
    state: State, fake: FakeTelegram, bot: Bot
) -> None:
    """A caption cut inside <a href> with buttons: Telegram refuses it; the photo goes out once
    more at once with the caption as plain text and no buttons, and the incident remembers that
    message and text."""
    incident = state.incidents.save(Incident("views", now(), now()))
    assert incident.id is not None
    caption = '<b>Views</b> fell 5 &lt; 7 <a href="https://grafana.example.com/d?x=1&amp;y'
    row = state.outbox.enqueue(A, caption, png=PNG, incident_id=incident.id, now=now(),
                               markup=buttons_json(alert_buttons(incident.id, 3)))  # fmt: skip
    assert await delivery(state, telegram=TelegramChannel(bot)).drain() == 1
    refused, sent = fake.calls
    assert refused.method == "sendPhoto!400"
    assert "can't parse entities" in refused.result["description"]
    assert sent.method == "sendPhoto" and "reply_markup" not in sent.data
    assert sent.data["caption"].startswith("Views fell 5 &lt; 7 ")
    assert sent.file("photo") == PNG
    assert state.outbox.status(row) is OutboxStatus.SENT
    [shown] = state.incidents.messages(incident.id)
    assert (shown.chat_id, shown.message_id, shown.is_photo) == (A, sent.message_id, True)
    assert shown.text == sent.data["caption"]


async def test_a_message_refused_twice_is_dead_and_others_go_on(
    state: State, fake: FakeTelegram, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused as sent and as plain text: the row is dead with both reasons, logged at ERROR; the
    next message is delivered."""
    fake.fail_next("sendMessage", 400, "Bad Request: TOPIC_CLOSED", chat=A)
    fake.fail_next("sendMessage", 400, "Bad Request: TOPIC_CLOSED", chat=A)
    dead = state.outbox.enqueue(A, "<b>first</b>", now=now())
    fine = state.outbox.enqueue(A, "second", now=now())
    with caplog.at_level(logging.WARNING):
        assert await delivery(state, telegram=TelegramChannel(bot)).drain() == 1
    assert state.outbox.status(dead) is OutboxStatus.DEAD
    assert state.outbox.status(fine) is OutboxStatus.SENT
    error = state.db.rows("SELECT error FROM outbox WHERE id=?", (dead,))[0][0]
    assert error.count("TOPIC_CLOSED") == 2 and "as plain text" in error
    assert [r.levelno for r in caplog.records if f"message {dead} " in r.getMessage()][-1] == (
        logging.ERROR
    )


async def test_a_429_holds_every_telegram_send_for_its_retry_after(
    state: State, fake: FakeTelegram, bot: Bot
) -> None:
    """429 retry_after=1 on the first send: no other chat is tried in that drain; a second later
    all arrive, each once."""
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", chat=A,
                   parameters={"retry_after": 1})  # fmt: skip
    state.outbox.enqueue(A, "a", now=now())
    state.outbox.enqueue(B, "b", now=now())
    sender = delivery(state, telegram=TelegramChannel(bot))
    assert await sender.drain() == 0
    assert [c.method for c in fake.calls] == ["sendMessage!429"]
    await asyncio.sleep(1.2)
    assert await sender.drain() == 2
    assert [c.text for c in sends(fake, A) + sends(fake, B)] == ["a", "b"]


async def test_a_network_error_is_a_retry(state: State) -> None:
    """Nothing listening at the Bot API URL: RetryAfter, the row pending, nothing raised."""
    session = AiohttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:9"))
    client = Bot(TOKEN, session=session)
    try:
        row = state.outbox.enqueue(A, "x", now=now())
        assert await delivery(state, telegram=TelegramChannel(client)).drain() == 0
    finally:
        await client.session.close()
    assert state.outbox.status(row) is OutboxStatus.PENDING
    error = state.db.rows("SELECT error FROM outbox WHERE id=?", (row,))[0][0]
    assert error.startswith("TelegramNetworkError") and SECRET not in error


async def test_edit_keeps_the_buttons_and_not_modified_counts_as_done(
    fake: FakeTelegram, bot: Bot
) -> None:
    """edit() sends the new caption and the buttons in one call; "message is not modified" is
    success; an edit Telegram refuses is Rejected."""
    channel = TelegramChannel(bot)
    buttons = ((Button("↩️ Un-ack", pack(Action.UNACK, 5)),),)
    sent = await channel.send(Message(A, "alert", png=PNG))
    assert isinstance(sent, Sent) and sent.message_id is not None
    edited = await channel.edit(Message(A, "👀 acked\nalert", buttons=buttons), sent.message_id,
                                is_photo=True)  # fmt: skip
    assert edited == Sent(sent.message_id)
    call = fake.calls[-1]
    assert call.method == "editMessageCaption" and call.data["caption"] == "👀 acked\nalert"
    assert [b["callback_data"] for b in call.buttons] == ["unack:5"]
    fake.fail_next("editMessageText", 400, "Bad Request: message is not modified: specified new "
                   "message content and reply markup are exactly the same")  # fmt: skip
    assert await channel.edit(Message(A, "t"), 9, is_photo=False) == Sent(9)
    fake.fail_next("editMessageText", 400, "Bad Request: message to edit not found")
    assert isinstance(await channel.edit(Message(A, "t"), 9, is_photo=False), Rejected)


@pytest.mark.parametrize(("description", "calls"), [
    ("Bad Request: message to edit not found", 1),
    ("Bad Request: can't parse entities: Unsupported start tag", 2),
])  # fmt: skip
async def test_an_edit_through_the_channel_ends_as_one_through_the_bot_does(
    fake: FakeTelegram, bot: Bot, state: State, description: str, calls: int
) -> None:
    """show_on through a TelegramChannel: a message deleted meanwhile is done at once (no
    plain-text try, nothing to retry), as through the Bot; an edit refused as it is goes again
    as plain text without buttons."""
    from bot.service.edits import show_on
    from bot.state import ShownIn

    slice_value = "Южный федеральный округ: " * 12 + "&lt;b&gt;"  # long, ':' and '<b>' as text
    shown = ShownIn(A, 9, is_photo=False, text=f"🔻 <b>Views</b> -40%\nos={slice_value}",
                    lang="en")  # fmt: skip
    buttons = ((Button("👀 Ack", pack(Action.ACK, 5)),),)
    fake.fail_next("editMessageText", 400, description)
    missed = await show_on(TelegramChannel(bot), state, [shown], "✅ resolved", buttons)
    edits = [c for c in fake.calls if c.method.startswith("editMessageText")]
    assert missed == 0 and len(edits) == calls, edits
    if calls == 2:
        assert edits[1].method == "editMessageText" and edits[1].text.startswith("✅ resolved")
        assert "<b>Views" not in edits[1].text and not edits[1].buttons
        assert edits[1].text.endswith("округ: &lt;b&gt;"), edits[1].text[-60:]


async def test_check_notify_s_token_check_leaves_a_5xx_or_a_proxy_page_to_the_retries(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`check --notify` asks getMe before its check: only a refused token stops the run. A 502
    HTML page from a proxy or a JSON 500 is transient: the run goes on and the outbox retries,
    and the page's text is never logged."""
    from bot.runtime import token_accepted
    from bot.settings import load_settings

    monkeypatch.setenv("TELEGRAM_API_URL", fake.url)
    settings = load_settings()
    fake.fail_next_html("getMe", 502)
    await token_accepted(bot, settings)
    fake.fail_next("getMe", 500, "Internal Server Error")
    await token_accepted(bot, settings)
    assert [c.method for c in fake.calls] == ["getMe!502", "getMe!500"]
    said = caplog.text.lower()
    assert "getme failed (clientdecodeerror)" in said and "<html" not in said and "9:" not in said


async def test_stop_ends_the_drain_between_messages_never_inside_one(
    state: State, fake: FakeTelegram, bot: Bot
) -> None:
    """`stop` set while a send is in flight: that message is finished and recorded SENT, the
    next one stays pending for the next start."""
    fake.delay("sendMessage", 0.5)
    first = state.outbox.enqueue(A, "one", now=now())
    second = state.outbox.enqueue(A, "two", now=now())
    stop = asyncio.Event()
    drain = asyncio.create_task(delivery(state, telegram=TelegramChannel(bot)).drain(stop))
    await fake.wait_for(lambda c: c.method == "sendMessage")
    stop.set()
    assert await drain == 1
    assert state.outbox.status(first) is OutboxStatus.SENT
    assert state.outbox.status(second) is OutboxStatus.PENDING
    assert len(fake.calls) == 1


async def test_rows_from_earlier_versions_and_unknown_channels(
    state: State, fake: FakeTelegram, bot: Bot
) -> None:
    """A row whose buttons are aiogram's InlineKeyboardMarkup JSON is sent with them; a row for
    a channel that is not configured is dead with a reason, not retried forever."""
    old = json.dumps({"inline_keyboard": [[{"text": "👀 Ack", "callback_data": "ack:4"}]]})
    row = state.outbox.enqueue(A, "old", markup=old, now=now())
    lost = state.outbox.enqueue(0, "hook", channel="webhook", now=now())
    assert await delivery(state, telegram=TelegramChannel(bot)).drain() == 1
    [sent] = sends(fake, A)
    assert [b["callback_data"] for b in sent.buttons] == ["ack:4"]
    assert state.outbox.status(row) is OutboxStatus.SENT
    assert state.outbox.status(lost) is OutboxStatus.DEAD


async def test_build_channels_adds_the_webhook_only_with_a_url(bot: Bot) -> None:
    """Telegram always; the webhook under its outbox name when a URL is given."""
    assert set(build_channels(bot, webhook_url=None, webhook_secret=None)) == {"telegram"}
    both = build_channels(bot, webhook_url="http://127.0.0.1:9/x", webhook_secret="s")
    assert set(both) == {"telegram", "webhook"}
    assert isinstance(both["webhook"], WebhookChannel)


async def test_a_gone_chat_is_counted_as_dropped_with_telegrams_words(
    state: State, fake: FakeTelegram, bot: Bot
) -> None:
    """A chat that removed the bot: its three queued messages are counted as dropped, by chat,
    with Telegram's words ('removed the bot (403)'), and the hook hears of the chat once."""
    from bot.core.drops import telegram_said, why_dropped

    fake.chat_gone(A, 403, "Forbidden: bot was kicked from the group chat")
    since = now()
    for n in range(3):
        state.outbox.enqueue(A, f"a{n}", now=now())
    state.outbox.enqueue(B, "b", now=now())
    out = delivery(state, telegram=TelegramChannel(bot))
    heard: list[tuple[int, str]] = []
    out.on_gone = lambda chat, reason: heard.append((chat, reason))
    assert await out.drain() == 1
    dropped = state.outbox.dropped(since)
    assert [(d.chat_id, d.count) for d in dropped] == [(A, 3)]
    assert why_dropped(dropped[0].reason) == "removed the bot (403)"
    assert telegram_said(dropped[0].reason) == "Forbidden: bot was kicked from the group chat"
    assert [chat for chat, _ in heard] == [A]
