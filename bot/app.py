"""`alertbot run`: the Telegram bot. Long polling, the command menu, the background check and
the incidents it reports. The composition root of the bot: it alone builds Bot and Dispatcher."""

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
from aiogram.types import BotCommand

from bot.channels import build_channels
from bot.chat import routers
from bot.core.commands import COMMANDS
from bot.core.incidents import Policy
from bot.service.delivery import Delivery
from bot.service.monitor import Monitor
from bot.service.notifier import Notifier
from bot.service.scheduler import run_every
from bot.settings import Settings
from bot.state import State
from queries.catalogue import load_catalogue
from queries.sources import Source

__all__ = ["BotApp", "make_monitor", "serve"]

log = logging.getLogger(__name__)


class BotApp:
    """The bot, its dispatcher and its notifier around one Monitor."""

    def __init__(self, settings: Settings, monitor: Monitor) -> None:
        assert settings.bot_token is not None
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        self.bot = Bot(
            settings.bot_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
        self.monitor = monitor
        self.settings = settings
        self.dispatcher = Dispatcher(monitor=monitor)
        self.dispatcher.include_routers(*routers(settings.admin_ids))
        secret = settings.alert_webhook_secret
        channels = build_channels(
            self.bot,
            webhook_url=settings.alert_webhook_url,
            webhook_secret=secret.get_secret_value() if secret else None,
        )
        self.delivery = Delivery(monitor.state, channels)
        self.notifier = Notifier(
            self.bot,
            monitor,
            monitor.state,
            Policy(repeat=settings.repeat_interval, resolve_after=settings.resolve_after),
            self.delivery,
        )

    async def tick(self) -> None:
        """One scheduled check and what it means for the chats."""
        report = await self.monitor.check(fresh=True)
        await self.notifier.after_check(report)

    async def deliver(self, stop: asyncio.Event, every: float) -> None:
        """Keep draining the outbox: retries come due, and a restart resumes what was left."""
        while not stop.is_set():
            try:
                await self.delivery.drain()
            except Exception:
                log.exception("sending from the outbox failed; trying again shortly")
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                continue

    async def run(
        self,
        *,
        stop: asyncio.Event | None = None,
        handle_signals: bool = True,
        polling_timeout: int = 10,
        schedule: bool = True,
        drain_every: float = 2.0,
    ) -> None:
        """Poll for updates and check on schedule until SIGINT/SIGTERM (or `stop`)."""
        halt = stop or asyncio.Event()
        tasks: list[asyncio.Task[None]] = []

        async def on_startup() -> None:
            await self.bot.set_my_commands(
                [BotCommand(command=c.name, description=c.what[:256]) for c in COMMANDS]
            )
            resumed = self.monitor.state.outbox.resume()
            if resumed:
                log.info("resuming %d message(s) left in the outbox", resumed)
            tasks.append(asyncio.create_task(self.deliver(halt, drain_every)))
            if schedule:
                tasks.append(asyncio.create_task(run_every(
                    self.settings.check_interval, self.tick, clock=self.monitor.clock, stop=halt
                )))  # fmt: skip

        async def on_shutdown() -> None:
            halt.set()
            for task in tasks:
                try:
                    await asyncio.wait_for(task, timeout=5)  # a stuck send resumes later
                except TimeoutError:
                    task.cancel()

        self.dispatcher.startup.register(on_startup)
        self.dispatcher.shutdown.register(on_shutdown)

        async def watch_stop() -> None:
            await halt.wait()
            await self.dispatcher.stop_polling()

        watcher = asyncio.create_task(watch_stop()) if stop is not None else None
        try:
            await self.dispatcher.start_polling(
                self.bot, handle_signals=handle_signals, polling_timeout=polling_timeout
            )
        finally:
            if watcher is not None:
                watcher.cancel()


async def serve(settings: Settings, monitor: Monitor, **options: object) -> None:
    await BotApp(settings, monitor).run(**options)  # type: ignore[arg-type]


def wall_clock() -> datetime:
    return datetime.now(UTC)


def make_monitor(
    settings: Settings, source: Source, clock: Callable[[], datetime] = wall_clock
) -> Monitor:
    return Monitor(
        source=source,
        catalogue=load_catalogue(settings.catalogue_path),
        state=State(settings.state_path),
        settings=settings,
        clock=clock,
    )
