"""/start, /help, /metrics, /status, and the answer to anything the bot does not know."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import CommandStart
from aiogram.types import Message

from bot.chat.access import alert_chats
from bot.chat.guard import Said, command_filter, command_of, stopped_text, visible
from bot.chat.language import IN_A_SENTENCE
from bot.chat.reply import answer_all
from bot.core.commands import COMMANDS, example, help_text, span, usage
from bot.core.drops import telegram_said
from bot.core.formatting import day_time, localized, metric_title, titled_name
from bot.core.i18n import Translator
from bot.core.problems import problem_of
from bot.core.reasons import source_text
from bot.core.text import clipped
from bot.core.wording import e, late_line
from bot.service.monitor import Monitor
from bot.service.scheduler import next_tick
from bot.settings import Settings
from bot.state import State, StoreError
from queries.catalogue import Catalogue

__all__ = ["build", "build_fallback", "metrics_text"]


def _is_admin(message: Message, settings: Settings) -> bool:
    return message.from_user is not None and message.from_user.id in settings.admin_ids


def _alerts_here(chat: int, store: State, settings: Settings) -> str:
    """Which alerts `chat` gets, as the notifier decides: 'all', 'some' or 'none' ('alone'
    where no ALERT_CHAT_IDS are set: only chats that subscribe get alerts)."""
    if chat in alert_chats(store, settings):
        return "all"
    none = "none" if settings.alert_chat_ids else "alone"
    try:
        return "some" if store.subscriptions.of_chat(chat) else none
    except StoreError:
        return none


async def start(
    message: Message, *, settings: Settings, catalogue: Catalogue, store: State, t: Translator,
) -> None:  # fmt: skip
    text = help_text(catalogue, t, is_admin=_is_admin(message, settings),
                     every=settings.check_interval,
                     gets=_alerts_here(message.chat.id, store, settings))  # fmt: skip
    chat = f"<code>{message.chat.id}</code>"
    if message.sender_chat is not None or message.from_user is None:
        # Written as the group or a channel: the sender is Telegram's stand-in
        # (GroupAnonymousBot), whose id in ADMIN_IDS would make every anonymous writer an admin.
        text += "\n\n" + t._(
            "This chat's id: {chat} (for ALERT_CHAT_IDS). You wrote anonymously, so Telegram "
            "does not tell me your user id: send me /start in a private chat to see it (for "
            "ADMIN_IDS).", chat=chat)  # fmt: skip
    else:
        text += "\n\n" + t._(
            "This chat's id: {chat} (for ALERT_CHAT_IDS); your user id: {user} (for ADMIN_IDS).",
            chat=chat, user=f"<code>{message.from_user.id}</code>")  # fmt: skip
    await answer_all(message, text)


def metrics_text(catalogue: Catalogue, t: Translator) -> str:
    lines = [t._("<b>Metrics</b>")]
    for m in catalogue.metrics.values():
        slices = ", ".join(m.slices) or "—"
        lines.append(t._("{name} — {title}; slices: {slices}", name=f"<code>{e(m.name)}</code>",
                         title=e(metric_title(m, t)), slices=e(slices)))  # fmt: skip
    lines.append("\n" + t._("One metric now, with its chart: {usage}, e.g. {example}",
                            usage=usage("metric", t),
                            example=example("metric", list(catalogue.metrics))))
    return "\n".join(lines)


async def metrics(message: Message, *, catalogue: Catalogue, t: Translator) -> None:
    await answer_all(message, metrics_text(catalogue, t))


def _last_check(checks: Monitor, store: State, settings: Settings, t: Translator) -> str:
    last = store.journal.last_check()  # a check that read nothing is not recorded as one
    if last is None:
        return t._("no check has finished yet")
    took = checks.last_duration
    found = (t.ngettext("{n} series", "{n} series", last.series) + ", "
             + t.ngettext("{n} anomaly", "{n} anomalies", last.anomalies))  # fmt: skip
    when = f"{last.finished.astimezone(settings.zone):%Y-%m-%d %H:%M:%S} {e(settings.zone.key)}"
    if checks.failed_at is not None:  # the latest failed: these figures are from an earlier one
        if took is None:
            return t._("last successful check {when}: {found}", when=when, found=found)
        return t._("last successful check {when}, took {took} s: {found}", when=when,
                   took=localized(f"{took:.1f}", t), found=found)  # fmt: skip
    if took is None:
        return t._("last check {when}: {found}", when=when, found=found)
    return t._("last check {when}, took {took} s: {found}", when=when,
               took=localized(f"{took:.1f}", t),
               found=found)  # fmt: skip


def _dropped(store: State, now: datetime, t: Translator, *, named: bool) -> list[str]:
    """The messages given up on in the last 24 h (a chat that removed the bot loses all of
    its queue at once): none, or one line; by chat, with Telegram's words, when `named` (for
    an admin: who blocked the bot is no one else's business)."""
    dropped = store.outbox.dropped(now - timedelta(days=1))
    if not dropped:
        return []
    if not named:
        n = sum(d.count for d in dropped)
        return [t.ngettext("⚠️ {n} message dropped in the last 24 h, never to be sent (an "
                           "admin's /status names the chats)",
                           "⚠️ {n} messages dropped in the last 24 h, never to be sent (an "
                           "admin's /status names the chats)", n)]  # fmt: skip
    chats = "; ".join(f"{d.chat_id if d.channel == 'telegram' else e(d.channel)}: "
                      f"{e(telegram_said(d.reason)[:100])}" for d in dropped[:5])  # fmt: skip
    n = sum(d.count for d in dropped)
    return [t.ngettext("⚠️ {n} message dropped in the last 24 h, never to be sent ({chats})",
                       "⚠️ {n} messages dropped in the last 24 h, never to be sent ({chats})",
                       n, chats=chats)]  # fmt: skip


def _gets(message: Message, store: State, settings: Settings, catalogue: Catalogue,
          t: Translator) -> str:  # fmt: skip
    """Which alerts this chat gets, as the notifier decides: alert chats get every one."""
    subs = store.subscriptions.of_chat(message.chat.id)
    names = ", ".join(titled_name(s, catalogue, t) for s in subs)
    if message.chat.id in alert_chats(store, settings):
        return t._("this chat gets every alert (it is an alert chat, ALERT_CHAT_IDS)")
    if "*" in subs:
        return t._("this chat gets alerts for every metric (/unsubscribe to stop)")
    if subs:
        return t._("this chat gets alerts for: {metrics}; /unsubscribe to stop", metrics=names)
    return t._("this chat gets no alerts (/subscribe to get them)")


async def status(
    message: Message, *, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue, clock: Callable[[], datetime], t: Translator, scheduled: bool = True,
) -> None:  # fmt: skip
    """/status; `scheduled` False in `alertbot chat`, where no check runs by the clock."""
    zone = settings.zone
    now = clock()
    interval = settings.check_interval
    lines = [t._("<b>Status</b>")]
    if store.problem is not None:
        lines.append(stopped_text(store.problem, t))
    lines.append(_last_check(checks, store, settings, t))
    shape = "%H:%M:%S" if interval.seconds % 60 else "%H:%M"  # 30s: to the second
    lines.append(t._("next check {time} (every {every})",
                     time=next_tick(now, interval).astimezone(zone).strftime(shape),
                     every=span(t, interval)) if scheduled else
                 t._("no check by the clock here: each command checks the newest interval (the "
                     "bot checks every {every})", every=span(t, interval)))  # fmt: skip
    failed = checks.failed_at  # the latest check did not finish: say so, and say why
    at = "" if failed is None else f"{failed.astimezone(zone):%H:%M:%S} {e(zone.key)}"
    if failed is not None and checks.last_error:
        lines.append(t._("⚠️ the check at {time} failed on the source (below)", time=at))
    elif failed is not None:
        lines.append(t._("⚠️ the check at {time} failed on the bot's side; the details are in "
                         "the bot's log", time=at))  # fmt: skip
    source = e(source_text(checks.source.describe(), t))
    if checks.last_error:  # the source named once: its own errors begin with its name
        error = problem_of(checks.source.describe(), checks.last_error, t)
        lines.append(t._("source: {source} — ⚠️ {error}", source=source,
                         error=e(error[:300])))  # fmt: skip
    elif failed is not None:  # failed on something else: whether it answered is not known
        lines.append(t._("source: {source}", source=source))
    elif checks.last_report is None:  # nothing asked of it yet: no claim either way
        lines.append(t._("source: {source} — not checked yet", source=source))
    else:
        lines.append(t._("source: {source} — reachable", source=source))
    latest = checks.last_report  # no new computation for /status
    if latest is not None and failed is None:  # the latest check read the data it speaks of
        # Complete up to the first interval of a table whose data is late, not past it.
        end = min([latest[0].window_end, *(late.bucket.to_pydatetime()
                                           for late in latest[0].late.values())])  # fmt: skip
        lag = max(now - end.astimezone(now.tzinfo), timedelta(0))
        # Not "delay allowed 2 min" beside "10 minutes ago": that read as a breach, while an
        # interval is complete only once it ended and DATA_DELAY passed.
        lines.append(t._("data complete up to {time} ({ago} ago; an interval counts {delay} "
                         "after it ends)",
                         time=f"{end.astimezone(zone):%H:%M}",
                         ago=span(t, lag if lag < timedelta(minutes=1)
                                  else timedelta(minutes=lag // timedelta(minutes=1))),
                         delay=span(t, settings.data_delay)))  # fmt: skip
        lines += [late_line(late, zone, t) for late in latest[0].late.values()]
    if store.problem is None:
        errors = store.journal.delivery_errors(now - timedelta(days=1))
        lines.append(t._("delivery errors in the last 24 h: {n}", n=errors))
        # Named in an admin's private chat only: a group would show them to all its members.
        admin = message.from_user is not None and message.from_user.id in settings.admin_ids
        lines += _dropped(store, now, t, named=admin and message.chat.type == "private")
        mutes = store.mutes.active(now)  # every metric's mute is "*"
        every_metric = t._("everything")
        muted = [t._("{metric} until {until}", metric=every_metric if m.metric == "*"
                     else titled_name(m.metric, catalogue, t), until=day_time(m.until, zone, t))
                 for m in mutes]  # fmt: skip
        if muted:  # the zone once, after the list
            lines.append(t._("muted: {mutes}", mutes=", ".join(muted)) + f" ({e(zone.key)})")
        lines.append(_gets(message, store, settings, catalogue, t))
    lines.append(t._("language: {language} (/lang to change)", language=IN_A_SENTENCE[t.lang]))
    await answer_all(message, "\n".join(lines))


KNOWN = {c.name for c in COMMANDS}  # what a pasted command may have been


async def _to_me(message: Message) -> Said | None:
    """The command the message starts with, unless it is for another bot in a group (a
    private chat has no other); None for people's talk."""
    said = await command_of(message)
    if said is None or (said.elsewhere and message.chat.type != "private"):
        return None
    return said


async def unknown_command(message: Message, t: Translator) -> None:
    said = await _to_me(message)
    if said is None:
        return
    word = e(clipped(said.word))
    if said.hidden and said.name in KNOWN:  # "I don't know /status" would hide why
        await message.answer(t._("{command} came with an invisible character ({codes}), pasted "
                                 "along with it perhaps: type {command} again by hand.",
                                 command=word, codes=", ".join(said.hidden)))  # fmt: skip
        return
    await message.answer(t._("I don't know {command}. Send /help for the commands.",
                             command=word))  # fmt: skip


async def not_run(message: Message, t: Translator) -> None:
    """An edited command (Telegram sends the edit, which is not run again) or a command posted
    in a channel (no one to answer to): saying so beats silence, where whoever fixed
    `/mute veiws 2h` by editing it believes views muted."""
    said = await _to_me(message)
    if said is None:
        return
    word = e(clipped(said.word))
    if message.chat.type == "channel":
        await message.answer(t._("I don't take commands in a channel: send {command} to me in a "
                                 "private chat or a group.", command=word))  # fmt: skip
        return
    await message.reply(t._("I don't run edited commands: send {command} again as a new "
                            "message.", command=word))  # fmt: skip


async def not_a_command(message: Message, t: Translator) -> None:
    """Only in a private chat: in a group, people talk to each other, not to the bot."""
    await message.answer(t._("I answer commands: send /help for the list."))


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(start, CommandStart(ignore_case=True))
    router.message.register(start, command_filter("help"))
    router.message.register(metrics, command_filter("metrics"))
    router.message.register(status, command_filter("status"))
    return router


def build_fallback() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    fallback = Router(name="fallback")
    fallback.message.register(unknown_command, F.text.func(lambda text: visible(text)
                                                            .startswith("/")))  # fmt: skip
    fallback.message.register(not_a_command, F.chat.type == "private")
    fallback.edited_message.register(not_run)
    fallback.channel_post.register(not_run)
    return fallback
