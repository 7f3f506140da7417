"""/start, /help, /metrics, /status, and the answer to anything the bot does not know."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.chat.guard import stopped_text
from bot.core.commands import help_text
from bot.core.wording import e, metrics_text
from bot.service.monitor import Monitor
from bot.service.scheduler import next_tick
from bot.settings import Settings
from bot.state import State
from queries.catalogue import Catalogue

__all__ = ["build", "build_fallback"]


def _is_admin(message: Message, settings: Settings) -> bool:
    return message.from_user is not None and message.from_user.id in settings.admin_ids


async def start(message: Message, *, settings: Settings, catalogue: Catalogue) -> None:
    text = help_text(catalogue, is_admin=_is_admin(message, settings))
    who = message.from_user.id if message.from_user else "unknown"
    text += (f"\n\nThis chat's id: <code>{message.chat.id}</code> (for ALERT_CHAT_IDS); your "
             f"user id: <code>{who}</code> (for ADMIN_IDS).")  # fmt: skip
    await message.answer(text)


async def metrics(message: Message, *, catalogue: Catalogue) -> None:
    await message.answer(metrics_text(catalogue))


async def status(
    message: Message, *, checks: Monitor, store: State, settings: Settings,
    clock: Callable[[], datetime],
) -> None:  # fmt: skip
    zone = settings.zone
    now = clock()
    last = store.journal.last_check()
    interval = settings.check_interval
    lines = ["<b>Status</b>"]
    if store.problem is not None:
        lines.append(stopped_text(store.problem))
    if last is None:
        lines.append("no check has finished yet")
    else:
        took = checks.last_duration
        finished = last.finished
        lines.append(
            f"last check {finished.astimezone(zone):%Y-%m-%d %H:%M:%S} {e(zone.key)}"
            + (f", took {took:.1f} s" if took is not None else "")
            + f": {last.series} series, {last.anomalies} anomalies"
        )
    lines.append(f"next check {next_tick(now, interval).astimezone(zone):%H:%M} (every "
                 f"{int(interval.total_seconds() // 60)} min)")  # fmt: skip
    source = checks.source.describe()
    if checks.last_error:
        lines.append(f"source: {e(source)} — ⚠️ {e(checks.last_error[:300])}")
    else:
        lines.append(f"source: {e(source)} — reachable")
    latest = checks.last_report  # no new computation for /status
    if latest is not None:
        report = latest[0]
        lag = now - report.window_end.astimezone(now.tzinfo)
        lines.append(f"data complete up to {report.window_end.astimezone(zone):%H:%M} "
                     f"({int(lag.total_seconds() // 60)} min ago; delay allowed "
                     f"{int(settings.data_delay.total_seconds() // 60)} min)")  # fmt: skip
    errors = store.journal.delivery_errors(now - timedelta(days=1))
    lines.append(f"delivery errors in the last 24 h: {errors}")
    mutes = store.mutes.active(now)
    if mutes:
        lines.append("muted: " + ", ".join(
            f"{e(m.metric)} until {m.until.astimezone(zone):%m-%d %H:%M}" for m in mutes
        ))  # fmt: skip
    subs = store.subscriptions.of_chat(message.chat.id)
    lines.append("this chat gets alerts for: " + (", ".join(map(e, subs)) if subs else "nothing "
                 "(/subscribe)"))  # fmt: skip
    await message.answer("\n".join(lines))


async def unknown_command(message: Message) -> None:
    word = (message.text or "").split()[0]
    _, at, mention = word.partition("@")
    if at and message.bot is not None:
        me = await message.bot.me()
        if mention.lower() != (me.username or "").lower():
            return  # a command for another bot in the group
    await message.answer(f"I don't know {e(word[:40])}. Send /help for the commands.")


async def not_a_command(message: Message) -> None:
    """Only in a private chat: in a group, people talk to each other, not to the bot."""
    await message.answer("I answer commands: send /help for the list.")


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(start, CommandStart())
    router.message.register(start, Command("help"))
    router.message.register(metrics, Command("metrics"))
    router.message.register(status, Command("status"))
    return router


def build_fallback() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    fallback = Router(name="fallback")
    fallback.message.register(unknown_command, F.text.startswith("/"))
    fallback.message.register(not_a_command, F.chat.type == "private")
    return fallback
