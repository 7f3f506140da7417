"""The outbox drainer: sends what is due through its channel and records the outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from bot.state import ALL, OutboxStatus, Outgoing, ShownIn, State

__all__ = ["Delivery"]

log = logging.getLogger(__name__)


class Delivery:
    def __init__(self, bot: Bot, state: State, *,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.bot = bot
        self.state = state
        self.wall = wall  # the outbox's retry times are real time, whatever the check's clock
        self.retry_base = 2.0  # seconds before the first retry; doubles each time, up to 5 min
        self._draining = asyncio.Lock()

    async def drain(self) -> int:
        """Send what is due; returns how many went out. Waits out 429 (retry_after), backs
        off on network errors and 5xx, drops chats that blocked the bot."""
        sent = 0
        async with self._draining:
            while items := self.state.outbox.due(self.wall()):
                for item in items:
                    outcome = await self._deliver(item)
                    if outcome == "wait":
                        return sent
                    sent += outcome == "sent"
        return sent

    async def _deliver(self, item: Outgoing) -> str:
        state, now = self.state, self.wall()
        if not state.outbox.claim(item.id):
            return "skipped"
        markup = InlineKeyboardMarkup.model_validate_json(item.markup) if item.markup else None
        try:
            if item.png is not None:
                message = await self.bot.send_photo(
                    item.chat_id,
                    BufferedInputFile(item.png, "alert.png"),
                    caption=item.text,
                    reply_markup=markup,
                )
            else:
                message = await self.bot.send_message(item.chat_id, item.text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            log.warning("Telegram asks to wait %s s", exc.retry_after)
            state.outbox.mark(
                item.id,
                OutboxStatus.PENDING,
                now=now,
                error="rate limited",
                retry_at=now + timedelta(seconds=exc.retry_after),
            )
            return "wait"
        except TelegramForbiddenError:
            log.warning(
                "chat %s blocked or removed the bot: its subscriptions are off", item.chat_id
            )
            state.subscriptions.remove(item.chat_id, ALL)
            state.outbox.mark(item.id, OutboxStatus.DEAD, now=now, error="forbidden")
            state.outbox.drop_chat(item.chat_id, "forbidden")
            state.journal.record_delivery(
                item.incident_id or 0, item.chat_id, None, now, "forbidden"
            )
            return "dead"
        except TelegramBadRequest as exc:
            log.error("Telegram refused a message to %s: %s", item.chat_id, exc)
            state.outbox.mark(item.id, OutboxStatus.DEAD, now=now, error=str(exc)[:300])
            state.journal.record_delivery(
                item.incident_id or 0, item.chat_id, None, now, str(exc)[:200]
            )
            return "dead"
        except TelegramAPIError as exc:  # network drops and 5xx: try again later
            delay = min(300.0, self.retry_base * 2.0 ** min(item.attempts, 8))
            log.warning("sending to %s failed (%s); again in %.0f s", item.chat_id, exc, delay)
            state.outbox.mark(
                item.id,
                OutboxStatus.PENDING,
                now=now,
                error=str(exc)[:300],
                retry_at=now + timedelta(seconds=delay),
            )
            state.journal.record_delivery(
                item.incident_id or 0, item.chat_id, None, now, str(exc)[:200]
            )
            return "retry"
        state.outbox.mark(item.id, OutboxStatus.SENT, now=now, message_id=message.message_id)
        state.journal.record_delivery(item.incident_id or 0, item.chat_id, message.message_id, now)
        if item.incident_id is not None:
            state.incidents.add_message(
                item.incident_id,
                ShownIn(item.chat_id, message.message_id, item.png is not None, item.text),
            )
        return "sent"
