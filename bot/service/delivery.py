"""The outbox drainer: sends what is due through its channel and records the outcome.

What it guarantees. A message is in the outbox from the transaction that decided it, and leaves
it only as SENT (the channel accepted it; its message id kept with the row and the incident in
one transaction) or DEAD (rejected twice, as it was and as plain text; its chat confirmed gone;
its channel unknown), each with a reason. Everything else is retried with backoff, for as long
as it takes. A row is SENDING only while its one request is in flight: the drain stops between
messages, never in the middle of one, and a row a crash left SENDING is sent again at start-up
(Outbox.resume). So every message is delivered at least once, and at most once except in one
case: the channel accepted it and the process died before its answer was written down (a kill
in the instant between Telegram's reply and the commit). Telegram takes no idempotency key, so
that message can arrive twice; the webhook sends the same Idempotency-Key on every attempt, so a
receiver that honours it sees it once.

    Sent        -> SENT, message id kept, the incident learns which message shows it
    RateLimited -> this row later; nothing more through that channel until the wait is over
    Unreachable -> this row later, as RetryAfter; nothing more through that channel until then
                   (a check's drain waited a whole timeout per message of a Telegram that hung)
    RetryAfter  -> this row later: max(the channel's wait, retry_base * 2^attempts), <= 5 min
    Gone        -> DEAD; that chat's pending rows on that channel dropped, its subscriptions off;
                   a group upgraded to a supergroup (moved_to): this row, its queue and its
                   subscriptions go to the new id instead, due now
    Rejected    -> once more at once as plain text without buttons (cut to the limit); DEAD
                   when that is refused too
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from bot.channels.base import (
    Channel,
    Gone,
    Message,
    Outcome,
    RateLimited,
    Rejected,
    RetryAfter,
    Sent,
    Unreachable,
    buttons_from_json,
)
from bot.core.buttons import Button
from bot.core.text import CAPTION_LIMIT, MESSAGE_LIMIT, as_plain
from bot.state import ALL, OutboxStatus, Outgoing, ShownIn, State

__all__ = ["MAX_RETRY", "Delivery", "fallback", "gone_flag", "keyboard_of"]

log = logging.getLogger(__name__)
MAX_RETRY = 300.0  # seconds: the longest wait between two tries of one message


class Delivery:
    def __init__(
        self,
        state: State,
        channels: Mapping[str, Channel],
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.state = state
        self.channels = dict(channels)
        self.wall = wall  # the outbox's retry times are real time, whatever the check's clock
        self.retry_base = 2.0  # seconds before the first retry; doubles each time, up to 5 min
        self._paused: dict[str, datetime] = {}  # channel -> until when it asked us to wait
        self._draining = asyncio.Lock()
        # Told, inside the transaction that drops its queue, of a chat confirmed gone.
        self.on_gone: Callable[[int, str], None] | None = None

    def resume(self) -> int:
        """At start-up: messages a stop caught mid-send (kill -9, a crash) are due again, and
        the log says what this run has to send: all that waits in the outbox, and how many of
        those the stop caught mid-send. Returns how many wait."""
        caught = self.state.outbox.resume()
        waiting = self.state.outbox.pending()
        if waiting:
            log.info("the outbox holds %d message(s) to send, %d of them caught mid-send by the "
                     "last stop", waiting, caught)  # fmt: skip
        return waiting

    async def drain(self, stop: asyncio.Event | None = None) -> int:
        """Send what is due; returns how many went out. Stops between two messages when `stop`
        is set, never in the middle of one. Each row is tried at most once per drain."""
        sent = 0
        tried: set[int] = set()
        async with self._draining:
            while True:
                now = self.wall()
                items = [i for i in self.state.outbox.due(now, limit=len(tried) + 20)
                         if i.id not in tried]  # fmt: skip
                if not items:
                    return sent
                for item in items:
                    if stop is not None and stop.is_set():
                        return sent
                    tried.add(item.id)
                    if self._is_paused(item.channel):
                        continue
                    sent += await self._deliver(item)

    def _is_paused(self, channel: str) -> bool:
        until = self._paused.get(channel)
        return until is not None and self.wall() < until

    async def _deliver(self, item: Outgoing) -> int:
        """One row, start to end; 1 when it went out."""
        channel = self.channels.get(item.channel)
        if channel is None:
            reason = f"no channel named {item.channel!r} is configured"
            log.error("outbox message %d dead: %s", item.id, reason)
            self.state.outbox.mark(item.id, OutboxStatus.DEAD, now=self.wall(), error=reason)
            return 0
        message = Message(
            chat_id=item.chat_id,
            text=item.text,
            png=item.png,
            buttons=_buttons(item),
            key=f"outbox-{item.id}",
            meta={"incident_id": item.incident_id, **(item.meta or {})},
        )
        if not self.state.outbox.claim(item.id):
            return 0  # sent or dropped meanwhile
        outcome = await _send(channel, message)
        if isinstance(outcome, Rejected):
            first = outcome.reason
            plain_message = fallback(message)
            log.warning("%s refused outbox message %d to %s (%s); sending it as plain text",
                        item.channel, item.id, item.chat_id, first)  # fmt: skip
            if plain_message == message:
                outcome = Rejected(first)
            else:
                message = plain_message
                outcome = await _send(channel, message)
            if isinstance(outcome, Rejected):
                outcome = Rejected(f"{first}; as plain text: {outcome.reason}")
        return self._record(item, message, outcome)

    def _record(self, item: Outgoing, message: Message, outcome: Outcome) -> int:
        state, now = self.state, self.wall()
        incident = item.incident_id or 0
        if isinstance(outcome, Sent):
            with state.transaction():
                sent_id = outcome.message_id
                state.outbox.mark(item.id, OutboxStatus.SENT, now=now, message_id=sent_id)
                state.journal.record_delivery(incident, item.chat_id, sent_id, now)
                meta = item.meta or {}
                shown = ShownIn(item.chat_id, outcome.message_id or 0, item.png is not None,
                                message.text, meta.get("lang"))  # fmt: skip
                if item.channel == "telegram":  # it takes messages (again): a notice may follow
                    state.journal.set_flag(gone_flag(item.chat_id), None)  # its next loss
                if item.incident_id is not None and outcome.message_id is not None:
                    state.incidents.add_message(item.incident_id, shown)
                digest = meta.get("digest_id")  # the part with the buttons: the one edited
                if digest is not None and item.markup and outcome.message_id is not None:
                    state.digests.add_message(int(digest), shown)
            return 1
        if isinstance(outcome, RetryAfter):
            backoff = self.retry_base * 2.0 ** min(item.attempts, 16)
            delay = min(MAX_RETRY, max(outcome.seconds, backoff))
            if isinstance(outcome, RateLimited):
                self._paused[item.channel] = now + timedelta(seconds=outcome.seconds)
            elif isinstance(outcome, Unreachable):
                self._paused[item.channel] = now + timedelta(seconds=delay)
            log.warning("%s: outbox message %d to %s not sent (%s); again in %.0f s",
                        item.channel, item.id, item.chat_id, outcome.reason, delay)  # fmt: skip
            with state.transaction():
                state.outbox.mark(item.id, OutboxStatus.PENDING, now=now, error=outcome.reason,
                                  retry_at=now + timedelta(seconds=delay))  # fmt: skip
                if not isinstance(outcome, RateLimited):
                    state.journal.record_delivery(incident, item.chat_id, None, now,
                                                  outcome.reason)  # fmt: skip
            return 0
        if isinstance(outcome, Gone) and outcome.moved_to not in (None, item.chat_id):
            return self._moved(item, outcome.moved_to, outcome.reason)
        if isinstance(outcome, Gone):
            log.warning("%s: chat %s is gone (%s): its queue dropped, its subscriptions off",
                        item.channel, item.chat_id, outcome.reason)  # fmt: skip
            with state.transaction():
                state.outbox.mark(item.id, OutboxStatus.DEAD, now=now, error=outcome.reason)
                state.outbox.drop_chat(item.chat_id, outcome.reason, item.channel, now=now)
                if item.channel == "telegram":  # subscriptions are Telegram chats
                    state.subscriptions.remove(item.chat_id, ALL)
                    if self.on_gone is not None:
                        self.on_gone(item.chat_id, outcome.reason)
                state.journal.record_delivery(incident, item.chat_id, None, now, outcome.reason)
            return 0
        log.error("%s: outbox message %d to %s given up: %s",
                  item.channel, item.id, item.chat_id, outcome.reason)  # fmt: skip
        with state.transaction():
            state.outbox.mark(item.id, OutboxStatus.DEAD, now=now, error=outcome.reason)
            state.journal.record_delivery(incident, item.chat_id, None, now, outcome.reason)
        return 0

    def _moved(self, item: Outgoing, new: int | None, reason: str) -> int:
        """A group upgraded to a supergroup: this message, the rest of its queue, its
        subscriptions and its language go to its new id (an alert chat's operators are told
        which id to configure, through on_gone)."""
        assert new is not None
        state, now = self.state, self.wall()
        log.warning("%s: chat %s became supergroup %s: outbox message %d, the rest of its queue "
                    "and its subscriptions go there", item.channel, item.chat_id, new,
                    item.id)  # fmt: skip
        with state.transaction():
            state.outbox.move_chat(item.chat_id, new, item.channel, now=now)
            if item.channel == "telegram":  # subscriptions and languages are Telegram chats
                state.move_chat(item.chat_id, new)
                if self.on_gone is not None:
                    self.on_gone(item.chat_id, reason)
        return 0  # not a delivery error: the message goes out at the new id, counted there


async def _send(channel: Channel, message: Message) -> Outcome:
    """The channel's outcome; a channel that raises all the same (a bug) gets its message
    retried rather than left in flight."""
    try:
        return await channel.send(message)
    except Exception as exc:
        log.error("%s raised %s instead of answering an outcome", channel.name,
                  type(exc).__name__)  # fmt: skip
        return RetryAfter(0.0, type(exc).__name__)


def gone_flag(chat: int) -> str:
    """The journal's flag of a chat whose loss was told: cleared once it takes a message."""
    return f"gone:{chat}"


def _buttons(item: Outgoing) -> tuple[tuple[Button, ...], ...]:
    try:
        return keyboard_of(item.markup)
    except (ValueError, TypeError, KeyError, AttributeError):
        log.error("outbox message %d has buttons that cannot be read: sent without", item.id)
        return ()


def fallback(message: Message) -> Message:
    """The message as plain text, no buttons, within the limit of a caption or a text: what
    remains to try when the channel refused it as it was."""
    limit = CAPTION_LIMIT if message.png is not None else MESSAGE_LIMIT
    text = as_plain(message.text, limit)
    return Message(message.chat_id, text, message.png, (), message.key, message.meta)


def keyboard_of(markup: str | None) -> tuple[tuple[Button, ...], ...]:
    """The buttons of a row: the outbox's own form, or aiogram's InlineKeyboardMarkup JSON that
    rows written by earlier versions hold. Buttons that carry no callback data are left out."""
    if not markup:
        return ()
    data = json.loads(markup)
    if isinstance(data, dict):
        rows = [
            tuple(Button(str(b["text"]), str(b["callback_data"])) for b in row
                  if isinstance(b, dict) and b.get("callback_data"))
            for row in data.get("inline_keyboard", [])
        ]  # fmt: skip
        return tuple(row for row in rows if row)
    return buttons_from_json(markup)
