"""A reply to a person is sent again when Telegram, or a proxy before it, fails on the way.

A 5xx, a dropped connection or a proxy's error page in place of JSON is almost always over a
second later: the reply (a /metric chart, a /status text, an edited alert) is sent again after
0.5 s and 1.5 s before the person gets the apology instead (`bot.chat.errors`). Telegram's
flood control (429, "retry after N") is waited out for up to `HOLD_MAX` seconds in all, apart
from those tries, and the reply sent then, the chat's held-back replies one at a time; a longer
wait drops it (`bot.chat.errors` logs one line: an apology would be refused too). Only calls
made while an update is handled are retried here; the outbox keeps its own schedule for alerts
(`bot.service.delivery`), and Telegram's other refusals (4xx) are answers, not failures on the
way. A button press's answer (its toast, or the dialog of a refusal) is sent again after the
same failures on the way while they come fast (`TOAST_WITHIN`), but not held for flood
control: the person has moved on by then. As with the outbox, a reply Telegram took before
the proxy failed can arrive twice: a repeated answer is better than a lost one. A reply to a
group that became a supergroup meanwhile (400 with its new id) is sent to the new id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject

__all__ = ["HOLD_MAX", "PAUSES", "Replying", "ResendReplies"]

log = logging.getLogger(__name__)

PAUSES = (0.5, 1.5)  # seconds before each further try
ON_THE_WAY = (ClientDecodeError, TelegramNetworkError, TelegramServerError)
# The most a reply waits out Telegram's flood control, all its 429s together (seconds): a
# person who asked still looks at the chat, and a group's limit (20 messages a minute) is over
# within it.
HOLD_MAX = 30.0
# A press's answer is tried again only within this many seconds of the first try: Telegram
# takes one for about 15 s, and what the press sends next waits for it (a hung first try,
# a minute, is not repeated).
TOAST_WITHIN = 5.0
_replying: ContextVar[bool] = ContextVar("replying", default=False)


class Replying(BaseMiddleware):
    """Marks the Bot API calls made while an update is handled (an outer update middleware)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        token = _replying.set(True)
        try:
            return await handler(event, data)
        finally:
            _replying.reset(token)


class ResendReplies(BaseRequestMiddleware):
    """Sends a reply again (send* and edit* methods, a press's answer) that failed on the way,
    `PAUSES` apart, and after Telegram's flood control, up to `HOLD_MAX` seconds of it (not a
    press's answer). While a chat is held back, its replies go one at a time once the wait is
    over (all at once, they would meet the limit again)."""

    def __init__(self) -> None:
        self._until: dict[object, float] = {}  # chat -> loop time its hold ends
        self._locks: dict[object, asyncio.Lock] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = getattr(method, "__api_method__", "")
        toast = name == "answerCallbackQuery"
        if not _replying.get() or not (toast or name.startswith(("send", "edit"))):
            return await make_request(bot, method)
        chat = getattr(method, "chat_id", None) or getattr(method, "inline_message_id", None)
        pauses = iter(PAUSES)
        budget = HOLD_MAX
        asked_in = chat  # the chat the reply was for, until Telegram names its new id
        started = asyncio.get_running_loop().time()
        while True:
            try:
                return await self._send(make_request, bot, method, chat)
            except ON_THE_WAY as exc:
                pause = next(pauses, None)
                late = toast and asyncio.get_running_loop().time() - started > TOAST_WITHIN
                if pause is None or late:
                    raise
                log.info("a reply (%s) failed on the way (%s); sending it again in %.1f s",
                         name, type(exc).__name__, pause)  # fmt: skip
                await asyncio.sleep(pause)
            except TelegramMigrateToChat as exc:
                moved = exc.migrate_to_chat_id
                if not name.startswith("send") or moved is None or chat != asked_in:
                    raise
                # The group became a supergroup while it was answered: same answer, new id.
                log.info("chat %s became supergroup %s; the reply (%s) goes there", chat, moved,
                         name)  # fmt: skip
                method = method.model_copy(update={"chat_id": moved})
                chat = moved
            except TelegramRetryAfter as exc:
                if toast or exc.retry_after > budget:
                    raise
                budget -= exc.retry_after
                loop = asyncio.get_running_loop()
                self._until[chat] = max(self._until.get(chat, 0.0),
                                        loop.time() + exc.retry_after)  # fmt: skip
                log.info("Telegram holds replies to a chat back for %s s (flood control); "
                         "this one (%s) is sent then", exc.retry_after, name)  # fmt: skip

    async def _send(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        chat: object,
    ) -> Response[TelegramType]:
        loop = asyncio.get_running_loop()
        if self._until.get(chat, 0.0) <= loop.time():
            self._until.pop(chat, None)
            return await make_request(bot, method)
        # One at a time while the chat is held back (a lock per chat that ever was: few).
        async with self._locks.setdefault(chat, asyncio.Lock()):
            wait = self._until.get(chat, 0.0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            return await make_request(bot, method)
