"""`alertbot check --notify`: one check through the bot's own incident lifecycle, mutes, outbox
and channels, then the outbox drained within a time budget, then exit. For cron, systemd timers
and Airflow: no long-lived process. It holds the state file's lock for the whole run, so it never
runs beside `alertbot run` or another `--notify` on the same file (StateLocked, exit 2).
Composition-level, like bot/app.py: it may import any layer."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiogram import Bot

from bot.channels import build_channels
from bot.console import UsageError, make_source
from bot.core.drops import why_dropped
from bot.core.formatting import counted
from bot.core.incidents import Policy
from bot.core.report import CheckReport
from bot.runtime import make_bot, make_monitor, token_accepted
from bot.service.delivery import Delivery
from bot.service.notifier import Notifier
from bot.settings import Settings, token_elsewhere
from bot.state import OutboxStatus, State
from bot.state.outbox import Dropped
from queries.sources import Source

__all__ = ["NO_TOKEN", "Notified", "check_and_notify", "dropped_text"]

log = logging.getLogger("alertbot")

NO_TOKEN = (
    "BOT_TOKEN is not set{elsewhere}: `alertbot check --notify` sends alerts through the bot. "
    "Create one "
    "with @BotFather in Telegram (/newbot) and put its token in .env as BOT_TOKEN=...; "
    "`alertbot check` without --notify works without it."
)


@dataclass(frozen=True)
class Notified:
    report: CheckReport
    sent: int  # messages that went out during this run
    waiting: int  # messages left in the outbox for a later run (a retry pending)
    dropped: list[Dropped] = field(default_factory=list)  # given up on during this run
    alert_chats: tuple[int, ...] = ()

    @property
    def exit_code(self) -> int:
        """2 when a configured alert chat is gone (ALERT_CHAT_IDS, or the chat, must change),
        1 when a message to one was refused as it was; else 0."""
        lost = [d for d in self.dropped if d.channel == "telegram" and d.chat_id in
                self.alert_chats]  # fmt: skip
        if any(not why_dropped(d.reason).startswith("refused") for d in lost):
            return 2
        return 1 if lost else 0


def dropped_text(dropped: list[Dropped]) -> str:
    """'3 dropped: chat -2 removed the bot (403)', or '' when nothing was."""
    if not dropped:
        return ""
    chats = "; ".join(f"{'chat ' if d.channel == 'telegram' else ''}"
                      f"{d.chat_id if d.channel == 'telegram' else d.channel} "
                      f"{why_dropped(d.reason)}" for d in dropped)  # fmt: skip
    return f"{sum(d.count for d in dropped)} dropped: {chats}"


async def check_and_notify(
    settings: Settings, *, at: str | None = None, metric: str | None = None, budget: float = 60.0,
    reread: bool = False,
) -> Notified:
    """One check as the bot's scheduled one, its alerts queued and sent; then what is due is
    sent again until nothing is (retries that come due within `budget` seconds included). What
    went out, what waits and what was dropped (to which chat, why) is said on stderr (stdout
    keeps the table or the JSON). `reread`: the history held is dropped and read again."""
    if at or metric:  # incidents follow every metric, as they happen
        raise UsageError("--notify checks every metric as of now: drop --at and --metric")
    if settings.bot_token is None:
        raise UsageError(NO_TOKEN.format(elsewhere=token_elsewhere()))
    # The lock first: beside a running bot (or another --notify) this stops here, untouched.
    state = State(settings.state_path, exclusive=True)
    try:
        bot = make_bot(settings)
        try:
            await token_accepted(bot, settings)  # a refused token would lose every alert
            source = make_source(settings)
            try:
                done = await _run(settings, state, bot, source, budget, reread=reread)
            finally:
                await source.close()
        finally:
            await bot.session.close()
    finally:
        state.close()  # and the lock with it
    line = f"notify: {counted(done.sent, 'message')} sent, {done.waiting} waiting for a retry"
    print(", ".join(filter(None, [line, dropped_text(done.dropped)])), file=sys.stderr)
    return done


async def _run(settings: Settings, state: State, bot: Bot, source: Source,
               budget: float, *, reread: bool) -> Notified:  # fmt: skip
    started, wall = time.monotonic(), datetime.now(UTC)
    monitor = make_monitor(settings, source, state=state)
    if reread:
        monitor.history.forget()
    secret = settings.alert_webhook_secret
    channels = build_channels(
        bot,
        webhook_url=settings.alert_webhook_url,
        webhook_secret=secret.get_secret_value() if secret else None,
    )
    delivery = Delivery(state, channels)
    notifier = Notifier(
        bot,
        monitor,
        state,
        Policy(repeat=settings.repeat_interval, resolve_after=settings.resolve_after),
        delivery,
    )
    delivery.resume()  # what a crash (or a cut run) left mid-send goes again
    sent = await delivery.drain()  # what an earlier run left for later, first
    report = await monitor.check(fresh=True)
    before = _sent_count(state)
    await notifier.after_check(report)
    sent += _sent_count(state) - before
    while state.outbox.pending() and time.monotonic() - started < budget:
        await asyncio.sleep(min(1.0, max(0.0, budget - (time.monotonic() - started))))
        sent += await delivery.drain()
    alert_chats = dict.fromkeys([*settings.alert_chat_ids, *notifier.alert_chats()])  # moved, too
    return Notified(report, sent, state.outbox.pending(), state.outbox.dropped(wall),
                    tuple(alert_chats))  # fmt: skip


def _sent_count(state: State) -> int:
    rows = state.db.rows("SELECT count() FROM outbox WHERE status=?", (OutboxStatus.SENT,))
    return int(rows[0][0])
