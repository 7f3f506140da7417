"""/subscribe and /unsubscribe: which chats get which alerts (persisted per chat)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.chat.errors import UsageError
from bot.chat.monitoring import metric_named
from bot.core.wording import e
from bot.state import State
from queries.catalogue import Catalogue

__all__ = ["build"]


def _target(command: CommandObject, catalogue: Catalogue, name: str) -> str:
    args = (command.args or "").split()
    if len(args) > 1:
        raise UsageError("One metric, or all.", name)
    if not args or args[0].lower() == "all":
        return "*"
    return metric_named(catalogue, args[0], name).name


async def subscribe(
    message: Message, *, command: CommandObject, store: State, catalogue: Catalogue,
    clock: Callable[[], datetime],
) -> None:  # fmt: skip
    metric = _target(command, catalogue, "subscribe")
    store.subscriptions.add(message.chat.id, metric, clock())
    what = "every metric" if metric == "*" else f"<code>{e(metric)}</code>"
    await message.answer(f"🔔 This chat now gets alerts for {what}. /unsubscribe to stop.")


async def unsubscribe(
    message: Message, *, command: CommandObject, store: State, catalogue: Catalogue,
) -> None:  # fmt: skip
    metric = _target(command, catalogue, "unsubscribe")
    removed = store.subscriptions.remove(message.chat.id, metric)
    if removed:
        what = "any metric" if metric == "*" else f"<code>{e(metric)}</code>"
        await message.answer(f"🔕 This chat no longer gets alerts for {what}.")
    else:
        await message.answer("This chat had no such subscription. /status shows what it gets.")


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(subscribe, Command("subscribe"))
    router.message.register(unsubscribe, Command("unsubscribe"))
    return router
