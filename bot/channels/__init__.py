"""Where messages go: Telegram, and a generic webhook, behind one Channel interface."""

from __future__ import annotations

from aiogram import Bot

from bot.channels.base import (
    Channel,
    Gone,
    Message,
    Outcome,
    RateLimited,
    Rejected,
    RetryAfter,
    Sent,
    buttons_from_json,
    buttons_json,
)
from bot.channels.telegram import TelegramChannel
from bot.channels.webhook import WebhookChannel

__all__ = [
    "Channel", "Gone", "Message", "Outcome", "RateLimited", "Rejected", "RetryAfter", "Sent",
    "TelegramChannel", "WebhookChannel", "build_channels", "buttons_from_json", "buttons_json",
]  # fmt: skip


def build_channels(
    bot: Bot, *, webhook_url: str | None = None, webhook_secret: str | None = None
) -> dict[str, Channel]:
    """The channels by the name the outbox rows carry: Telegram always, the webhook when a URL
    is set."""
    channels: dict[str, Channel] = {"telegram": TelegramChannel(bot)}
    if webhook_url:
        channels["webhook"] = WebhookChannel(webhook_url, webhook_secret)
    return channels
