"""/check, /metric, /thresholds, /history, /backtest, and the "show" button of an alert."""

from __future__ import annotations

import difflib

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.chat.errors import UsageError, not_answering
from bot.chat.reply import OUT_OF_DATE, Reply
from bot.core.text import CAPTION_LIMIT
from bot.core.wording import (
    check_summary,
    e,
    metric_caption,
    split_message,
    thresholds_text,
)
from bot.service.charts import render_backtest_chart
from bot.service.edits import compose
from bot.service.monitor import Answer, Monitor, SourceNotAnswering
from bot.settings import Settings
from bot.state import State
from queries.catalogue import Catalogue, Metric
from queries.series import Slice

__all__ = ["build", "metric_named", "show_alert"]

CHARTS_PER_CHECK = 3


def metric_named(catalogue: Catalogue, name: str, command: str) -> Metric:
    """The metric called `name`, or a usage error that suggests the closest name."""
    key = name.strip().lower()
    if key in catalogue.metrics:
        return catalogue.metrics[key]
    close = difflib.get_close_matches(key, list(catalogue.metrics), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise UsageError(
        f"There is no metric {name[:50]!r}.{hint} Metrics: {', '.join(catalogue.metrics)}",
        command,
    )


async def _answer(checks: Monitor, settings: Settings) -> tuple[Answer, str]:
    """The report to show and the note to put on top ('' when fresh). SourceNotAnswering
    when the source hangs and no check has finished: bot.chat.errors answers it."""
    answer = await checks.report()
    if not answer.stale:
        return answer, ""
    finished = answer.checked_at.astimezone(settings.zone)
    note = (f"⚠️ The source is slow or not answering ({e(checks.source.describe())}); this "
            f"is the last finished check, from {finished:%H:%M}. /status shows more.")  # fmt: skip
    return answer, note


def _slice(text: str, metric: Metric, command: str) -> Slice:
    """'os=iOS', 'iOS' (a value of one of the metric's dims) or 'total'."""
    raw = text.strip()
    if "=" not in raw and raw.lower() not in ("", "total"):
        raw = f"?={raw}"
    try:
        where = Slice.parse(raw)
    except ValueError as exc:
        raise UsageError(str(exc), command) from None
    if where.dim != "?" and not where.is_total and where.dim not in metric.slices:
        raise UsageError(
            f"{metric.name} is sliced by {', '.join(metric.slices)}, not {where.dim[:30]!r}",
            command,
        )
    return where


async def _send_metric(
    message: Message, metric: Metric, where: Slice, *, checks: Monitor, store: State,
    settings: Settings,
) -> None:  # fmt: skip
    answer, note = await _answer(checks, settings)
    report = answer.report
    if where.dim == "?":
        matches = [r.slice for r in report.results if r.metric.name == metric.name
                   and r.slice.value.lower() == where.value.lower()]  # fmt: skip
        if not matches:
            raise UsageError(f"{metric.name} has no slice {where.value[:40]!r}", "metric")
        where = matches[0]
    result = checks.find(report, metric.name, where)
    if result is None:
        known = [r.slice.label() for r in report.results if r.metric.name == metric.name]
        if metric.table in report.errors:
            await message.answer(f"Cannot check {e(metric.name)} now: "
                                 f"{e(report.errors[metric.table])}")  # fmt: skip
            return
        raise UsageError(f"{metric.name} has no slice {where.label()[:40]!r}; slices: "
                         f"{', '.join(known)}", "metric")  # fmt: skip
    muted = store.mutes.until(metric.name, checks.clock())
    caption = compose(note, metric_caption(result, zone=settings.zone, muted=muted), CAPTION_LIMIT)
    if result.band["expected"].notna().any():
        png = await checks.chart(result)
        await message.answer_photo(BufferedInputFile(png, f"{metric.name}.png"), caption=caption)
    else:
        await message.answer(caption)


async def check(message: Message, *, checks: Monitor, settings: Settings) -> None:
    answer, note = await _answer(checks, settings)
    report = answer.report
    summary = check_summary(report, zone=settings.zone)
    for part in split_message(f"{note}\n{summary}" if note else summary):
        await message.answer(part)
    worst = sorted(report.anomalies, key=lambda r: -abs(r.verdict.score or 1e9))
    for result in worst[:CHARTS_PER_CHECK]:
        png = await checks.chart(result)
        caption = metric_caption(result, zone=settings.zone, muted=None)
        await message.answer_photo(BufferedInputFile(png, "chart.png"), caption=caption)


async def metric(
    message: Message, *, command: CommandObject, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if not args:
        raise UsageError("Which metric? /metrics lists them.", "metric")
    if len(args) > 2:
        raise UsageError("Too many arguments.", "metric")
    chosen = metric_named(catalogue, args[0], "metric")
    where = _slice(args[1] if len(args) > 1 else "", chosen, "metric")
    await _send_metric(message, chosen, where, checks=checks, store=store, settings=settings)


async def show_alert(
    query: CallbackQuery, alert_id: int, *, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue,
) -> Reply:  # fmt: skip
    """The chart button of an alert: that series now, in the chat where it was pressed."""
    record = store.journal.alert(alert_id)
    if record is None or record.metric not in catalogue.metrics:
        return Reply(OUT_OF_DATE, alert=True)
    metric = catalogue.metrics[record.metric]
    try:
        where = Slice.parse(record.slice)
    except ValueError:
        return Reply(OUT_OF_DATE, alert=True)
    message = query.message
    if not isinstance(message, Message):
        return Reply("That message is too old to answer; try /metric instead.", alert=True)

    async def send() -> None:
        try:
            await _send_metric(message, metric, where, checks=checks, store=store,
                               settings=settings)  # fmt: skip
        except UsageError as exc:
            await message.answer(e(exc.problem))
        except SourceNotAnswering as exc:
            await message.answer(not_answering(exc, store, settings.zone))

    return Reply(f"📈 {metric.title}"[:200], then=send)


async def thresholds(
    message: Message, *, command: CommandObject, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) > 1:
        raise UsageError("One metric at a time.", "thresholds")
    zone = settings.zone
    names = [metric_named(catalogue, args[0], "thresholds").name] if args else list(
        catalogue.metrics)  # fmt: skip
    if not args:
        lines = ["<b>Settings in force</b> (details: /thresholds METRIC)"]
        for name in names:
            m = catalogue.metrics[name]
            spec = checks.spec(m)
            changed = store.overrides.of(name)
            note = ", ".join(f"{e(p)}={e(o.value)}" for p, o in changed.items()) or "defaults"
            lines.append(f"<code>{e(name)}</code>: {e(spec['method'])}, k={e(spec.get('k', '—'))},"
                         f" {note}")  # fmt: skip
        await message.answer("\n".join(lines))
        return
    m = catalogue.metrics[names[0]]
    text = thresholds_text(m, checks.spec(m), checks.params(m), store.overrides.of(m.name),
                           zone=zone)  # fmt: skip
    for part in split_message(text):
        await message.answer(part)


async def history(
    message: Message, *, command: CommandObject, store: State, settings: Settings,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) > 1 or (args and not (args[0].isascii() and args[0].isdigit())):
        raise UsageError("N is how many recent alerts to show, a number from 1 to 50.", "history")
    limit = int(args[0]) if args else 10
    if not 1 <= limit <= 50:
        raise UsageError("N must be from 1 to 50.", "history")
    zone = settings.zone
    rows = store.journal.recent_alerts(limit)
    if not rows:
        await message.answer("No alerts yet.")
        return
    lines = [f"<b>Last {len(rows)} alerts</b>"]
    for row in rows:
        when = row.bucket.astimezone(zone)
        label = f"{row.metric} {row.slice}".strip()
        lines.append(f"{when:%m-%d %H:%M} <code>{e(label)}</code> — {e(row.reason)}")
    for part in split_message("\n".join(lines)):
        await message.answer(part)


async def backtest(
    message: Message, *, command: CommandObject, checks: Monitor, settings: Settings,
    catalogue: Catalogue,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if not args or len(args) > 2:
        raise UsageError("Name one metric, and optionally the days to replay.", "backtest")
    chosen = metric_named(catalogue, args[0], "backtest")
    days = 7
    if len(args) == 2:
        if not (args[1].isascii() and args[1].isdigit()) or not 1 <= int(args[1]) <= 14:
            raise UsageError("days must be a number from 1 to 14.", "backtest")
        days = int(args[1])
    alerts, series, start = await checks.replay(chosen, checks.spec(chosen), days)
    every = sorted((a for group in alerts.values() for a in group), key=lambda a: a.start)
    zone = settings.zone
    lines = [f"<b>{e(chosen.title)}</b>: the current settings would have raised "
             f"<b>{len(every)}</b> alert(s) in the last {days} days "
             f"({len(every) / days:.1f} a day) over {len(series)} series"]  # fmt: skip
    for a in every[-12:]:
        peak = "no data" if a.peak == float("inf") else f"peak {a.peak:.1f}"
        lines.append(f"{a.start.tz_convert(zone):%m-%d %H:%M} <code>{e(a.key.label())}</code> "
                     f"{a.buckets} bucket(s), {peak}")  # fmt: skip
    total = series[next(k for k in series if k.is_total)]
    png = await checks.render(render_backtest_chart, chosen, total.loc[start:], every, zone)
    text = "\n".join(lines)
    if len(text) <= 1024:
        await message.answer_photo(BufferedInputFile(png, "backtest.png"), caption=text)
    else:
        await message.answer_photo(BufferedInputFile(png, "backtest.png"))
        for part in split_message(text):
            await message.answer(part)


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(check, Command("check"))
    router.message.register(metric, Command("metric"))
    router.message.register(thresholds, Command("thresholds"))
    router.message.register(history, Command("history"))
    router.message.register(backtest, Command("backtest"))
    router.shutdown.register(stop_waiting)
    return router


async def stop_waiting(checks: Monitor) -> None:
    """At shutdown, a check only commands were waiting for is abandoned."""
    await checks.close()
