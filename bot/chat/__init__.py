"""The bot's routers, one per topic, composed in one place: the order is the access rule."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram import Router

from bot.chat import admin, common, errors, incidents, monitoring, subscriptions

__all__ = ["routers"]


def routers(admin_ids: Iterable[int]) -> list[Router]:
    """Admin commands first (filtered by ADMIN_IDS), then everything anyone may do, then the
    polite refusal of admin commands and the answer to anything unknown."""
    return [
        admin.build(admin_ids),
        common.build(),
        monitoring.build(),
        subscriptions.build(),
        incidents.build(),
        admin.build_refusal(),
        common.build_fallback(),
        errors.build(),
    ]
