"""While the state file is lost or damaged, nothing that writes to it is done: every command
to this bot but /status, /help and /start, and every button, gets the reason and what to do
instead; people's talk in a group is left alone as ever."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.chat.reply import answer_press
from bot.core.i18n import Translator
from bot.core.wording import e
from bot.state import State

__all__ = ["build"]

READ_ONLY = {"status", "help", "start"}


def stopped_text(problem: str, t: Translator) -> str:
    return t._("⚠️ <b>Alerting is stopped</b>: {problem}. Nothing is checked or changed until "
               "the state file is restored and the bot restarted; /status says the same.",
               problem=e(problem))  # fmt: skip


async def _command(message: Message) -> str | None:
    """The command of a message for this bot (without "/" and "@bot"); None for people's talk,
    service messages and a command addressed to another bot: the fallback decides on those, as
    when the file is fine (silence in a group)."""
    words = (message.text or "").split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return None
    name, at, mention = words[0].removeprefix("/").partition("@")
    if at and message.bot is not None:
        me = await message.bot.me()
        if mention.lower() != (me.username or "").lower():
            return None
    return name.lower()


async def _lost_message(message: Message, store: State, **_: Any) -> bool:
    if store.problem is None:
        return False
    command = await _command(message)
    return command is not None and command not in READ_ONLY


async def _lost_button(query: CallbackQuery, store: State, **_: Any) -> bool:
    return store.problem is not None


async def refuse(message: Message, store: State, t: Translator) -> None:
    problem = store.problem or t._("the state file cannot be used")
    await message.answer(stopped_text(problem, t))


async def refuse_button(query: CallbackQuery, store: State, t: Translator) -> None:
    await answer_press(query, t._("Alerting is stopped: the state file is lost. See /status."),
                       show_alert=True)  # fmt: skip


def build() -> Router:
    """A fresh router, first in line: it takes only what must not run on a lost state file."""
    router = Router(name="guard")
    router.message.register(refuse, _lost_message)
    router.callback_query.register(refuse_button, _lost_button)
    return router
