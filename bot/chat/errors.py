"""Every command answers: bad arguments get what was wrong and the correct usage."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.core.commands import usage
from bot.core.wording import e

__all__ = ["UsageError", "build"]

log = logging.getLogger(__name__)


class UsageError(Exception):
    """A command with wrong arguments: the reply says what was wrong and how to write it."""

    def __init__(self, problem: str, command: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.command = command


async def on_usage_error(event: ErrorEvent) -> None:
    error = event.exception
    assert isinstance(error, UsageError)
    target = event.update.message
    if target is not None:
        await target.answer(f"{e(error.problem)}\nUsage: <code>{e(usage(error.command))}</code>")


async def on_any_error(event: ErrorEvent) -> None:
    """Our bug or a source failure: say so in one sentence, keep serving, log the details."""
    log.error("while handling an update: %s", event.exception, exc_info=event.exception)
    target = event.update.message
    if target is not None:
        await target.answer(
            f"Sorry, that failed: {e(str(event.exception)[:300])}. The bot keeps running; "
            "/status shows the source and the last check."
        )


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.errors.register(on_usage_error, ExceptionTypeFilter(UsageError))
    router.errors.register(on_any_error)
    return router
