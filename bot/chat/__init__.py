"""The bot's routers, one per topic, composed in one place: the order is the access rule.

Handlers get what they use by name, from `dependencies()` given to the Dispatcher:
`settings`, `catalogue`, `store` (the State and its repositories: `state` is taken by
aiogram's FSM context), `checks` (the check service), `clock`, `members` (who is in which
chat, as Telegram says), and `t`: the Translator of the chat's language, decided once per
update by `install` (bot/chat/language.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiogram import Dispatcher, Router

from bot.chat import (
    admin,
    buttons,
    common,
    errors,
    guard,
    language,
    monitoring,
    subscriptions,
    thresholds,
)
from bot.chat.access import Members
from bot.chat.language import ChatLanguage
from bot.chat.resend import Replying
from bot.service.monitor import Monitor
from bot.settings import Settings

__all__ = ["dependencies", "install", "routers"]


def dependencies(monitor: Monitor, settings: Settings) -> dict[str, Any]:
    """What handlers may ask for, by name: `Dispatcher(**dependencies(monitor, settings))`."""
    return {
        "settings": settings,
        "catalogue": monitor.catalogue,
        "store": monitor.state,
        "checks": monitor,
        "clock": monitor.clock,
        "members": Members(),
    }


def install(dispatcher: Dispatcher, admin_ids: Iterable[int]) -> None:
    """The routers, and the chat's language for every update (errors' handlers included)."""
    dispatcher.update.outer_middleware(Replying())  # its replies are sent again on a 5xx
    dispatcher.update.outer_middleware(ChatLanguage())
    dispatcher.include_routers(*routers(admin_ids))


def routers(admin_ids: Iterable[int]) -> list[Router]:
    """While the state file is lost, the guard takes every command that would write to it;
    then admin commands (filtered by ADMIN_IDS), then everything anyone may do, the
    buttons (each press answered, access decided per action), then the polite refusal of
    admin commands and the answer to anything unknown."""
    return [
        guard.build(),
        admin.build(admin_ids),
        common.build(),
        language.build(),
        monitoring.build(),
        thresholds.build(),
        subscriptions.build(),
        buttons.build(),
        admin.build_refusal(),
        common.build_fallback(),
        errors.build(),
    ]
