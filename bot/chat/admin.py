"""/set, /reset, /mute, /unmute and the mute buttons: for ADMIN_IDS only.

The access rule is the router's filter, applied once; everyone else reaches `refusal`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.channels.buttons import Mute
from bot.chat.errors import UsageError
from bot.chat.monitoring import metric_named
from bot.core.wording import e
from bot.service.monitor import Monitor
from bot.service.notifier import show_state
from queries.catalogue import parse_duration

__all__ = ["build", "build_refusal"]

ADMIN_COMMANDS = ("set", "reset", "mute", "unmute")
MAX_MUTE = timedelta(days=30)


def build(admin_ids: Iterable[int]) -> Router:
    """The admin router: its filter lets only ADMIN_IDS in."""
    router = Router(name="admin")
    allowed = frozenset(admin_ids)
    router.message.filter(F.from_user.id.in_(allowed))
    router.callback_query.filter(F.from_user.id.in_(allowed))
    router.message.register(set_param, Command("set"))
    router.message.register(reset, Command("reset"))
    router.message.register(mute, Command("mute"))
    router.message.register(unmute, Command("unmute"))
    router.callback_query.register(mute_button, Mute.filter())
    return router


async def set_param(message: Message, command: CommandObject, monitor: Monitor) -> None:
    args = (command.args or "").split()
    if len(args) != 3:
        raise UsageError("Name the metric, the parameter and its new value.", "set")
    metric = metric_named(monitor, args[0], "set")
    user = message.from_user.id if message.from_user else None
    try:
        result = await monitor.set_param(metric, args[1], args[2], user)
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


async def reset(message: Message, command: CommandObject, monitor: Monitor) -> None:
    args = (command.args or "").split()
    if len(args) != 1:
        raise UsageError("Name one metric.", "reset")
    metric = metric_named(monitor, args[0], "reset")
    removed = monitor.reset(metric)
    await message.answer(f"↩️ <code>{e(metric.name)}</code>: {removed} override(s) removed; "
                         "the catalogue's settings are in force.")  # fmt: skip


def _metric_or_all(monitor: Monitor, name: str, command: str) -> str:
    return "*" if name.lower() == "all" else metric_named(monitor, name, command).name


async def mute(message: Message, command: CommandObject, monitor: Monitor) -> None:
    args = (command.args or "").split()
    if len(args) != 2:
        raise UsageError("Name the metric (or all) and for how long, e.g. 2h.", "mute")
    metric = _metric_or_all(monitor, args[0], "mute")
    try:
        duration = parse_duration(args[1])
    except ValueError:
        raise UsageError(
            f"{args[1][:20]!r} is not a duration: write 30m, 2h or 1d.", "mute"
        ) from None
    if not timedelta(minutes=1) <= duration <= MAX_MUTE:
        raise UsageError("A mute lasts from 1 minute to 30 days.", "mute")
    now = monitor.clock()
    user = message.from_user.id if message.from_user else None
    monitor.state.mutes.add(metric, now + duration, user, now)
    until = (now + duration).astimezone(monitor.settings.zone)
    what = "all metrics" if metric == "*" else f"<code>{e(metric)}</code>"
    zone = e(monitor.settings.zone.key)
    await message.answer(f"🔕 Alerts for {what} muted until {until:%Y-%m-%d %H:%M} {zone}. "
                         f"/unmute {e(args[0])} to lift it.")  # fmt: skip


async def unmute(message: Message, command: CommandObject, monitor: Monitor) -> None:
    args = (command.args or "").split()
    if len(args) != 1:
        raise UsageError("Name the metric, or all.", "unmute")
    metric = _metric_or_all(monitor, args[0], "unmute")
    removed = monitor.state.mutes.remove(metric)
    what = "all metrics" if metric == "*" else f"<code>{e(metric)}</code>"
    await message.answer(f"🔔 Alerts for {what} are on again." if removed
                         else f"{what} was not muted.")  # fmt: skip


async def mute_button(query: CallbackQuery, callback_data: Mute, monitor: Monitor) -> None:
    if callback_data.metric not in monitor.catalogue.metrics or not 1 <= callback_data.hours <= 720:
        await query.answer("That button is out of date.", show_alert=True)
        return
    now = monitor.clock()
    until = now + timedelta(hours=callback_data.hours)
    monitor.state.mutes.add(callback_data.metric, until, query.from_user.id, now)
    local = until.astimezone(monitor.settings.zone)
    await query.answer(f"Muted {callback_data.metric} until {local:%H:%M}")
    state = monitor.state
    if query.bot is not None:
        incident = state.incidents.open_for(callback_data.metric)
        if incident is not None and incident.id is not None:
            line = f"🔕 muted until {local:%Y-%m-%d %H:%M} by {query.from_user.full_name}"
            await show_state(query.bot, state, incident.id, line)
    if isinstance(query.message, Message):
        await query.message.answer(
            f"🔕 <code>{e(callback_data.metric)}</code> muted until {local:%Y-%m-%d %H:%M} by "
            f"{e(query.from_user.full_name)}."
        )


async def not_admin(message: Message) -> None:
    await message.answer("Sorry, only admins can change settings or mute alerts. Ask one of "
                         "them, or see /thresholds for what is in force.")  # fmt: skip


async def not_admin_button(query: CallbackQuery) -> None:
    await query.answer("Only admins can mute alerts.", show_alert=True)


def build_refusal() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    refusal = Router(name="refusal")
    refusal.message.register(not_admin, Command(*ADMIN_COMMANDS))
    refusal.callback_query.register(not_admin_button, Mute.filter())
    return refusal
