"""`alertbot run`: the Telegram bot. Long polling, the command menu, the background check and
the incidents it reports. The composition root of the bot: it alone builds Bot and Dispatcher.

Its lifecycle holds: start-up retries what is transient (network, 5xx, a proxy's HTML page)
with backoff until it answers or the process is stopped, and stops on a rejected token
(TelegramRejectedToken); SIGTERM/SIGINT let the message in flight finish, then stop between
messages; a state file lost or damaged while running stops the checks (no alert twice) and is
reported once. Every exception and what happens to it: bot/errors.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BotCommand
from aiogram.utils.token import TokenValidationError

from bot.channels import build_channels
from bot.chat import dependencies, routers
from bot.core.commands import COMMANDS
from bot.core.incidents import Policy
from bot.errors import TelegramRejectedToken
from bot.service.delivery import Delivery
from bot.service.monitor import Monitor
from bot.service.notifier import Notifier
from bot.service.scheduler import run_every
from bot.settings import Settings
from bot.state import State, StoreError
from queries.catalogue import load_catalogue
from queries.sources import Source

__all__ = ["BotApp", "make_monitor", "serve"]

log = logging.getLogger(__name__)

REJECTED = "Telegram rejected BOT_TOKEN (401 Unauthorized): check the token from @BotFather"


class BotApp:
    """The bot, its dispatcher and its notifier around one Monitor."""

    def __init__(self, settings: Settings, monitor: Monitor) -> None:
        assert settings.bot_token is not None
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        try:
            self.bot = Bot(
                settings.bot_token.get_secret_value(),
                session=session,
                default=DefaultBotProperties(parse_mode=ParseMode.HTML),
            )
        except TokenValidationError:
            raise TelegramRejectedToken(
                "BOT_TOKEN is not a bot token (expected digits, a colon, then letters, as "
                "@BotFather gives it): check the token from @BotFather"
            ) from None
        self.monitor = monitor
        self.settings = settings
        self.dispatcher = Dispatcher(**dependencies(monitor, settings))
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
        self.start_backoff = (1.0, 60.0)  # seconds: first and longest wait between tries
        self.shutdown_grace = 30.0  # seconds the message in flight gets to finish at a stop
        self._reported = False

    # -- the state file ------------------------------------------------------------------------
    @property
    def state_problem(self) -> str | None:
        """Why alerting stopped (the state file was lost or damaged while running), or None."""
        return self.monitor.state.problem

    async def state_is_sound(self) -> bool:
        """Whether the state file is still the one opened; the first time it is not, say so
        (ERROR in the log, a message to the operators) and stop alerting from then on."""
        if self.state_problem is None:
            with contextlib.suppress(StoreError):  # the problem is kept in state.problem
                self.monitor.state.db.verify()
        if self.state_problem is None:
            return True
        await self._report_state_problem()
        return False

    async def _report_state_problem(self) -> None:
        if self._reported or self.state_problem is None:
            return
        self._reported = True
        log.error("%s. Alerting is stopped until then: no check runs, so that no alert goes out "
                  "twice.", self.state_problem)  # fmt: skip
        text = (f"⚠️ <b>Alerting is stopped.</b> {html.escape(self.state_problem)}.\n"
                "No check runs until then, so that no alert goes out twice.")  # fmt: skip
        # Straight through the bot: the outbox lives in the file that is gone.
        chats = dict.fromkeys([*self.settings.admin_ids, *self.settings.alert_chat_ids])
        for chat in chats:
            try:
                await self.bot.send_message(chat, text)
            except AiogramError as exc:
                log.warning("could not tell chat %s that alerting stopped: %s", chat,
                            type(exc).__name__)  # fmt: skip

    # -- the work ------------------------------------------------------------------------------
    async def tick(self) -> None:
        """One scheduled check and what it means for the chats; none once the state file is
        lost (its incidents are gone: every open one would alert again)."""
        if not await self.state_is_sound():
            return
        try:
            report = await self.monitor.check(fresh=True)
            await self.notifier.after_check(report)
        except StoreError:
            if self.state_problem is None:
                raise
            await self._report_state_problem()

    async def deliver(self, stop: asyncio.Event, every: float) -> None:
        """Keep draining the outbox: retries come due, and a restart resumes what was left.
        Stops between two messages once `stop` is set, never in the middle of one."""
        while not stop.is_set():
            try:
                if await self.state_is_sound():
                    await self.delivery.drain(stop=stop)
            except Exception:
                if self.state_problem is None:  # damage is reported once, by state_is_sound
                    log.exception("sending from the outbox failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    # -- start-up --------------------------------------------------------------------------------
    async def start(self, halt: asyncio.Event) -> bool:
        """Who we are and the command menu, each retried until Telegram answers; False when
        stopped first. Raises TelegramRejectedToken when the token is refused."""
        commands = [BotCommand(command=c.name, description=c.what[:256]) for c in COMMANDS]
        return await self._until_answered("getMe", self.bot.me, halt) and (
            await self._until_answered(
                "setMyCommands", lambda: self.bot.set_my_commands(commands), halt
            )
        )

    async def _until_answered(
        self, method: str, call: Callable[[], Awaitable[object]], halt: asyncio.Event
    ) -> bool:
        wait, longest = self.start_backoff
        while not halt.is_set():
            pause = wait
            try:
                await call()
                return True
            except TelegramUnauthorizedError:
                raise TelegramRejectedToken(REJECTED) from None
            except TelegramRetryAfter as exc:
                pause, reason = float(exc.retry_after), f"asked to wait {exc.retry_after} s"
            except (TelegramNetworkError, TelegramServerError) as exc:
                reason = f"{type(exc).__name__}: {exc.message[:120]}"
            except ClientDecodeError:  # its text holds the whole page: never logged
                reason = "the answer was not the Bot API's JSON (an error page from a proxy?)"
            except TelegramAPIError as exc:
                if method != "getMe":  # the menu is a convenience: the bot serves without it
                    log.error("Telegram refused %s (%s); going on without it", method,
                              exc.message[:200])  # fmt: skip
                    return True
                if isinstance(exc, TelegramNotFound):  # what Telegram says to a malformed token
                    raise TelegramRejectedToken(
                        f"the Bot API at {self.settings.telegram_api_url} does not know "
                        "BOT_TOKEN (404 Not Found): check the token from @BotFather and "
                        "TELEGRAM_API_URL"
                    ) from None
                reason = f"{type(exc).__name__}: {exc.message[:120]}"
            log.warning("%s failed at start-up (%s); trying again in %.0f s", method, reason, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), timeout=pause)
            wait = min(wait * 2, longest)
        return False

    # -- the whole run -----------------------------------------------------------------------
    async def run(
        self,
        *,
        stop: asyncio.Event | None = None,
        handle_signals: bool = True,
        polling_timeout: int = 10,
        schedule: bool = True,
        drain_every: float = 2.0,
    ) -> None:
        """Start, poll for updates and check on schedule until SIGINT/SIGTERM (or `stop`)."""
        halt = stop or asyncio.Event()
        self.notifier.stop = halt  # its drain after a check stops between messages too
        loop = asyncio.get_running_loop()
        if handle_signals:
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(number, self._on_signal, number, halt)
        try:
            if await self.start(halt):
                await self._poll(halt, polling_timeout, schedule, drain_every)
        finally:
            if handle_signals:
                for number in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(number)
            await self.bot.session.close()

    @staticmethod
    def _on_signal(number: int, halt: asyncio.Event) -> None:
        log.info("%s: finishing the message in flight, then stopping",
                 signal.Signals(number).name)  # fmt: skip
        halt.set()

    async def _poll(
        self, halt: asyncio.Event, polling_timeout: int, schedule: bool, drain_every: float
    ) -> None:
        tasks: list[asyncio.Task[None]] = []
        watcher: list[asyncio.Task[None]] = []

        async def watch_stop() -> None:
            await halt.wait()
            await self.dispatcher.stop_polling()

        async def on_startup() -> None:
            resumed = self.monitor.state.outbox.resume()
            if resumed:
                log.info("resuming %d message(s) left in the outbox", resumed)
            tasks.append(asyncio.create_task(self.deliver(halt, drain_every)))
            if schedule:
                tasks.append(asyncio.create_task(run_every(
                    self.settings.check_interval, self.tick, clock=self.monitor.clock, stop=halt
                )))  # fmt: skip
            watcher.append(asyncio.create_task(watch_stop()))  # polling runs: it can be stopped

        async def on_shutdown() -> None:
            halt.set()
            # Each task stops between two messages: the one in flight finishes, however long
            # Telegram takes to answer it (within reason); only a stuck one is cut.
            for task in tasks:
                await _finish(task, self.shutdown_grace)

        self.dispatcher.startup.register(on_startup)
        self.dispatcher.shutdown.register(on_shutdown)
        try:
            await self.dispatcher.start_polling(
                self.bot, handle_signals=False, polling_timeout=polling_timeout
            )
        finally:
            for task in watcher:
                task.cancel()


async def _finish(task: asyncio.Task[None], seconds: float) -> None:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        log.warning("a background task did not stop within %g s; cutting it short", seconds)
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("a background task failed while stopping")


async def serve(settings: Settings, monitor: Monitor, **options: object) -> None:
    await BotApp(settings, monitor).run(**options)  # type: ignore[arg-type]


def wall_clock() -> datetime:
    return datetime.now(UTC)


def make_monitor(
    settings: Settings,
    source: Source,
    clock: Callable[[], datetime] = wall_clock,
    state: State | None = None,
) -> Monitor:
    """The bot's Monitor; `state` is the file `alertbot run` opened (exclusive), else it opens
    STATE_PATH itself, also exclusive: one bot per state file."""
    return Monitor(
        source=source,
        catalogue=load_catalogue(settings.catalogue_path),
        state=state if state is not None else State(settings.state_path, exclusive=True),
        settings=settings,
        clock=clock,
    )
