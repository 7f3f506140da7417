"""/check, /metric, /history, /backtest, and the "show" button of an alert."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.chat.errors import UsageError, cannot_check, not_answering, source_problem
from bot.chat.guard import command_filter
from bot.chat.naming import metric_named, slice_named
from bot.chat.reply import Reply, answer_all, drawn, localized, out_of_date, send_chart
from bot.core.check_text import check_charts, check_summary
from bot.core.commands import span
from bot.core.formatting import day_time, metric_title, named, peak_words, title_of
from bot.core.formatting import localized as as_written
from bot.core.i18n import Translator
from bot.core.incidents import Incident
from bot.core.reasons import reason_text, source_text
from bot.core.text import CAPTION_LIMIT, clipped, quoted, rendered_length
from bot.core.wording import e, metric_caption
from bot.service.backtesting import fewer_than_asked
from bot.service.edits import compose, state_line
from bot.service.monitor import Answer, Monitor, SourceNotAnswering
from bot.settings import Settings
from bot.state import State
from queries.catalogue import Catalogue, Metric
from queries.series import Slice

__all__ = ["build", "metric_named", "show_alert"]


async def _answer(checks: Monitor, settings: Settings, t: Translator) -> tuple[Answer, str]:
    """The report to show and the note to put on top ('' when fresh). SourceNotAnswering
    when the source hangs and no check has finished: bot.chat.errors answers it."""
    answer = await checks.report()
    if not answer.stale:
        return answer, ""
    finished = answer.checked_at.astimezone(settings.zone)
    if answer.misconfigured:  # it answered: waiting will not help
        note = t._("⚠️ The source is set up wrong ({source}); this is the last finished check, "
                   "from {time}. Fix what it names: the next check tries again; /status shows "
                   "more.", source=source_problem(checks.source.describe(), answer.problem, t),
                   time=f"{finished:%H:%M}")  # fmt: skip
        return answer, note
    source = e(source_text(checks.source.describe(), t))
    note = t._("⚠️ The source is slow or not answering ({source}); this is the last finished "
               "check, from {time}. /status shows more.", source=source,
               time=f"{finished:%H:%M}")  # fmt: skip
    return answer, note


async def _send_metric(
    message: Message, metric: Metric, where: Slice, *, checks: Monitor, store: State,
    settings: Settings, t: Translator,
) -> None:  # fmt: skip
    answer, note = await _answer(checks, settings, t)
    report = answer.report
    if not where.is_total:
        # A value as typed: in any case, and without the spaces around it that a chat trims
        # but the data may hold ("?": of whichever dim has it).
        matches = [r.slice for r in report.results if r.metric.name == metric.name
                   and where.dim in ("?", r.slice.dim)
                   and r.slice.value.strip().lower() == where.value.lower()]  # fmt: skip
        if where.dim == "?" and not matches:  # what it could have been, as for os=Andriod
            known = [r.slice.label() for r in report.results if r.metric.name == metric.name]
            raise UsageError(t._("{metric} has no slice {slice}; slices: {known}.",
                                 metric=named(metric, t), slice=quoted(where.value, t.lang),
                                 known=", ".join(known)), "metric")  # fmt: skip
        where = matches[0] if matches else where
    result = checks.find(report, metric.name, where)
    if result is None:
        known = [r.slice.label() for r in report.results if r.metric.name == metric.name]
        if metric.table in report.errors:
            await message.answer(cannot_check(e(named(metric, t)), checks.source.describe(),
                                              report.errors[metric.table],
                                              report.failures.get(metric.table), t))
            return
        raise UsageError(t._("{metric} has no slice {slice}; slices: {known}.",
                             metric=named(metric, t), slice=quoted(where.label(), t.lang),
                             known=", ".join(known)), "metric")  # fmt: skip
    muted = store.mutes.until(metric.name, checks.clock())
    caption = compose(note, localized(metric_caption, t, result, zone=settings.zone, muted=muted),
                      CAPTION_LIMIT)  # fmt: skip
    if result.band["expected"].notna().any():
        await send_chart(message, checks.chart(result, t.lang), metric.name, caption,
                         where=result.slice.label())  # fmt: skip
    else:
        await message.answer(caption)


async def check(message: Message, *, command: CommandObject, checks: Monitor, settings: Settings,
                store: State, t: Translator) -> None:  # fmt: skip
    extra = (command.args or "").strip()
    if extra:  # `/check views` ran every metric and said nothing of it
        raise UsageError(t._("/check checks every metric and takes nothing after it; for one "
                             "metric send {line}", line=f"/metric {clipped(extra)}"),
                         "check")  # fmt: skip
    answer, note = await _answer(checks, settings, t)
    report = answer.report
    if report.errors and not report.results:  # it read nothing: no empty table, but why
        problem = "; ".join(dict.fromkeys(report.errors.values()))
        await message.answer(t._("⚠️ The check failed, so there is nothing to show: {source}. "
                                 "The next check tries again; /status shows more.",
                                 source=source_problem(checks.source.describe(), problem, t)))
        return
    totals = {r.metric.name for r in report.results if r.slice.is_total}
    muted = {name: until for name in totals
             if (until := store.mutes.until(name, checks.clock())) is not None}
    summary = localized(check_summary, t, report, zone=settings.zone, muted=muted)
    await answer_all(message, f"{note}\n{summary}" if note else summary)
    for result in check_charts(report):
        caption = localized(metric_caption, t, result, zone=settings.zone, muted=None)
        await send_chart(message, checks.chart(result, t.lang), result.metric.name, caption,
                         where=result.slice.label())  # fmt: skip


async def metric(
    message: Message, *, command: CommandObject, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue, t: Translator,
) -> None:  # fmt: skip
    # The slice is the rest of the line: a value may hold spaces ("country=United States").
    args = (command.args or "").split(maxsplit=1)
    if not args:
        raise UsageError(t._("Which metric? /metrics lists them."), "metric")
    chosen = metric_named(catalogue, args[0], "metric", t)
    where = slice_named(args[1] if len(args) > 1 else "", chosen, "metric", t)
    await _send_metric(message, chosen, where, checks=checks, store=store, settings=settings,
                       t=t)  # fmt: skip


async def show_alert(
    query: CallbackQuery, alert_id: int, *, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue, t: Translator,
) -> Reply:  # fmt: skip
    """The chart button of an alert: that series now, in the chat where it was pressed."""
    record = store.journal.alert(alert_id)
    if record is None or record.metric not in catalogue.metrics:
        return Reply(out_of_date(t), alert=True)
    metric = catalogue.metrics[record.metric]
    try:
        where = Slice.parse(record.slice)
    except ValueError:
        return Reply(out_of_date(t), alert=True)
    message = query.message
    if not isinstance(message, Message):
        return Reply(t._("That message is too old to answer; try /metric instead."), alert=True)

    async def send() -> None:
        try:
            await _send_metric(message, metric, where, checks=checks, store=store,
                               settings=settings, t=t)  # fmt: skip
        except UsageError as exc:
            await message.answer(e(exc.problem))
        except SourceNotAnswering as exc:
            await message.answer(not_answering(exc, store, settings.zone, t))

    return Reply(f"📈 {metric_title(metric, t)}"[:200], then=send)


async def history(
    message: Message, *, command: CommandObject, store: State, settings: Settings,
    catalogue: Catalogue, t: Translator,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) > 1 or (args and not (args[0].isascii() and args[0].isdigit())):
        raise UsageError(t._("N is how many recent alerts to show, a number from 1 to 50."),
                         "history")  # fmt: skip
    limit = int(args[0]) if args else 10
    if not 1 <= limit <= 50:
        raise UsageError(t._("N must be from 1 to 50."), "history")
    zone = settings.zone
    rows = store.journal.recent_alerts(limit)
    if not rows:
        await message.answer(t._("No alerts yet."))
        return
    # One alert is "the last", with no number (ru "Последнее"): not the form of 21 (ru "21").
    head = (t._("<b>The last alert</b>") if len(rows) == 1
            else t.ngettext("<b>Last {n} alert</b>", "<b>Last {n} alerts</b>", len(rows)))
    lines = [f"{head} " + t._("(times in {zone})", zone=e(zone.key))]
    fates = store.incidents.by_alert([row.id for row in rows])
    ids = [i.id for i in fates.values() if i.id is not None]
    sent, waiting = store.journal.delivered(ids), store.outbox.waiting(ids)
    for row in rows:
        said = e(reason_text(row.reason, t))
        named = _alerted(row.metric, row.slice, catalogue, t)
        lines.append(f"{day_time(row.bucket, zone, t)} {named} — {said}")
        if (fate := _fate(fates.get(row.id), (sent, waiting), t)) is not None:
            lines.append(f"      {fate}")
    await answer_all(message, "\n".join(lines))


def _alerted(name: str, where: str, catalogue: Catalogue, t: Translator) -> str:
    """An alert's series as its card names it (`Просмотры · os=iOS`, a total by its title
    alone); a metric the catalogue no longer has, by the name it had (HTML)."""
    metric = catalogue.metrics.get(name)
    if metric is not None:
        with suppress(ValueError):
            return f"<b>{e(title_of(metric, Slice.parse(where), t))}</b>"
    # A metric's total is the metric, as /check and /backtest name it (and /metric takes).
    label = f"{name} {'' if where in ('', 'total') else where}".strip()
    return f"<code>{e(label)}</code>"


def _fate(incident: Incident | None, reach: tuple[set[int], set[int]], t: Translator
          ) -> str | None:  # fmt: skip
    """What became of the incident an alert opened, as its messages now say it (resolved,
    a false alarm, acknowledged), or that it is still going on, and whether it reached a chat
    (`reach`: the incidents delivered, and those still waiting to be sent; an alert no chat
    subscribed to is journalled all the same); None for an alert that opened no incident of
    its own."""
    if incident is None:
        return None
    said = [state_line(incident, t=t).to(t) or (t._("🔴 still going on") if incident.is_open
                                                 else "")]  # fmt: skip
    sent, waiting = reach
    if incident.id in waiting and incident.id not in sent:
        said.append(t._("⏳ waiting to be sent"))
    elif incident.id not in sent:
        said.append(t._("📭 not delivered to any chat"))
    return "; ".join(part for part in said if part) or None


async def backtest(
    message: Message, *, command: CommandObject, checks: Monitor, settings: Settings,
    catalogue: Catalogue, t: Translator,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if not args or len(args) > 2:
        raise UsageError(t._("Name one metric, and optionally the days to replay."), "backtest")
    chosen = metric_named(catalogue, args[0], "backtest", t)
    days = 7
    if len(args) == 2:
        if not (args[1].isascii() and args[1].isdigit()) or not 1 <= int(args[1]) <= 14:
            raise UsageError(t._("The number of days must be a whole number from 1 to 14."),
                             "backtest")  # fmt: skip
        days = int(args[1])
    alerts, series, begins = await checks.replay(chosen, checks.spec(chosen), days)
    every = sorted((a for group in alerts.values() for a in group), key=lambda a: a.start)
    zone = settings.zone
    total = series[next(k for k in series if k.is_total)]
    said = {"title": f"<b>{e(metric_title(chosen, t))}</b>",
            "alerts": t.ngettext("<b>{n}</b> alert", "<b>{n}</b> alerts", len(every)),
            "series": t.ngettext("{n} series", "{n} series", len(series))}
    lines = [_heading(said, len(every), days, begins=begins, zone=zone, t=t,
                      end=total.index[-1] + catalogue.step)]  # fmt: skip
    if begins is None:  # nothing to draw either
        await answer_all(message, lines[0])
        return
    shown = every[-12:]
    if len(shown) < len(every):  # which ones, and what the numbers of each line are
        lines.append(t._("(the last {n} of {total}; times in {zone}; intervals of {step}; "
                         "deviation: 1 is the range's edge, below 1 a shift that showed in "
                         "the sum of several intervals)", n=len(shown), total=len(every),
                         zone=e(zone.key), step=span(t, catalogue.step)))  # fmt: skip
    elif every:
        lines.append(t._("(times in {zone}; intervals of {step}; deviation: 1 is the range's "
                         "edge, below 1 a shift that showed in the sum of several intervals)",
                         zone=e(zone.key), step=span(t, catalogue.step)))  # fmt: skip
    for a in shown:
        peak = peak_words(a.peak, t)
        # The total by the title, a slice by itself: the first line names the metric, and a
        # title on each of 12 lines would not fit the chart's caption.
        label = f"{a.key.dim}={a.key.value}" if a.key.dim else metric_title(chosen, t)
        lines.append(f"{day_time(a.start, zone, t)} {e(label)} — "
                     + t.ngettext("{n} interval", "{n} intervals", a.buckets) + f", {peak}")
    from bot.service.charts import render_backtest_chart  # matplotlib: only when drawing

    png = await drawn(checks.render(render_backtest_chart, chosen, total.loc[begins:], every,
                                    zone, lang=t.lang), "backtest")  # fmt: skip
    text = "\n".join(lines)
    if png is not None and rendered_length(text) <= CAPTION_LIMIT:
        await message.answer_photo(BufferedInputFile(png, "backtest.png"), caption=text)
        return
    if png is not None:
        await message.answer_photo(BufferedInputFile(png, "backtest.png"))
    await answer_all(message, text)


def _heading(said: dict[str, str], alerts: int, days: int, *, begins: datetime | None,
             end: datetime, zone: ZoneInfo, t: Translator) -> str:  # fmt: skip
    """/backtest's first line: the alerts over the days asked, or since the data begins where
    it holds fewer (by more than an hour; a day's rate only from a day of data on), or that
    there is no data at all (`begins` None)."""
    if begins is None:
        return t._("{title}: no data in the last {days}, nothing to replay",
                   title=said["title"], days=t.ngettext("{n} day", "{n} days", days))
    held = (end - begins) / timedelta(days=1)
    if fewer_than_asked(days, held):  # since where the data begins
        since = f"{day_time(begins, zone, t)} {zone.key}"
        if held < 1:  # a day's rate from hours of data says little
            return t._("{title}: the current settings would have raised {alerts} since {time}, "
                       "where the data begins, over {series}", time=since, **said)
        return t._("{title}: the current settings would have raised {alerts} since {time}, "
                   "where the data begins ({per_day} a day) over {series}", time=since,
                   per_day=as_written(f"{alerts / held:.1f}", t), **said)  # fmt: skip
    if days == 1:  # not "1 day (6.0 a day)"
        return t._("{title}: the current settings would have raised {alerts} in the last day "
                   "over {series}", **said)
    return t._("{title}: the current settings would have raised {alerts} in the last {days} "
               "({per_day} a day) over {series}", days=t.ngettext("{n} day", "{n} days", days),
               per_day=as_written(f"{alerts / days:.1f}", t), **said)  # fmt: skip


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(check, command_filter("check"))
    router.message.register(metric, command_filter("metric"))
    router.message.register(history, command_filter("history"))
    router.message.register(backtest, command_filter("backtest"))
    router.shutdown.register(stop_waiting)
    return router


async def stop_waiting(checks: Monitor) -> None:
    """At shutdown, a check only commands were waiting for is abandoned."""
    await checks.close()
