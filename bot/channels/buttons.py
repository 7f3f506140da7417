"""Typed data behind the inline buttons of an alert."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

__all__ = ["Ack", "FalseAlarm", "Mute", "Show"]


class Mute(CallbackData, prefix="mute"):
    metric: str
    hours: int


class Show(CallbackData, prefix="show"):
    metric: str
    slice: str  # "" for the total, else dim=value


class Ack(CallbackData, prefix="ack"):
    incident: int


class FalseAlarm(CallbackData, prefix="false"):
    incident: int
