"""/set, /reset, /mute, /unmute, /reload and the mute buttons: for ADMIN_IDS only.

The commands' access rule is the router's filter, applied once; everyone else reaches
`refusal`. The mute buttons come through the one button router, which asks `mute_incident`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.chat.errors import UsageError
from bot.chat.incidents import refresh
from bot.chat.monitoring import metric_named
from bot.chat.reply import OUT_OF_DATE, Reply
from bot.core.commands import admin_commands
from bot.core.wording import e
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import State
from queries.catalogue import Catalogue, parse_duration

__all__ = ["build", "build_refusal", "mute_incident"]

MAX_MUTE = timedelta(days=30)


def build(admin_ids: Iterable[int]) -> Router:
    """The admin router: its filter lets only ADMIN_IDS in."""
    router = Router(name="admin")
    allowed = frozenset(admin_ids)
    router.message.filter(F.from_user.id.in_(allowed))
    router.message.register(set_param, Command("set"))
    router.message.register(reset, Command("reset"))
    router.message.register(mute, Command("mute"))
    router.message.register(unmute, Command("unmute"))
    router.message.register(reload_config, Command("reload"))
    return router


async def reload_config(message: Message, *, reload: Callable[[], Awaitable[str]]) -> None:
    """The catalogue and the settings safe to change, re-read and validated (SIGHUP does the
    same); the answer says what changed, or why the old ones stay."""
    await message.answer(f"🔄 {e(await reload())}")


async def set_param(
    message: Message, *, command: CommandObject, checks: Monitor, catalogue: Catalogue,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) != 3:
        raise UsageError("Name the metric, the parameter and its new value.", "set")
    metric = metric_named(catalogue, args[0], "set")
    user = message.from_user.id if message.from_user else None
    try:
        result = await checks.set_param(metric, args[1], args[2], user)
    except ValueError as exc:
        raise UsageError(f"{exc}. /thresholds {metric.name} lists them.", "set") from None
    change = result.alerts_after - result.alerts_before
    await message.answer(
        f"✅ <code>{e(metric.name)}</code> {e(result.param)}: {e(result.before)} → "
        f"<b>{e(result.after)}</b>\n"
        f"Over the last {result.days} days this would have raised {result.alerts_after} "
        f"alert(s) instead of {result.alerts_before} ({change:+d}).\n"
        f"/reset {e(metric.name)} to undo, /backtest {e(metric.name)} for the details."
    )


async def reset(
    message: Message, *, command: CommandObject, checks: Monitor, catalogue: Catalogue,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) != 1:
        raise UsageError("Name one metric.", "reset")
    metric = metric_named(catalogue, args[0], "reset")
    removed = checks.reset(metric)
    await message.answer(f"↩️ <code>{e(metric.name)}</code>: {removed} override(s) removed; "
                         "the catalogue's settings are in force.")  # fmt: skip


def _metric_or_all(catalogue: Catalogue, name: str, command: str) -> str:
    return "*" if name.lower() == "all" else metric_named(catalogue, name, command).name


async def mute(
    message: Message, *, command: CommandObject, store: State, settings: Settings,
    catalogue: Catalogue, clock: Callable[[], datetime],
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) != 2:
        raise UsageError("Name the metric (or all) and for how long, e.g. 2h.", "mute")
    metric = _metric_or_all(catalogue, args[0], "mute")
    try:
        duration = parse_duration(args[1])
    except ValueError:
        raise UsageError(
            f"{args[1][:20]!r} is not a duration: write 30m, 2h or 1d.", "mute"
        ) from None
    if not timedelta(minutes=1) <= duration <= MAX_MUTE:
        raise UsageError("A mute lasts from 1 minute to 30 days.", "mute")
    now = clock()
    user = message.from_user.id if message.from_user else None
    store.mutes.add(metric, now + duration, user, now)
    until = (now + duration).astimezone(settings.zone)
    what = "all metrics" if metric == "*" else f"<code>{e(metric)}</code>"
    zone = e(settings.zone.key)
    await message.answer(f"🔕 Alerts for {what} muted until {until:%Y-%m-%d %H:%M} {zone}. "
                         f"/unmute {e(args[0])} to lift it.")  # fmt: skip


async def unmute(
    message: Message, *, command: CommandObject, store: State, catalogue: Catalogue,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) != 1:
        raise UsageError("Name the metric, or all.", "unmute")
    metric = _metric_or_all(catalogue, args[0], "unmute")
    removed = store.mutes.remove(metric)
    what = "all metrics" if metric == "*" else f"<code>{e(metric)}</code>"
    await message.answer(f"🔔 Alerts for {what} are on again." if removed
                         else f"{what} was not muted.")  # fmt: skip


async def mute_incident(
    query: CallbackQuery, incident_id: int, hours: int, *, store: State, settings: Settings,
    catalogue: Catalogue, clock: Callable[[], datetime],
) -> Reply:  # fmt: skip
    """The mute buttons of an alert: the incident's metric, for admins only."""
    if query.from_user.id not in settings.admin_ids:
        return Reply("Only admins can mute alerts.", alert=True)
    incident = store.incidents.get(incident_id)
    if incident is None or incident.metric not in catalogue.metrics or not 1 <= hours <= 720:
        return Reply(OUT_OF_DATE, alert=True)
    now = clock()
    until = now + timedelta(hours=hours)
    store.mutes.add(incident.metric, until, query.from_user.id, now)
    local = until.astimezone(settings.zone)
    bot, chat = query.bot, query.message.chat.id if query.message is not None else None

    async def show() -> None:
        if bot is None:
            return
        await refresh(bot, store, settings, incident, now)
        if chat is not None:
            await bot.send_message(chat, f"🔕 <code>{e(incident.metric)}</code> muted until "
                                   f"{local:%Y-%m-%d %H:%M} by "
                                   f"{e(query.from_user.full_name)}.")  # fmt: skip

    return Reply(f"Muted {incident.metric} until {local:%Y-%m-%d %H:%M}", then=show)


async def not_admin(message: Message) -> None:
    await message.answer("Sorry, only admins can change settings or mute alerts. Ask one of "
                         "them, or see /thresholds for what is in force.")  # fmt: skip


def build_refusal() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    refusal = Router(name="refusal")
    refusal.message.register(not_admin, Command(*admin_commands()))
    return refusal
