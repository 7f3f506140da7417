"""What a button press gets: the answer to the press (the spinner stops), then what follows.
And `localized`: a text built by a shared wording function, in the chat's language; and
`send_chart`: a chart with its caption, or the caption alone when the chart cannot be drawn."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram.exceptions import AiogramError, TelegramAPIError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.core.files import chart_file_name
from bot.core.i18n import Translator
from bot.core.wording import split_message

__all__ = ["Reply", "answer_all", "answer_press", "drawn", "localized", "out_of_date",
           "send_chart", "why_not_sent"]

log = logging.getLogger(__name__)


def out_of_date(t: Translator) -> str:
    return t._("That button is out of date.")


def localized(build: Callable[..., str], t: Translator, /, *args: Any, **kwargs: Any) -> str:
    """`build(*args, **kwargs)`, given the chat's translator (as `t`) or language (as `lang`)
    when it takes one: the alert texts' functions (bot/core/wording.py, bot/service/edits.py)
    are shared with the notifier and learn the language parameter on their own schedule."""
    wanted = inspect.signature(build).parameters
    if "t" in wanted:
        kwargs["t"] = t
    elif "lang" in wanted:
        kwargs["lang"] = t.lang
    return build(*args, **kwargs)


@dataclass(frozen=True)
class Reply:
    text: str  # answerCallbackQuery's text: at most 200 characters
    alert: bool = False  # shown as a dialog (refusals), not a passing notice
    then: Callable[[], Awaitable[object]] | None = None  # edits, charts: after the answer


def why_not_sent(exc: BaseException) -> str:
    """One line on why Telegram did not take a call: never the exception's whole text from a
    proxy's page (it can hold the bot's token in a URL), only Telegram's own answer."""
    if isinstance(exc, TelegramRetryAfter):
        return f"Telegram asks to wait {exc.retry_after} s (flood control)"
    if isinstance(exc, TelegramAPIError):
        return str(exc)
    return type(exc).__name__


async def answer_press(query: CallbackQuery, text: str | None = None, *,
                       show_alert: bool = False) -> None:  # fmt: skip
    """Stops the press's spinner. A press Telegram will not take an answer for (too old, flood
    control, Telegram down) only loses that notice: what the handler sends after it still
    goes, and the log gets one line."""
    try:
        await query.answer(text[:200] if text is not None else None, show_alert=show_alert)
    except AiogramError as exc:
        log.warning("could not answer a button press: %s", why_not_sent(exc))


async def drawn(chart: Awaitable[bytes], name: str) -> bytes | None:
    """The chart's PNG, or None when it cannot be drawn (logged): what it shows still goes out
    as text, as an alert whose chart fails does, and the replies after it still go."""
    try:
        return await chart
    except Exception:
        log.exception("chart %s could not be drawn; its text goes without it", name)
        return None


async def send_chart(message: Message, chart: Awaitable[bytes], name: str, caption: str, *,
                     where: str = "total") -> None:  # fmt: skip
    """The chart as a photo under `caption`, named by the metric `name` and its slice `where`
    (views__os_iOS.png, as `check --charts` names it); the caption alone when it cannot be
    drawn."""
    png = await drawn(chart, f"{name} {where}")
    if png is None:
        await message.answer(caption)
    else:
        photo = BufferedInputFile(png, chart_file_name(name, where))
        await message.answer_photo(photo, caption=caption)


async def answer_all(message: Message, text: str) -> None:
    """`text` in as many messages as it takes (a list of many metrics by their titles outgrows
    Telegram's 4096 characters), each valid HTML."""
    for part in split_message(text):
        await message.answer(part)
