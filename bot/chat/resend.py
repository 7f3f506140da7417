"""A reply to a person is sent again when Telegram, or a proxy before it, fails on the way.

A 5xx, a dropped connection or a proxy's error page in place of JSON is almost always over a
second later: the reply (a /metric chart, a /status text, an edited alert) is sent again after
0.5 s and 1.5 s before the person gets the apology instead (`bot.chat.errors`). Telegram's
flood control (429, "retry after N") is waited out when N is at most `HOLD_MAX` seconds, and
the reply sent then; a longer wait drops it (`bot.chat.errors` logs one line: an apology would
be refused too). Only calls made while an update is handled are retried here; the outbox keeps
its own schedule for alerts (`bot.service.delivery`), and Telegram's other refusals (4xx) are
answers, not failures on the way. As with the outbox, a reply Telegram took before the proxy
failed can arrive twice: a repeated answer is better than a lost one.
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
# The longest flood-control wait a reply sits out (seconds): a person who asked still looks at
# the chat, and a group's limit (20 messages a minute) is over within it.
HOLD_MAX = 30.0
ON_THE_WAY = (ClientDecodeError, TelegramNetworkError, TelegramServerError)
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
    """Sends a reply again (send* and edit* methods) that failed on the way, `PAUSES` apart."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = getattr(method, "__api_method__", "")
        if not _replying.get() or not name.startswith(("send", "edit")):
            return await make_request(bot, method)
        for pause in PAUSES:
            try:
                return await make_request(bot, method)
            except ON_THE_WAY as exc:
                log.info("a reply (%s) failed on the way (%s); sending it again in %.1f s",
                         name, type(exc).__name__, pause)  # fmt: skip
                await asyncio.sleep(pause)
            except TelegramRetryAfter as exc:
                if exc.retry_after > HOLD_MAX:
                    raise
                log.info("Telegram holds a reply (%s) back for %s s (flood control); sending "
                         "it then", name, exc.retry_after)  # fmt: skip
                await asyncio.sleep(exc.retry_after)
        return await make_request(bot, method)
