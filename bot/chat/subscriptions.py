"""/subscribe and /unsubscribe: which chats get which alerts (persisted per chat)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.chat.errors import UsageError
from bot.chat.monitoring import metric_named
from bot.core.i18n import Translator
from bot.core.wording import e
from bot.settings import Settings
from bot.state import State
from queries.catalogue import Catalogue

__all__ = ["build"]


def _alert_chat(message: Message, settings: Settings, t: Translator) -> str:
    """What a subscription cannot change in a chat of ALERT_CHAT_IDS: it gets every alert."""
    if message.chat.id not in settings.alert_chat_ids:
        return ""
    return "\n" + t._("This chat is one of ALERT_CHAT_IDS: it gets every alert whatever its "
                      "subscriptions. /mute silences a metric for a while; to stop alerts here "
                      "for good, take the chat out of ALERT_CHAT_IDS.")


def _target(command: CommandObject, catalogue: Catalogue, name: str, t: Translator) -> str:
    args = (command.args or "").split()
    if len(args) > 1:
        raise UsageError(t._("One metric, or all."), name)
    if not args or args[0].lower() in ("all", "все"):
        return "*"
    return metric_named(catalogue, args[0], name, t).name


async def subscribe(
    message: Message, *, command: CommandObject, store: State, catalogue: Catalogue,
    settings: Settings, clock: Callable[[], datetime], t: Translator,
) -> None:  # fmt: skip
    metric = _target(command, catalogue, "subscribe", t)
    now = clock()
    store.subscriptions.add(message.chat.id, metric, now)
    if message.chat.type == "private" and store.languages.of_chat(message.chat.id) is None:
        # alerts reach this chat without a message to take the language from: keep it
        store.languages.set(message.chat.id, t.lang, None, now)
    what = t._("every metric") if metric == "*" else f"<code>{e(metric)}</code>"
    await message.answer(t._("🔔 This chat now gets alerts for {what}. /unsubscribe to stop.",
                             what=what) + _alert_chat(message, settings, t))  # fmt: skip


async def unsubscribe(
    message: Message, *, command: CommandObject, store: State, catalogue: Catalogue,
    settings: Settings, t: Translator,
) -> None:  # fmt: skip
    metric = _target(command, catalogue, "unsubscribe", t)
    removed = store.subscriptions.remove(message.chat.id, metric)
    if removed:
        what = t._("any metric") if metric == "*" else f"<code>{e(metric)}</code>"
        await message.answer(t._("🔕 This chat no longer gets alerts for {what}.", what=what)
                             + _alert_chat(message, settings, t))  # fmt: skip
    else:
        await message.answer(t._("This chat had no such subscription. /status shows what it "
                                 "gets.") + _alert_chat(message, settings, t))  # fmt: skip


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(subscribe, Command("subscribe"))
    router.message.register(unsubscribe, Command("unsubscribe"))
    return router
