"""The bot's exceptions, where each lives, and what happens to it (httpx style).

    SettingsError (bot.settings)     a variable in env/.env is wrong      exit 2, names it
    CatalogueError (queries)         the metric catalogue is wrong        exit 2
    UsageError (bot.cli)             bad command-line arguments           exit 2, says the usage
    UsageError (bot.chat.errors)     bad command arguments in a chat      answered with the usage
    any other error in a handler     our bug                              logged, one sentence
                                                                          to the user, serving on
    StoreError (bot.state)           the state file cannot be used        exit 2
    +-- StateLocked                  another `alertbot run` holds it      exit 2: stop it, or
    |                                                                     another STATE_PATH
    +-- StateCorrupt                 not SQLite / damaged pages           at open: exit 2, "mv X
    |                                                                     X.broken"; running: as
    |                                                                     StateLost
    +-- StateLost                    deleted, emptied or replaced while   checks stop, ERROR
                                     running (Database.verify())          logged and operators
                                                                          told once, never
                                                                          recreated
    TelegramRejectedToken (here)     401 (or 404) on getMe at start-up    exit 2 naming BOT_TOKEN
    SIGTERM while `alertbot run` starts (stop_on_early_sigterm): noted, exit 0 once it has started
    SIGHUP while `alertbot run` starts (the same): noted, a reload once it has started
    aiogram at start-up: TelegramNetworkError, TelegramServerError (5xx), ClientDecodeError (an
        HTML page from a proxy), TelegramRetryAfter: retried with backoff 1, 2, 4 ... 60 s until
        stopped, a WARNING each with a short reason (getMe's other 4xx too); setMyCommands'
        other 4xx: logged, the bot serves without its menu
    aiogram while sending (bot.service.delivery): a typed outcome per message: retry later,
        wait retry_after, chat gone, rejected (plain-text fallback)
    aiogram while replying (bot.chat.resend): 5xx, network, a proxy's page: sent again after
        0.5 and 1.5 s, then the apology; 429: sent after retry_after, up to 30 s of waits in
        all, else dropped with a WARNING (no apology: it would be refused too)
    SourceError (queries.errors)     getting numbers failed               `check`: exit 1; the
    +-- SourceUnavailable            unreachable, timed out               bot: /status shows it,
    |   |                                                                 the next check retries
    |   +-- SourceSilent             nothing back: no answer in time,     the tables after it in
    |   |                            or no connection                     that check not asked
    |   +-- SourceNotAnswering       a command's time budget ran out      the chat is told the
    |       (bot.service.monitor)    with no earlier check to show        source hangs
    +-- SourceMisconfigured          credentials, database, table         exit 2 (`check`)
    +-- QueryFailed                  our SQL or their answer is broken    exit 1

The CLI decides the exit code by the type, never by the message. Every message is a sentence
meant for the operator; none holds a secret (logs pass through bot.logs.SecretFilter).
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

__all__ = ["TelegramRejectedToken", "reload_asked_early", "stop_on_early_sigterm", "stopped_early",
           "usage_errors"]


class TelegramRejectedToken(Exception):
    """The Bot API refused BOT_TOKEN: retrying will not help, the setting must change."""



_EARLY: list[str] = []  # the stop signals noted before bot/app.py took them over
_RELOAD: list[bool] = []  # a SIGHUP noted then


def stop_on_early_sigterm() -> None:
    """Until bot/app.py installs its handlers, SIGTERM (a redeploy, `docker stop`, systemd)
    is noted instead of killing the process: BotApp.run, once it has the signals, stops at
    once with exit 0, as a SIGTERM a moment later would. SIGHUP (a reload asked right after a
    restart) is noted too, and BotApp.run reloads once it has started: by default it ended
    the process, which systemd's Restart=on-failure does not restart. Only noted: an
    exception raised from the handler can land inside an import's extension code
    (pydantic's) and come out as another error."""

    def note(number: int, frame: FrameType | None) -> None:
        if number == signal.SIGHUP:
            _RELOAD.append(True)
        else:
            _EARLY.append(signal.Signals(number).name)

    signal.signal(signal.SIGTERM, note)
    signal.signal(signal.SIGHUP, note)


def reload_asked_early() -> bool:
    """Whether a SIGHUP came during the start-up (logged here, once)."""
    if not _RELOAD:
        return False
    _RELOAD.clear()
    logging.getLogger("bot.app").info("SIGHUP before the bot had started: reloading now")
    return True


def stopped_early() -> bool:
    """Whether a SIGTERM came during the start-up (logged here, once)."""
    if _EARLY and _EARLY[0]:
        logging.getLogger("bot.app").info("%s before the bot had started: stopped", _EARLY[0])
        _EARLY[0] = ""
    return bool(_EARLY)


def usage_errors() -> tuple[type[BaseException], ...]:
    """The command line's errors by type, never by message (the tree above): what the user
    must fix exits 2, what may pass if tried again later (an unreachable or slow source) 1."""
    from bot.console import UsageError
    from bot.settings import SettingsError
    from bot.state import StoreError
    from queries.catalogue import CatalogueError
    from queries.errors import SourceMisconfigured

    return (SettingsError, UsageError, CatalogueError, SourceMisconfigured, StoreError,
            TelegramRejectedToken)  # fmt: skip
