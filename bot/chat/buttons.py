"""Every inline button press, through one handler: the data is unpacked (bot.core.buttons),
the action decides who may press it, and the press is always answered, out-of-date and
malformed data included, so the spinner never stays. Edits and charts follow the answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram import Router
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import CallbackQuery

from bot.chat.access import Members
from bot.chat.admin import mute_incident
from bot.chat.baselines import ACCEPTS, accept
from bot.chat.digests import DIGEST_MARKS, mark_digest, mute_digest, show_digest
from bot.chat.incidents import MARKS, mark
from bot.chat.monitoring import show_alert
from bot.chat.reply import Reply, answer_press, out_of_date, why_not_sent
from bot.chat.resend import ON_THE_WAY
from bot.core.buttons import Action, unpack
from bot.core.i18n import Translator
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import State
from queries.catalogue import Catalogue

__all__ = ["build", "press"]

log = logging.getLogger(__name__)

async def _route(
    query: CallbackQuery, *, store: State, settings: Settings, catalogue: Catalogue,
    checks: Monitor, members: Members, clock: Callable[[], datetime], t: Translator,
) -> Reply:  # fmt: skip
    unpacked = unpack(query.data)
    if unpacked is None:
        return Reply(out_of_date(t), alert=True)
    action, numbers = unpacked
    if action in ACCEPTS:
        return await accept(query, action, numbers[0], store=store, settings=settings,
                            catalogue=catalogue, checks=checks, clock=clock, t=t)  # fmt: skip
    if action in MARKS:
        return await mark(query, action, numbers[0], store=store, settings=settings,
                          members=members, clock=clock, t=t)  # fmt: skip
    if action in DIGEST_MARKS:
        return await mark_digest(query, action, numbers[0], store=store, settings=settings,
                                 members=members, clock=clock, t=t)  # fmt: skip
    if action is Action.DIGEST_MUTE:
        return await mute_digest(query, numbers[0], numbers[1], store=store, settings=settings,
                                 catalogue=catalogue, clock=clock, t=t)  # fmt: skip
    if action is Action.DIGEST_SHOW:
        return await show_digest(query, numbers[0], checks=checks, store=store,
                                 settings=settings, catalogue=catalogue, t=t)  # fmt: skip
    if action is Action.MUTE:
        return await mute_incident(query, numbers[0], numbers[1], store=store,
                                   settings=settings, catalogue=catalogue,
                                   clock=clock, t=t)  # fmt: skip
    return await show_alert(query, numbers[0], checks=checks, store=store, settings=settings,
                            catalogue=catalogue, t=t)  # fmt: skip


async def press(
    query: CallbackQuery, *, store: State, settings: Settings, catalogue: Catalogue,
    checks: Monitor, members: Members, clock: Callable[[], datetime], t: Translator,
) -> None:  # fmt: skip
    """Answer first (whatever happens), then do what follows the answer."""
    try:
        reply = await _route(query, store=store, settings=settings, catalogue=catalogue,
                             checks=checks, members=members, clock=clock, t=t)  # fmt: skip
    except Exception:  # a bug or a broken state file: the press still gets its answer
        log.exception("button %r failed", (query.data or "")[:64])
        reply = Reply(t._("Sorry, that did not work. The bot keeps running; try again in a "
                          "minute."), alert=True)  # fmt: skip
    await answer_press(query, reply.text, show_alert=reply.alert)
    if reply.then is not None:
        try:
            await reply.then()
        except (TelegramRetryAfter, *ON_THE_WAY) as exc:  # not ours: Telegram's, or the way
            log.warning("after button %r a reply was not sent: %s", (query.data or "")[:64],
                        why_not_sent(exc))  # fmt: skip
        except Exception:
            log.exception("after button %r", (query.data or "")[:64])


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="buttons")
    router.callback_query.register(press)
    return router
