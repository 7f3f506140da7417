"""`alertbot run`: the Telegram bot. Long polling, the command menu, the background check and
the alerts it pushes. The composition root of the bot: it alone builds Bot and Dispatcher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BotCommand, BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.checker import CheckReport, SeriesResult
from bot.handlers import routers
from bot.handlers.callbacks import Mute, Show
from bot.messages import COMMANDS, alert_caption, digest_text, group
from bot.monitor import Monitor
from bot.scheduler import run_every
from bot.settings import Settings
from bot.store import State

__all__ = ["Notifier", "build_bot", "build_dispatcher", "serve"]

log = logging.getLogger(__name__)
DIGEST_FROM = 4  # this many metrics off in one check: one digest instead of one message each


def build_bot(settings: Settings) -> Bot:
    assert settings.bot_token is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def build_dispatcher(monitor: Monitor) -> Dispatcher:
    dispatcher = Dispatcher(monitor=monitor)
    dispatcher.include_routers(*routers(monitor.settings.admin_ids))
    return dispatcher


def keyboard(result: SeriesResult) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    name = result.metric.name
    builder.button(text="🔕 1 h", callback_data=Mute(metric=name, hours=1))
    builder.button(text="🔕 24 h", callback_data=Mute(metric=name, hours=24))
    where = "" if result.slice.is_total else result.slice.label()
    builder.button(text=f"📈 {name}", callback_data=Show(metric=name, slice=where))
    builder.adjust(3)
    return builder.as_markup()


class Notifier:
    """Turns a check's anomalies into messages: one per metric (its total, or its worst slice,
    with the other slices that moved), or one digest when many metrics fire at once."""

    def __init__(self, bot: Bot, monitor: Monitor) -> None:
        self.bot = bot
        self.monitor = monitor

    def recipients(self, metric: str) -> list[int]:
        chats = dict.fromkeys([*self.monitor.settings.alert_chat_ids,
                               *self.monitor.state.subscribers(metric)])  # fmt: skip
        return list(chats)

    def _due(self, head: SeriesResult, now: datetime) -> bool:
        """Not muted, and not already alerted within REPEAT_INTERVAL."""
        state, settings = self.monitor.state, self.monitor.settings
        if state.muted_until(head.metric.name, now) is not None:
            return False
        last = state.last_alert_at(head.metric.name, head.slice.label())
        return last is None or now - last >= settings.repeat_interval

    async def notify(self, report: CheckReport) -> int:
        """Send what this check found; returns the messages sent."""
        now = self.monitor.clock()
        groups = [g for g in group(report.anomalies) if self._due(g[0], now)]
        if not groups:
            return 0
        ids = {}
        for head, _ in groups:
            v = head.verdict
            ids[head.metric.name] = self.monitor.state.record_alert(
                head.metric.name, head.slice.label(), v.bucket.to_pydatetime(),
                numbers=(v.value, v.expected, v.lower, v.upper, v.score), reason=v.reason, now=now,
            )  # fmt: skip
        settings = self.monitor.settings
        sent = 0
        if len(groups) >= DIGEST_FROM:
            text = digest_text(groups, zone=settings.zone)
            chats = dict.fromkeys(
                c for head, _ in groups for c in self.recipients(head.metric.name)
            )
            worst = groups[0][0]
            png = await self.monitor.chart(worst)
            for chat in chats:
                sent += await self._send(chat, ids[worst.metric.name], text, png, keyboard(worst))
            return sent
        for head, related in groups:
            caption = alert_caption(
                head, related, zone=settings.zone, step=self.monitor.catalogue.step,
                dashboard=settings.dashboard_url,
            )  # fmt: skip
            png = await self.monitor.chart(head)
            for chat in self.recipients(head.metric.name):
                sent += await self._send(chat, ids[head.metric.name], caption, png, keyboard(head))
        return sent

    async def _send(self, chat: int, alert_id: int, text: str, png: bytes | None,
                    markup: InlineKeyboardMarkup) -> int:  # fmt: skip
        state, now = self.monitor.state, self.monitor.clock()
        for attempt in range(3):
            try:
                if png is not None and len(text) <= 1024:
                    message = await self.bot.send_photo(
                        chat, BufferedInputFile(png, "alert.png"), caption=text, reply_markup=markup
                    )
                else:
                    message = await self.bot.send_message(chat, text, reply_markup=markup)
            except TelegramRetryAfter as exc:
                log.warning(
                    "Telegram asks to wait %s s before sending to %s", exc.retry_after, chat
                )
                await asyncio.sleep(exc.retry_after)
                continue
            except TelegramForbiddenError:
                log.warning("chat %s blocked or removed the bot: its subscriptions are off", chat)
                state.unsubscribe(chat, "*")
                state.record_delivery(alert_id, chat, None, now, "forbidden")
                return 0
            except TelegramAPIError as exc:
                log.warning("sending to %s failed (attempt %d): %s", chat, attempt + 1, exc)
                if attempt == 2:
                    state.record_delivery(alert_id, chat, None, now, str(exc)[:200])
                    return 0
                await asyncio.sleep(1.0 * (attempt + 1))
                continue
            state.record_delivery(alert_id, chat, message.message_id, now)
            return 1
        state.record_delivery(alert_id, chat, None, now, "gave up after retries")
        return 0


async def serve(
    settings: Settings,
    monitor: Monitor,
    *,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    polling_timeout: int = 10,
) -> None:
    """Poll for updates and check on schedule until SIGINT/SIGTERM (or `stop`)."""
    bot = build_bot(settings)
    dispatcher = build_dispatcher(monitor)
    notifier = Notifier(bot, monitor)
    halt = stop or asyncio.Event()

    async def scheduled() -> None:
        report = await monitor.check(fresh=True)
        await notifier.notify(report)

    async def on_startup() -> None:
        await bot.set_my_commands([BotCommand(command=name, description=what[:256])
                                   for name, _, what, _ in COMMANDS])  # fmt: skip
        dispatcher["scheduler"] = asyncio.create_task(
            run_every(settings.check_interval, scheduled, clock=monitor.clock, stop=halt)
        )

    async def on_shutdown() -> None:
        halt.set()
        task = dispatcher.workflow_data.get("scheduler")
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=30)
            except TimeoutError:
                task.cancel()

    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)

    async def watch_stop() -> None:
        await halt.wait()
        await dispatcher.stop_polling()

    watcher = asyncio.create_task(watch_stop()) if stop is not None else None
    try:
        await dispatcher.start_polling(
            bot, handle_signals=handle_signals, polling_timeout=polling_timeout
        )
    finally:
        if watcher is not None:
            watcher.cancel()


def wall_clock() -> datetime:
    return datetime.now(UTC)


def make_monitor(
    settings: Settings, source: object, clock: Callable[[], datetime] = wall_clock
) -> Monitor:
    from queries.catalogue import load_catalogue
    from queries.sources import Source

    assert isinstance(source, Source)
    return Monitor(source=source, catalogue=load_catalogue(settings.catalogue_path),
                   state=State(settings.state_path), settings=settings, clock=clock)  # fmt: skip
