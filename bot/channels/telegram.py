"""Telegram through aiogram: a photo with its caption, or a text, with inline buttons.

Every exception the transport raises becomes an outcome:

    TelegramRetryAfter (429)            -> RateLimited(retry_after): the whole bot waits
    TelegramForbiddenError (403),
    400 "chat not found" / "bot was kicked"
                                        -> getChat confirms: Gone when it fails the same way,
                                           else RetryAfter(60 s) (the chat is still there)
    TelegramMigrateToChat               -> Gone, moved_to the new id (the group lives on as a
                                           supergroup: the outbox sends there)
    TelegramBadRequest (400), 413       -> Rejected: this message, as it is, never goes
    network errors, timeouts            -> Unreachable: the outbox backs off, and sends nothing
                                           more through Telegram until then
    5xx, a proxy's HTML page (ClientDecodeError), 401, anything else
                                        -> RetryAfter: the outbox backs off and tries again

Reasons are short (the exception's class and Telegram's description) and never hold a response
body or the token: a proxy's error page may echo the request URL, token included.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.base import (
    Gone,
    Message,
    Outcome,
    RateLimited,
    Rejected,
    RetryAfter,
    Sent,
    Unreachable,
)
from bot.core.buttons import Button

__all__ = ["NOT_MODIFIED", "STILL_THERE_RETRY", "TelegramChannel", "keyboard"]

log = logging.getLogger(__name__)

STILL_THERE_RETRY = 60.0  # a 403 while getChat still answers: a passing state, try again later
_GONE_WORDS = ("chat not found", "bot was kicked", "bot was blocked", "user is deactivated",
               "bot is not a member", "group chat was deactivated")  # fmt: skip
NOT_MODIFIED = "message is not modified"


def keyboard(buttons: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    rows = [[InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row]
            for row in buttons if row]  # fmt: skip
    return InlineKeyboardMarkup(inline_keyboard=rows)


class TelegramChannel:
    name = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: Message) -> Outcome:
        markup = keyboard(message.buttons)
        try:
            if message.png is not None:
                sent = await self.bot.send_photo(
                    message.chat_id,
                    BufferedInputFile(message.png, "chart.png"),
                    caption=message.text,
                    reply_markup=markup,
                )
            else:
                sent = await self.bot.send_message(
                    message.chat_id, message.text, reply_markup=markup
                )
        except Exception as exc:  # every transport error is an outcome
            return await self._outcome(exc, message.chat_id)
        return Sent(sent.message_id)

    async def edit(self, message: Message, message_id: int, *, is_photo: bool) -> Outcome:
        """The text (or caption) and the buttons in one call: an edit without reply_markup
        would drop the buttons."""
        markup = keyboard(message.buttons)
        try:
            if is_photo:
                await self.bot.edit_message_caption(
                    chat_id=message.chat_id,
                    message_id=message_id,
                    caption=message.text,
                    reply_markup=markup,
                )
            else:
                await self.bot.edit_message_text(
                    text=message.text,
                    chat_id=message.chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                )
        except TelegramBadRequest as exc:
            if NOT_MODIFIED in exc.message.lower():
                return Sent(message_id)  # it already shows exactly this
            return await self._outcome(exc, message.chat_id)
        except Exception as exc:  # every transport error is an outcome
            return await self._outcome(exc, message.chat_id)
        return Sent(message_id)

    # -- what an exception means ------------------------------------------------------------
    async def _outcome(self, exc: Exception, chat_id: int) -> Outcome:
        reason = self.reason(exc)
        if isinstance(exc, TelegramRetryAfter):
            return RateLimited(float(exc.retry_after), reason)
        if isinstance(exc, TelegramMigrateToChat):
            return Gone(f"{reason} (now chat {exc.migrate_to_chat_id})",
                        moved_to=exc.migrate_to_chat_id)
        if isinstance(exc, TelegramForbiddenError) or (
            isinstance(exc, TelegramBadRequest) and _says_gone(exc)
        ):
            return await self._confirm_gone(chat_id, reason)
        if isinstance(exc, TelegramBadRequest | TelegramEntityTooLarge):
            return Rejected(reason)
        if isinstance(exc, TelegramNetworkError):  # a timeout too: the next would wait as long
            return Unreachable(0.0, reason)
        return RetryAfter(0.0, reason)

    async def _confirm_gone(self, chat_id: int, reason: str) -> Outcome:
        """Gone only when getChat fails the same way: one 403 on one send is not proof."""
        try:
            await self.bot.get_chat(chat_id)
        except TelegramForbiddenError as exc:
            return Gone(f"{reason}; getChat: {self.reason(exc)}")
        except TelegramBadRequest as exc:
            if _says_gone(exc):
                return Gone(f"{reason}; getChat: {self.reason(exc)}")
            return RetryAfter(STILL_THERE_RETRY, f"{reason}; getChat: {self.reason(exc)}")
        except ClientDecodeError as exc:
            if isinstance(exc.data, dict) and exc.data.get("ok") is True:
                # Telegram found the chat; only its description did not fit this aiogram's model
                return RetryAfter(STILL_THERE_RETRY, f"{reason}, but the chat is still there")
            return RetryAfter(0.0, f"{reason}; getChat: {self.reason(exc)}")
        except Exception as exc:  # not confirmed: keep the chat, try later
            return RetryAfter(0.0, f"{reason}; getChat: {self.reason(exc)}")
        return RetryAfter(STILL_THERE_RETRY, f"{reason}, but the chat is still there")

    def reason(self, exc: BaseException) -> str:
        """Class and Telegram's description only, the token scrubbed; never a response body."""
        text = type(exc).__name__
        if isinstance(exc, TelegramAPIError):  # JSON description, or aiohttp's error line
            text = f"{text}: {exc.message}"
        return scrub(text, self.bot.token)[:300]


def _says_gone(exc: TelegramAPIError) -> bool:
    description = exc.message.lower()
    return any(words in description for words in _GONE_WORDS)


def scrub(text: str, token: str) -> str:
    """`text` without the bot token or its secret half."""
    secret = token.partition(":")[2]
    for value in (token, secret):
        if len(value) >= 8:
            text = text.replace(value, "<token>")
    return text
