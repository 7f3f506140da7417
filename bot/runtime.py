"""What `alertbot run` does around the bot (bot/app.py): start-up calls retried until Telegram
answers, the start-up log line, the HTTP endpoint with the webhook on it, background tasks
finished at a stop. Composition-level, like bot/app.py: it may import any layer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

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
from aiogram.types import Update
from aiogram.utils.token import TokenValidationError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.core.commands import span
from bot.core.i18n import translator
from bot.core.zones import clock_hint
from bot.errors import TelegramRejectedToken
from bot.service.health import Health, HttpServer
from bot.service.monitor import Monitor
from bot.settings import Settings, SettingsError
from bot.state import State
from queries.catalogue import load_catalogue
from queries.sources import Source, safe_url

__all__ = ["REJECTED", "announce", "finish", "listen", "make_bot", "make_monitor",
           "token_accepted", "until_answered", "wall_clock"]  # fmt: skip

log = logging.getLogger("bot.app")

REJECTED = "Telegram rejected BOT_TOKEN (401 Unauthorized): check the token from @BotFather"


def unknown_token(settings: Settings) -> str:
    """What a 404 to getMe means: a malformed token, or an address that is no Bot API."""
    return (f"the Bot API at {settings.telegram_api_url} does not know BOT_TOKEN (404 Not "
            "Found): check the token from @BotFather and TELEGRAM_API_URL")  # fmt: skip


async def token_accepted(bot: Bot, settings: Settings) -> None:
    """One getMe before a run that sends and stops (`check --notify`): a token Telegram refuses
    (401, or 404 for a malformed one) raises TelegramRejectedToken, as at the bot's start-up,
    instead of every message waiting for a retry that can never succeed. Anything transient
    (no network, a 5xx, a proxy's page, a timeout) is left to the outbox's retries."""
    try:
        await bot.get_me(request_timeout=15)
    except TelegramUnauthorizedError:
        raise TelegramRejectedToken(REJECTED) from None
    except TelegramNotFound:
        raise TelegramRejectedToken(unknown_token(settings)) from None
    except (AiogramError, TimeoutError) as exc:
        log.warning("getMe failed (%s); sending all the same", type(exc).__name__)


async def until_answered(
    method: str,
    call: Callable[[], Awaitable[object]],
    halt: asyncio.Event,
    *,
    settings: Settings,
    backoff: tuple[float, float],
) -> bool:
    """Call until Telegram answers (True) or `halt` is set (False), transient errors retried
    with backoff. A refused token raises TelegramRejectedToken, a refused webhook
    SettingsError; a refused menu is logged and the bot goes on without it."""
    wait, longest = backoff
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
            if method == "setWebhook":  # no update would ever arrive
                raise SettingsError(f"Telegram refused WEBHOOK_URL={settings.webhook_url} "
                                    f"({exc.message[:200]}): it must be a public https URL"
                                    ) from None  # fmt: skip
            if method != "getMe":  # the menu is a convenience: the bot serves without it
                log.error("Telegram refused %s (%s); going on without it", method,
                          exc.message[:200])  # fmt: skip
                return True
            if isinstance(exc, TelegramNotFound):  # what Telegram says to a malformed token
                raise TelegramRejectedToken(unknown_token(settings)) from None
            reason = f"{type(exc).__name__}: {exc.message[:120]}"
        log.warning("%s at %s failed at start-up (%s); trying again in %.0f s; no check runs "
                    "until Telegram answers (TELEGRAM_API_URL)", method,
                    safe_url(settings.telegram_api_url), reason, pause)  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(halt.wait(), timeout=pause)
        wait = min(wait * 2, longest)
    return False


def announce(settings: Settings, monitor: Monitor) -> None:
    """The start-up line: what runs, against what, how often, for whom."""
    s, last = settings, monitor.state.journal.last_check()
    try:
        ours = version("metric-alertbot")
    except PackageNotFoundError:
        ours = "unknown"
    series = f"{last.series} series at the last check" if last else "series not known yet"
    mode = f"webhook {s.webhook_url}" if s.webhook_url else "long polling"
    chats = ",".join(map(str, s.alert_chat_ids)) or "none (only chats that /subscribe get alerts)"
    log.info("alertbot %s starting: source %s, %d metrics, %s, checks every %s, alert chats %s, "
             "%s", ours, monitor.source.describe(), len(monitor.catalogue.metrics), series,
             span(translator("en"), s.check_interval), chats, mode)  # fmt: skip
    hint = clock_hint(monitor.catalogue, s.timezone)
    if hint:
        log.warning("%s", hint)


class CheckedUpdates(SimpleRequestHandler):
    """The webhook: a body with the secret that is not a Telegram update is answered 400 (a
    body that is not JSON got 500; JSON that is no update got 200, and its error surfaced in
    the log as a task exception nobody retrieved)."""

    async def handle(self, request: web.Request) -> web.Response:
        said = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if self.verify_secret(said, self.bot):  # else the base answers 401, reading nothing
            try:
                Update.model_validate(await request.json(), context={"bot": self.bot})
            except ValueError:  # not JSON, or not an update (pydantic's error is one too)
                return web.Response(body="Bad Request: not a Telegram update", status=400)
        return await super().handle(request)


async def listen(
    settings: Settings, health: Health, dispatcher: Dispatcher, bot: Bot
) -> HttpServer | None:
    """The HTTP endpoint, with the webhook on it in webhook mode. A port that is taken stops a
    webhook bot (SettingsError: no update would arrive); a polling bot logs it and alerts all
    the same. None when HTTP_PORT is 0 or the port is taken."""
    s = settings
    if s.webhook_url and s.webhook_secret is None:
        raise SettingsError(
            "WEBHOOK_URL is set without WEBHOOK_SECRET: anyone who finds the URL could send the "
            "bot commands as an admin. Set WEBHOOK_SECRET (letters, digits, _ and -), or unset "
            "WEBHOOK_URL for long polling"
        )
    if s.http_port == 0:
        if s.webhook_url:
            raise SettingsError("WEBHOOK_URL needs the HTTP server: set HTTP_PORT (it is 0)")
        return None

    def webhook(app: web.Application) -> None:
        assert s.webhook_url is not None
        secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None
        handler = CheckedUpdates(dispatcher, bot, secret_token=secret)
        handler.register(app, path=urlsplit(s.webhook_url).path or "/")

    server = HttpServer(s.http_host, s.http_port, health, webhook if s.webhook_url else None)
    try:
        await server.start()
    except OSError as exc:
        where = f"HTTP_HOST={s.http_host} HTTP_PORT={s.http_port}"
        if s.webhook_url:
            raise SettingsError(f"{where}: cannot listen ({exc.strerror or exc})") from None
        log.error("%s: cannot listen (%s): no /healthz or /metrics", where, exc.strerror or exc)
        return None
    return server


async def finish(task: asyncio.Task[None], seconds: float) -> None:
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


def make_bot(settings: Settings) -> Bot:
    """The Bot for BOT_TOKEN at TELEGRAM_API_URL, HTML by default; TelegramRejectedToken when
    the token is not shaped like one."""
    assert settings.bot_token is not None
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    try:
        return Bot(
            settings.bot_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(parse_mode=ParseMode.HTML),
        )
    except TokenValidationError:
        token = settings.bot_token.get_secret_value()
        spaced = "; it has a space in it (kept where it was copied): remove it" \
            if any(c.isspace() for c in token) else ""  # fmt: skip
        raise TelegramRejectedToken(
            "BOT_TOKEN is not a bot token (expected digits, a colon, then letters, as "
            f"@BotFather gives it): check the token from @BotFather{spaced}"
        ) from None


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
