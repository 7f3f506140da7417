"""What a /set would have done: its replay of the last days, old value against new, in one
sentence (bot/chat/admin.py sends it)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.core.formatting import day_time
from bot.core.i18n import Translator
from bot.service.answers import SetResult
from bot.service.backtesting import fewer_than_asked

__all__ = ["replayed"]


def replayed(result: SetResult, zone: ZoneInfo, t: Translator) -> str:
    """What the change would have done over the replayed days, in one sentence: since where
    the data begins where it holds fewer days (by over an hour), as /backtest says it."""
    before, after, span = result.alerts_before, result.alerts_after, result.span
    days = t.ngettext("{n} day", "{n} days", result.days)
    if span is None:
        return t._("There is no data in the last {days} to replay it on.", days=days)
    if fewer_than_asked(result.days, (span[1] - span[0]) / timedelta(days=1)):
        since = f"{day_time(span[0], zone, t)} {zone.key}"
        if before == after == 0:
            return t._("Since {time}, where the data begins, this would have raised no alert, "
                       "nor did the old value.", time=since)
        if before == after:
            return t.ngettext("Since {time}, where the data begins, this would have raised the "
                              "same {n} alert.", "Since {time}, where the data begins, this "
                              "would have raised the same {n} alerts.", after, time=since)
        return t._("Since {time}, where the data begins, this would have raised {after} "
                   "instead of {before} ({change}).", time=since,
                   after=t.ngettext("{n} alert", "{n} alerts", after), before=before,
                   change=f"{after - before:+d}")  # fmt: skip
    if before == after == 0:
        return t._("Over the last {days} this would have raised no alert, nor did the old value.",
                   days=days)
    if before == after:
        return t.ngettext("Over the last {days} this would have raised the same {n} alert.",
                          "Over the last {days} this would have raised the same {n} alerts.",
                          after, days=days)  # fmt: skip
    return t._("Over the last {days} this would have raised {after} instead of {before} "
               "({change}).", days=days, after=t.ngettext("{n} alert", "{n} alerts", after),
               before=before, change=f"{after - before:+d}")  # fmt: skip
