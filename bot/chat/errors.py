"""Every command answers: bad arguments get what was wrong and the correct usage; a source
that hangs gets a sentence saying so."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.chat.reply import why_not_sent
from bot.chat.resend import ON_THE_WAY
from bot.core.commands import example, usage
from bot.core.i18n import Translator, translator
from bot.core.problems import problem_of
from bot.core.reasons import source_text
from bot.core.text import clipped
from bot.core.wording import e
from bot.service.monitor import Monitor, SourceNotAnswering
from bot.settings import Settings
from bot.state import State
from queries.errors import QueryFailed, SourceError, SourceMisconfigured

__all__ = ["UsageError", "build", "cannot_check", "not_answering", "source_problem",
           "usage_text"]

log = logging.getLogger(__name__)


PROBLEM_MAX = 700  # characters of a usage error's problem shown (see usage_text)


class UsageError(Exception):
    """A command with wrong arguments: the reply says what was wrong and how to write it."""

    def __init__(self, problem: str, command: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.command = command


def usage_text(t: Translator, problem: str, command: str, names: Sequence[str] = ()) -> str:
    """The problem (plain text), the command's exact syntax and an example to copy (with one
    of `names`, the catalogue's metrics)."""
    # However much of what was typed a problem repeats, the reply stays within Telegram's
    # 4096 characters (escaped, 700 characters are at most 3500): a refusal too long to send
    # left the sender with silence.
    problem = clipped(problem, PROBLEM_MAX)
    text = f"{e(problem)}\n" + t._("Usage: {usage}", usage=f"<code>{e(usage(command, t))}</code>")
    sample = example(command, names)
    if sample:
        text += "\n" + t._("For example: {example}", example=f"<code>{e(sample)}</code>")
    return text


async def on_usage_error(event: ErrorEvent, t: Translator | None = None,
                         checks: Monitor | None = None) -> None:  # fmt: skip
    error = event.exception
    assert isinstance(error, UsageError)
    target = event.update.message
    names = list(checks.catalogue.metrics) if checks is not None else []
    if target is not None:
        await target.answer(usage_text(t or translator(), error.problem, error.command, names))


def source_problem(source: str, problem: str, t: Translator) -> str:
    """'<source>: <problem>' (HTML), both in the chat's words and the source named once: a
    source's own errors begin with its description."""
    return f"{e(source_text(source, t))}: {e(problem_of(source, problem, t))}"


def not_answering(error: SourceNotAnswering, store: State, zone: ZoneInfo, t: Translator) -> str:
    last = store.journal.last_check()
    when = (t._("the last check is from {when}",
                when=f"{last.finished.astimezone(zone):%Y-%m-%d %H:%M}")
            if last is not None else t._("no check has finished yet"))  # fmt: skip
    source = source_problem(error.source, error.problem, t)
    if error.misconfigured:  # it answered, and trying again will not help
        return t._("⚠️ The source is set up wrong ({source}); {when}. Fix what it names: the "
                   "next check tries again; /status shows more.", source=source,
                   when=when)  # fmt: skip
    return t._("⚠️ The source is slow or not answering ({source}); {when}. Try again in a "
               "minute; /status shows more.", source=source, when=when)  # fmt: skip


async def on_source_not_answering(
    event: ErrorEvent, store: State, settings: Settings, t: Translator | None = None,
) -> None:  # fmt: skip
    """A command that needs a check while the source hangs, with no earlier one to show."""
    error = event.exception
    assert isinstance(error, SourceNotAnswering)
    target = event.update.message
    if target is not None:
        await target.answer(not_answering(error, store, settings.zone, t or translator()))


def cannot_check(metric: str, source: str, problem: str, failure: Exception | None,
                 t: Translator) -> str:  # fmt: skip
    """Why `metric` (HTML) has no result: its table could not be read by the last check
    (`problem`, the exception `failure` where kept), and what to do about it."""
    said = source_problem(source, problem, t)
    if isinstance(failure, SourceMisconfigured):  # trying again will not help
        return t._("⚠️ Cannot check {metric} now: the source is set up wrong ({source}). Fix "
                   "what it names, then try again; /status shows more.", metric=metric,
                   source=said)  # fmt: skip
    if isinstance(failure, QueryFailed):
        return t._("⚠️ Cannot check {metric} now: the source's answer could not be used "
                   "({source}). /status shows more.", metric=metric, source=said)
    return t._("⚠️ Cannot check {metric} now: the source could not be read ({source}). Try "
               "again in a minute; /status shows more.", metric=metric, source=said)


async def on_source_error(event: ErrorEvent, checks: Monitor, t: Translator | None = None
                          ) -> None:  # fmt: skip
    """A command whose numbers the source could not give (a replay of a table the checks
    cannot read): the source's own sentence, in the chat's words, not "failed on my side"."""
    error, t = event.exception, t or translator()
    target = event.update.message
    if target is None:
        return
    source = source_problem(checks.source.describe(), str(error), t)
    if isinstance(error, SourceMisconfigured):
        await target.answer(t._("⚠️ The source is set up wrong ({source}). Fix what it names, "
                                "then try again; /status shows more.", source=source))
    elif isinstance(error, QueryFailed):  # a query it rejected, an answer that is no table
        await target.answer(t._("⚠️ The source's answer could not be used ({source}). "
                                "/status shows more.", source=source))
    else:  # unreachable, or nothing fetched of that table yet
        await target.answer(t._("⚠️ The source could not be read ({source}). Try again in a "
                                "minute; /status shows more.", source=source))


async def on_any_error(event: ErrorEvent, t: Translator | None = None) -> None:
    """Our bug or a failed send: say so in one sentence, keep serving, log the details. The
    exception's text never reaches the chat: it can hold anything, a proxy's error page with
    the bot's token in a URL included."""
    error = event.exception
    if isinstance(error, TelegramForbiddenError):
        # Blocked by the user, or no longer in the group: an apology would be refused too.
        update = event.update
        where = update.message or (update.callback_query and update.callback_query.message)
        log.warning("a reply to chat %s was not sent: Telegram refused it (%s); the bot is "
                    "blocked there or no longer in that chat", where.chat.id if where else "?",
                    why_not_sent(error))  # fmt: skip
        return
    if isinstance(error, TelegramRetryAfter):
        # Flood control longer than a reply waits (bot.chat.resend): an apology now would be
        # refused as well.
        log.warning("a reply was not sent: %s; the user can ask again then",
                    why_not_sent(error))  # fmt: skip
        return
    if isinstance(error, ON_THE_WAY):
        # A reply lost on the way (a proxy's error page, Telegram down): nothing of ours to
        # debug, and the page can be long and hold anything: one line, as the outbox logs it.
        log.warning("a reply was not sent (%s): Telegram or a proxy before it failed; the "
                    "user is asked to try again", type(error).__name__)  # fmt: skip
    else:
        log.error("while handling an update: %s", type(error).__name__, exc_info=error)
    target = event.update.message
    if target is not None:
        await target.answer((t or translator())._(
            "Sorry, that failed on my side; the details are in the bot's log. The bot keeps "
            "running: try again in a minute, /status shows the source and the last check."
        ))


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.errors.register(on_usage_error, ExceptionTypeFilter(UsageError))
    router.errors.register(on_source_not_answering, ExceptionTypeFilter(SourceNotAnswering))
    router.errors.register(on_source_error, ExceptionTypeFilter(SourceError))
    router.errors.register(on_any_error)
    return router
