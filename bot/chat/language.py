"""The language each chat is answered in, decided in one place, and /lang to change it.

The chat's stored choice (/lang) wins; else, in a private chat, the user's Telegram language
(`language_code`), when the bot speaks it; else LANGUAGE. `ChatLanguage` (an outer middleware on
the dispatcher's updates) puts the Translator into every handler's data as `t`, error handlers
included.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.filters import CommandObject
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    User,
)

from bot.chat.access import as_the_group, may_change_chat
from bot.chat.errors import UsageError
from bot.chat.guard import command_filter
from bot.chat.reply import answer_press
from bot.core.i18n import LANGUAGES, Translator, language_of, translator
from bot.core.text import quoted
from bot.settings import Settings
from bot.state import State, StoreError

__all__ = ["IN_A_SENTENCE", "ChatLanguage", "build", "chat_language", "default_language"]

log = logging.getLogger(__name__)

NAMES = {"en": "English", "ru": "Русский"}  # on its own: a button's label
# Inside a sentence of its own language: Russian writes a language's name in lower case there.
IN_A_SENTENCE = {"en": "English", "ru": "русский"}
# The languages by name, as people write them after /lang (in any case).
SPOKEN = {"english": "en", "eng": "en", "английский": "en", "английском": "en",
          "по-английски": "en", "russian": "ru", "rus": "ru", "русский": "ru", "русском": "ru",
          "по-русски": "ru"}  # fmt: skip
PREFIX = "lang:"


def default_language(settings: Settings) -> str:
    """LANGUAGE: what the bot says where nobody chose anything."""
    lang = getattr(settings, "language", "en")
    return lang if lang in LANGUAGES else "en"


def chat_language(store: State, settings: Settings, chat: Chat | None, user: User | None) -> str:
    """The chat's choice, else (private chats) the user's Telegram language, else LANGUAGE."""
    if chat is not None:
        try:
            chosen = store.languages.of_chat(chat.id)
        except StoreError:  # a lost state file: /status still answers, in the default
            chosen = None
        if chosen in LANGUAGES:
            return str(chosen)
        if chat.type == "private" and user is not None:
            found = language_of(user.language_code)
            if found is not None:
                return found
    return default_language(settings)


class ChatLanguage(BaseMiddleware):
    """Puts `t` (the chat's Translator) into the data of every update's handlers."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        store, settings = data.get("store"), data.get("settings")
        lang = default_language(settings) if settings is not None else "en"
        if isinstance(store, State) and settings is not None:
            lang = chat_language(store, settings, data.get("event_chat"),
                                 data.get("event_from_user"))  # fmt: skip
        data["t"] = translator(lang)
        return await handler(event, data)


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=NAMES[lang], callback_data=PREFIX + lang) for lang in LANGUAGES
    ]])  # fmt: skip


async def _choose(
    bot: Bot, chat: Chat, user: User, lang: str, *, store: State, settings: Settings,
    clock: Callable[[], datetime], t: Translator, group: bool = False,
) -> tuple[bool, str]:  # fmt: skip
    """Set the chat's language if `user` may (`group`: the group itself wrote, as its anonymous
    administrators do): (done, the sentence saying so, in its language)."""
    allowed = True if group else await may_change_chat(bot, chat, user, settings)
    if allowed is None:
        return False, t._("I could not check that you are an administrator of this group; "
                          "please try again in a minute.")  # fmt: skip
    if not allowed:
        return False, t._("Only the group's administrators (or the bot's admins) can change "
                          "its language.")  # fmt: skip
    store.languages.set(chat.id, lang, user.id, clock())
    now = translator(lang)
    return True, now._("Done: I speak {language} in this chat now.",
                        language=IN_A_SENTENCE[lang])  # fmt: skip


async def lang(
    message: Message, *, command: CommandObject, t: Translator, store: State, settings: Settings,
    clock: Callable[[], datetime],
) -> None:  # fmt: skip
    args = (command.args or "").split()
    said = [w for w in args if w.lower() not in ("язык", "language", "на")]  # "русский язык"
    if len(said) == 1 and said[0].lower() in SPOKEN:
        args = [SPOKEN[said[0].lower()]]
    if len(args) == 1 and args[0].lower() not in LANGUAGES:
        raise UsageError(t._("I speak English and Russian only, not {language}: en or ru.",
                             language=quoted(args[0], t.lang, 20)), "lang")  # fmt: skip
    if len(args) > 1:
        raise UsageError(t._("Say which language: en or ru."), "lang")
    if not args:
        text = (t._("This chat's language: {language}.", language=IN_A_SENTENCE[t.lang]) + "\n"
                + t._("To change it, press a button or send /lang en or /lang ru (in a group: "
                      "its administrators)."))  # fmt: skip
        await message.answer(text, reply_markup=_keyboard())
        return
    if message.bot is None or message.from_user is None:
        return
    _done, text = await _choose(message.bot, message.chat, message.from_user, args[0].lower(),
                                store=store, settings=settings, clock=clock, t=t,
                                group=as_the_group(message))  # fmt: skip
    await message.answer(text)


async def lang_button(
    query: CallbackQuery, *, t: Translator, store: State, settings: Settings,
    clock: Callable[[], datetime],
) -> None:  # fmt: skip
    chosen = (query.data or "").removeprefix(PREFIX)
    message = query.message
    if chosen not in LANGUAGES or message is None or query.bot is None:
        await answer_press(query, t._("That button is out of date."), show_alert=True)
        return
    done, text = await _choose(query.bot, message.chat, query.from_user, chosen, store=store,
                               settings=settings, clock=clock, t=t)  # fmt: skip
    await answer_press(query, text, show_alert=not done)
    if done:
        await query.bot.send_message(message.chat.id, text)


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="language")
    router.message.register(lang, command_filter("lang"))
    router.callback_query.register(lang_button, F.data.startswith(PREFIX))
    return router
