"""While the state file is lost or damaged, nothing that writes to it is done: every command
to this bot but /status, /help and /start, and every button, gets the reason and what to do
instead; people's talk in a group is left alone as ever."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.chat.reply import answer_press
from bot.core.i18n import Translator
from bot.core.wording import e
from bot.state import State

__all__ = ["Said", "build", "command_filter", "command_of", "visible"]

READ_ONLY = {"status", "help", "start"}


def stopped_text(problem: str, t: Translator) -> str:
    return t._("⚠️ <b>Alerting is stopped</b>: {problem}. Nothing is checked or changed until "
               "the state file is restored and the bot restarted; /status says the same.",
               problem=e(problem))  # fmt: skip


def visible(text: str) -> str:
    """`text` without invisible format characters (a zero-width space, a byte-order mark):
    pasted with a command, they make it another word."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


@dataclass(frozen=True)
class Said:
    """The command a message starts with, as aiogram's filters read it (text, or a photo's
    caption): `word` as typed less invisible characters ("/status@alerts_bot"), `name` without
    "/" and "@bot" in lower case, whether it names another bot, and the invisible characters
    it came with (U+200B ...)."""

    word: str
    name: str
    elsewhere: bool
    hidden: tuple[str, ...]


def command_filter(*names: str) -> Command:
    """The filter of commands `names` in any case: a phone writes /Check as readily as /check
    (the guard, the refusal and the fallback read names lowercased too)."""
    return Command(*names, ignore_case=True)


async def command_of(message: Message) -> Said | None:
    """The command a message starts with; None for people's talk and service messages."""
    words = (message.text or message.caption or "").split(maxsplit=1)
    if not words or not visible(words[0]).startswith("/"):
        return None
    raw, word = words[0], visible(words[0])
    name, at, mention = word.removeprefix("/").partition("@")
    elsewhere = False
    if at and message.bot is not None:
        me = await message.bot.me()
        elsewhere = mention.lower() != (me.username or "").lower()
    hidden = tuple(sorted({f"U+{ord(ch):04X}" for ch in raw if visible(ch) != ch}))
    return Said(word, name.lower(), elsewhere, hidden)


async def _lost_message(message: Message, store: State, **_: Any) -> bool:
    """A command to this bot that may write to the lost file; people's talk, service messages
    and a command addressed to another bot go on to the fallback, as when the file is fine
    (silence in a group)."""
    if store.problem is None:
        return False
    said = await command_of(message)
    return said is not None and not said.elsewhere and said.name not in READ_ONLY


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
