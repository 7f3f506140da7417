"""`alertbot run`: the Telegram bot. Long polling (or a webhook), the command menu, the
background check and the incidents it reports, the HTTP endpoint (/healthz, /metrics), reload
on SIGHUP and /reload. The composition root of the bot: it (with bot/runtime.py, what it
does around the bot) alone builds Bot and Dispatcher.

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
from typing import Any

from aiogram import Dispatcher
from aiogram.exceptions import AiogramError
from aiogram.types import BotCommand

from bot.channels import build_channels
from bot.chat import dependencies, install
from bot.chat.language import default_language
from bot.chat.resend import ResendReplies
from bot.core.commands import COMMANDS
from bot.core.i18n import LANGUAGES, translator
from bot.core.incidents import Policy
from bot.errors import reload_asked_early, stopped_early
from bot.runtime import (
    announce,
    finish,
    listen,
    make_bot,
    make_monitor,
    until_answered,
)
from bot.service.delivery import Delivery
from bot.service.health import Health, HttpServer
from bot.service.monitor import Monitor
from bot.service.notifier import Notifier
from bot.service.ops import ApiErrors, CountedChannel, Ops, QuietRefusals
from bot.service.reload import reload
from bot.service.scheduler import run_every
from bot.settings import Settings, load_settings
from bot.state import StoreError

__all__ = ["BotApp", "make_monitor", "serve"]

log = logging.getLogger(__name__)


class BotApp:
    """The bot, its dispatcher and its notifier around one Monitor."""

    def __init__(self, settings: Settings, monitor: Monitor) -> None:
        self.bot = make_bot(settings)
        self.monitor = monitor
        monitor.warm = True  # a bot: /check's charts drawn right after each check
        self.settings = settings
        self.dispatcher = Dispatcher(**dependencies(monitor, settings), reload=self.reload)
        self.dispatcher.update.outer_middleware(self._live_catalogue)  # first: all see it
        install(self.dispatcher, settings.admin_ids)
        self.ops = Ops(monitor.state)  # metrics in a registry of this bot's own
        # Outermost first: each try of a reply sent again is a call ApiErrors counts.
        self.bot.session.middleware(ResendReplies())
        self.bot.session.middleware(ApiErrors(self.ops))
        secret = settings.alert_webhook_secret
        channels = build_channels(
            self.bot,
            webhook_url=settings.alert_webhook_url,
            webhook_secret=secret.get_secret_value() if secret else None,
        )
        counted = {name: CountedChannel(channel, self.ops) for name, channel in channels.items()}
        self.delivery = Delivery(monitor.state, counted)
        self.notifier = Notifier(
            self.bot,
            monitor,
            monitor.state,
            Policy(repeat=settings.repeat_interval, resolve_after=settings.resolve_after),
            self.delivery,
        )
        self.start_backoff = (1.0, 60.0)  # seconds: first and longest wait between tries
        # Seconds the work in flight gets to finish at a stop, all of it together: within
        # systemd's TimeoutStopSec (30 s in deploy/) and `docker stop --time 30`.
        self.shutdown_grace = 20.0
        self._reported = False
        self.health = Health(self.ops, settings.check_interval, lambda: self.state_problem)
        self.http: HttpServer | None = None  # listening while run() runs (HTTP_PORT 0: never)
        self.read_settings: Callable[[], Settings] = load_settings  # what /reload re-reads
        self._reloads: set[asyncio.Task[str]] = set()

    async def _live_catalogue(self, handler: Callable[..., Awaitable[Any]], event: object,
                              data: dict[str, Any]) -> Any:  # fmt: skip
        """Each update's commands read the catalogue in force: polling hands every update the
        dispatcher's data as it was at start, and /reload replaces the catalogue since."""
        data["catalogue"] = self.monitor.catalogue
        return await handler(event, data)

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
            try:
                report = await self.monitor.check(fresh=True)
            except Exception as exc:
                self.ops.check_failed(exc)  # the scheduler logs it
                raise
            self.ops.checked(report, self.monitor.took)  # a check that read nothing too
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
        stopped first; in webhook mode setWebhook too. Raises TelegramRejectedToken when the
        token is refused, SettingsError when WEBHOOK_URL is."""
        def menu(lang: str) -> list[BotCommand]:
            t = translator(lang)
            return [BotCommand(command=c.name, description=t._(c.what)[:256]) for c in COMMANDS]

        url, secret = self.settings.webhook_url, self.settings.webhook_secret

        async def ask(method: str, call: Callable[[], Awaitable[object]]) -> bool:
            return await until_answered(method, call, halt, settings=self.settings,
                                        backoff=self.start_backoff)  # fmt: skip

        async def menus() -> bool:
            """The menu in LANGUAGE, then one per language for clients set to it (not when
            Telegram refused the first: it would refuse the same commands again)."""
            accepted: list[bool] = []

            async def default() -> None:
                await self.bot.set_my_commands(menu(default_language(self.settings)))
                accepted.append(True)

            if not await ask("setMyCommands", default):
                return False
            if not accepted:
                return True
            for lang in LANGUAGES:
                commands = menu(lang)

                async def localized(commands: list[BotCommand] = commands,
                                    lang: str = lang) -> object:  # fmt: skip
                    return await self.bot.set_my_commands(commands, language_code=lang)

                if not await ask("setMyCommands", localized):
                    return False
            return True

        return (
            await ask("getMe", self.bot.me)
            and await menus()
            and (url is None or await ask("setWebhook", lambda: self.bot.set_webhook(
                url, secret_token=secret.get_secret_value() if secret else None,
                drop_pending_updates=False)))
        )  # fmt: skip

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
        """Start, take updates (polling or webhook) and check on schedule until SIGINT/SIGTERM
        (or `stop`); SIGHUP reloads."""
        halt = stop or asyncio.Event()
        self.notifier.stop = halt  # its drain after a check stops between messages too
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) if handle_signals else ()
        for number in signals:
            loop.add_signal_handler(number, self._on_signal, number, halt)
        try:
            if handle_signals and stopped_early():  # a SIGTERM while it started: exit 0 now
                return
            if handle_signals and reload_asked_early():  # a SIGHUP while it started
                self._on_signal(signal.SIGHUP, halt)
            self.http = await listen(self.settings, self.health, self.dispatcher, self.bot)
            announce(self.settings, self.monitor)
            if await self.start(halt):
                self._lifecycle(halt, schedule, drain_every)
                if self.settings.webhook_url:
                    await self._serve_webhook(halt)
                else:
                    await self._poll(halt, polling_timeout)
        finally:
            for number in signals:
                loop.remove_signal_handler(number)
            if self.http is not None:
                await self.http.stop()
            await self.bot.session.close()

    def _on_signal(self, number: int, halt: asyncio.Event) -> None:
        if number == signal.SIGHUP:
            task = asyncio.create_task(self.reload())
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)
            return
        log.info("%s: finishing the message in flight, then stopping",
                 signal.Signals(number).name)  # fmt: skip
        halt.set()

    async def reload(self) -> str:
        """SIGHUP and /reload: the catalogue and the settings safe to change (bot/service/
        reload.py), validated first; returns what happened."""
        lines = await reload(self.monitor, self.notifier, self.read_settings)
        return "\n".join(lines)

    def _lifecycle(self, halt: asyncio.Event, schedule: bool, drain_every: float) -> None:
        """What runs beside the updates: the outbox drain and the scheduled check, started
        when the dispatcher starts and finished, between two messages, when it stops."""
        tasks: list[asyncio.Task[None]] = []

        async def on_startup() -> None:
            self.delivery.resume()
            tasks.append(asyncio.create_task(self.deliver(halt, drain_every)))
            if schedule:
                tasks.append(asyncio.create_task(run_every(
                    self.settings.check_interval, self.tick, clock=self.monitor.clock, stop=halt
                )))  # fmt: skip

        async def on_shutdown() -> None:
            halt.set()
            # Each task stops between two messages: the one in flight finishes, however long
            # Telegram takes to answer it (within reason); only a stuck one is cut.
            loop = asyncio.get_running_loop()
            ends = loop.time() + self.shutdown_grace  # one deadline for all: they add up
            for task in tasks:
                await finish(task, max(ends - loop.time(), 0.0))

        self.dispatcher.startup.register(on_startup)
        self.dispatcher.shutdown.register(on_shutdown)

    async def _serve_webhook(self, halt: asyncio.Event) -> None:
        data = {"dispatcher": self.dispatcher, "bots": [self.bot], "bot": self.bot,
                **self.dispatcher.workflow_data}  # fmt: skip
        await self.dispatcher.emit_startup(**data)
        try:
            await halt.wait()
        finally:
            await self.dispatcher.emit_shutdown(**data)

    async def _poll(self, halt: asyncio.Event, polling_timeout: int) -> None:
        watcher: list[asyncio.Task[None]] = []

        async def watch_stop() -> None:
            await halt.wait()
            await self.dispatcher.stop_polling()

        async def on_startup() -> None:  # polling runs: it can be stopped
            watcher.append(asyncio.create_task(watch_stop()))

        self.dispatcher.startup.register(on_startup)
        quiet = QuietRefusals(self.ops)  # a refused token said once, not every 5 s
        logging.getLogger("aiogram.dispatcher").addFilter(quiet)
        try:
            await self.dispatcher.start_polling(
                self.bot, handle_signals=False, polling_timeout=polling_timeout
            )
        finally:
            logging.getLogger("aiogram.dispatcher").removeFilter(quiet)
            for task in watcher:
                task.cancel()


async def serve(settings: Settings, monitor: Monitor, **options: object) -> None:
    await BotApp(settings, monitor).run(**options)  # type: ignore[arg-type]
