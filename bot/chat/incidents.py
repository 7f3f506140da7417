"""The acknowledge and false-alarm buttons of an alert: anyone in the chat may press them."""

from __future__ import annotations

from dataclasses import replace

from aiogram import Router
from aiogram.types import CallbackQuery

from bot.channels.buttons import Ack, FalseAlarm
from bot.service.monitor import Monitor
from bot.service.notifier import show_state
from bot.state import State

__all__ = ["build"]


def _state(monitor: Monitor) -> State:
    return monitor.state


async def acknowledge(query: CallbackQuery, callback_data: Ack, monitor: Monitor) -> None:
    state = _state(monitor)
    incident = state.incidents.get(callback_data.incident)
    if incident is None or not incident.is_open:
        await query.answer("That incident is over.")
        return
    who = query.from_user.full_name
    state.incidents.save(replace(incident, acknowledged_by=who))
    await query.answer("Acknowledged: no more reminders for this incident.")
    assert query.bot is not None
    await show_state(query.bot, state, callback_data.incident, f"👀 acknowledged by {who}")


async def false_alarm(query: CallbackQuery, callback_data: FalseAlarm, monitor: Monitor) -> None:
    state = _state(monitor)
    incident = state.incidents.get(callback_data.incident)
    if incident is None:
        await query.answer("That incident is unknown.")
        return
    who = query.from_user.full_name
    state.incidents.save(replace(incident, false_alarm_by=who,
                                 acknowledged_by=incident.acknowledged_by or who))
    await query.answer("Recorded as a false alarm; /backtest and tune can learn from it.")
    assert query.bot is not None
    await show_state(query.bot, state, callback_data.incident, f"🙅 false alarm, says {who}")


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="incidents")
    router.callback_query.register(acknowledge, Ack.filter())
    router.callback_query.register(false_alarm, FalseAlarm.filter())
    return router
