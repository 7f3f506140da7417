"""How values, slices and check results read to people (CLI tables, captions)."""

from __future__ import annotations

import html
import json
import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from bot.core.i18n import Translator, translator
from bot.core.tuning_text import report_tune
from detectors import NO_WIDTH
from queries.catalogue import Catalogue, Kind, Metric
from queries.series import Slice

__all__ = ["counted", "day_time", "fmt_pct", "fmt_value", "localized", "metric_title",
           "metric_unit", "named", "peak_words", "percent_of", "report_json", "report_tune",
           "setting_number", "title_of", "titled", "titled_name"]  # fmt: skip

NBSP = "\u00a0"  # Russian groups thousands with a space that never breaks a number


def metric_title(metric: Metric, t: Translator | None = None) -> str:
    """The metric's title in `t`'s language (the catalogue's `ru = { title = ... }`), else its
    English title."""
    title_in = getattr(metric, "title_in", None)
    return metric.title if t is None or title_in is None else str(title_in(t.lang))


def metric_unit(metric: Metric, t: Translator | None = None) -> str:
    """The metric's unit in `t`'s language, else its English unit."""
    unit_in = getattr(metric, "unit_in", None)
    return metric.unit if t is None or unit_in is None else str(unit_in(t.lang))


def title_of(metric: Metric, where: Slice, t: Translator | None = None) -> str:
    """The metric's title in `t`'s language, with the slice when it is not the total."""
    title = metric_title(metric, t)
    return title if where.is_total else f"{title} · {where.dim}={where.value}"


def named(metric: Metric, t: Translator | None = None) -> str:
    """The metric as a plain-text sentence names it to someone who may type it: its title in
    `t`'s language, and the name a command takes (Просмотры (views)); in brackets after a
    title that ends in parentheses of its own (CTR (likes / views) [ctr], not "(…) (ctr)")."""
    title = metric_title(metric, t)
    return f"{title} [{metric.name}]" if _in_parentheses(title) else f"{title} ({metric.name})"


def titled(metric: Metric, t: Translator | None = None) -> str:
    """`named` in HTML: <b>Просмотры</b> (<code>views</code>)."""
    title = metric_title(metric, t)
    name = f"<code>{html.escape(metric.name, quote=False)}</code>"
    return (f"<b>{html.escape(title, quote=False)}</b> "
            + (f"[{name}]" if _in_parentheses(title) else f"({name})"))


def titled_name(name: str, catalogue: Catalogue, t: Translator | None = None) -> str:
    """A metric kept by its name (a mute, a subscription) as `titled` names it; by that name
    alone, in <code>, once the catalogue no longer has it."""
    metric = catalogue.metrics.get(name)
    return f"<code>{html.escape(name, quote=False)}</code>" if metric is None else titled(metric, t)


def _in_parentheses(title: str) -> bool:
    return title.rstrip().endswith(")")


def day_time(when: datetime, zone: ZoneInfo, t: Translator) -> str:
    """A moment this year, short, as the language writes a date (the chat's; the CLI's
    backtest, in English): 12-06 19:20 in English, 06.12 19:20 in Russian (12-06 reads as the
    12th of June there)."""
    local = when.astimezone(zone)
    return f"{local:%d.%m %H:%M}" if t.lang == "ru" else f"{local:%m-%d %H:%M}"


def peak_words(peak: float, t: Translator) -> str:
    """How far a replayed alert went, as backtests (the chat's and the CLI's) say it: no data
    (an infinite peak: no value at all), off a range with no width, or its largest deviation."""
    if peak == float("inf"):
        return t._("no data")
    if peak >= NO_WIDTH:
        return t._("off a range with no width")
    return t._("deviation up to {peak}", peak=localized(f"{peak:.1f}", t))


def localized(number: str, t: Translator | None) -> str:
    """A number written the English way ("1,234.5") as the language writes it ("1 234,5")."""
    if t is None or t.lang != "ru":
        return number
    return number.replace(",", NBSP).replace(".", ",")


def fmt_value(metric: Metric, value: float | None, t: Translator | None = None, *,
              extra: int = 0) -> str:
    """A share as a percentage with two decimals (12.34%), a ratio with a unit of its own
    with two decimals (3.25), any other value whole, thousands grouped (1,234), as `t`'s
    language writes numbers; `extra` more decimals where two values must be told apart. A
    value under one keeps its first two figures (-0.020, 0.60: not -0 or 1), and nothing
    that reads as zero has a minus. "—" when unknown."""
    if value is None or not math.isfinite(value):
        return "—"
    if metric.percent:
        text = f"{value:.{2 + extra}%}"
    else:
        places = extra + (2 if metric.kind is Kind.RATIO else 0)  # 3.25 messages per user
        if value != 0 and abs(value) < 10.0**-places:
            places = min(1 - math.floor(math.log10(abs(value))), 12)
        text = f"{value:,.{places}f}"
    if text.startswith("-") and not any(c in "123456789" for c in text):
        text = text[1:]  # -0.00% is 0.00%
    return localized(text, t)


def fmt_pct(share: float | None, t: Translator | None = None) -> str:
    """A signed change, e.g. +12.3% or -33.2% (ru: -33,2%), the one way every text and chart
    writes it; "0.0%" when it rounds to nothing (no "-0.0%"); empty when unknown."""
    if share is None or not math.isfinite(share):
        return ""
    text = f"{share:+.1%}"
    return localized(text[1:] if float(text[:-1]) == 0 else text, t)


def setting_number(value: float, t: Translator | None = None) -> str:
    """A setting's number as the language writes numbers, every figure it holds (up to 15)
    and never an exponent: 1234567 -> "1,234,567" (ru: "1 234 567"), 0.00001 -> "0.00001",
    where "{:g}" wrote 1.23457e+06, a value that is not the one set."""
    if not math.isfinite(value):
        return str(value)
    text = format(Decimal(f"{value:.15g}").normalize(), ",f")
    return localized(text[1:] if text == "-0" else text, t)


def percent_of(share: float, t: Translator | None = None) -> str:
    """The percentage a share stands for, as the language writes numbers: 0.05 -> "5",
    0.125 -> "12.5" (ru: "12,5"). The % sign is the caller's, where its words put it."""
    return setting_number(share * 100, t)


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def report_json(report: Any) -> str:
    """CONTRACT's `alertbot check --json` document."""
    doc = {
        "checked_at": _iso(report.checked_at),
        "source": report.source,
        "results": [
            {
                "metric": r.metric.name,
                "slice": r.slice.as_dict(),
                "bucket": _iso(r.verdict.bucket.to_pydatetime()),
                "value": _num(r.verdict.value),
                "expected": _num(r.verdict.expected),
                "lower": _num(r.verdict.lower),
                "upper": _num(r.verdict.upper),
                "status": r.verdict.status.value,
                "score": _num(r.verdict.score),
                "detector": r.detector,
                "reason": r.verdict.reason,
            }
            for r in report.results
        ],
        "errors": report.errors,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _noun(n: float, noun: str) -> str:
    """The noun's form after the number `n` as written whole: 'bucket' after 1, else 'buckets'
    (English: the CLI's reports)."""
    return noun if f"{n:.0f}" == "1" else f"{noun}s"


def counted(n: float, noun: str) -> str:
    """'1 bucket', '3 buckets'."""
    return f"{n:.0f} {_noun(n, noun)}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _span(step: timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    if minutes % 60 == 0 and minutes:
        return f"{minutes // 60} h"
    return f"{minutes} min" if minutes else f"{int(step.total_seconds())} s"


def report_backtest(result: Any, zone: ZoneInfo, step: timedelta | None = None,
                    days: int | None = None) -> str:  # fmt: skip
    """Alerts per metric and per day; precision, recall and time to detect when labels exist.
    `step` (the catalogue's bucket) says how often the replayed checks ran; `days`, the days
    asked for, that the data holds fewer where it does (`Backtest.span_notes`)."""
    start = result.start.astimezone(zone)
    end = result.end.astimezone(zone)
    total = sum(len(a) for a in result.alerts.values())
    span_days = (result.end - result.start).total_seconds() / 86400
    lines = [
        f"backtest {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} {zone.key}: {result.series} "
        "series replayed as the live check would have run"
        + (f", every {_span(step)}" if step is not None else ", bucket by bucket"),
        counted(total, "alert") + (f" ({total / span_days:.1f} a day)" if span_days >= 1 else ""),
        "",
        "alerts per metric:",
    ]
    lines[1:1] = [f"  {note}" for note in result.span_notes(zone, days)]
    for metric, count in sorted(result.per_metric().items(), key=lambda x: -x[1]):
        lines.append(f"  {metric:<16} {count:>4}")
    lines.append("alerts per day:")
    for day, count in result.per_day(zone).items():
        lines.append(f"  {day}  {count:>4}")
    sc = result.score
    if sc is not None:
        detect = "—"
        if sc.ttd:
            detect = (f"median {counted(sc.median_ttd, 'bucket')}, {sc.within(2):.0%} within 2 "
                      "buckets")  # fmt: skip
            if step is not None:
                detect += f" ({_span(2 * step)})"
        # Nothing to catch: a recall of 100% would say the replay caught everything.
        recall, f1 = (_pct(sc.recall), f"{sc.f1:.2f}") if sc.incidents else ("—", "—")
        lines += [
            "",
            f"against {counted(sc.incidents, 'known incident')}: precision {_pct(sc.precision)}, "
            f"recall {recall}, F1 {f1}, false alerts {sc.false_alerts} "
            f"({sc.false_per_day:.2f} a day)",
            f"time to detect: {detect}",
        ]
        if sc.missed:
            lines.append(f"missed: {', '.join(sc.missed)}")
        unseen = getattr(result, "unseen", [])
        if unseen:
            named = ", ".join(f"{lb.id} ({lb.targets()[0].label()})" for lb in unseen)
            lines.append(f"not counted, the data holds no such series: {named}")
    else:
        lines += ["", "no labels for this data: pass --labels FILE to score precision and recall"]
    lines += _feedback_lines(result)
    alerts = sorted((a for g in result.alerts.values() for a in g), key=lambda a: a.start)
    if alerts:
        shown = alerts[-15:]
        lines += ["", f"latest alerts (the last {len(shown)} of {len(alerts)}):"
                  if len(shown) < len(alerts) else "latest alerts:"]  # fmt: skip
        for a in shown:
            why = result.explained_by(a) if sc is not None else None
            # Said as /backtest says it in the chat.
            peak = peak_words(a.peak, translator("en"))
            tag = f"  [{why}]" if why else ("  [no known incident]" if sc is not None else "")
            lines.append(
                f"  {day_time(a.start, zone, translator('en'))} {a.buckets:>3} "
                f"{_noun(a.buckets, 'bucket'):<7}  {a.key.label():<34} {peak}{tag}"
            )
    return "\n".join(lines)


def _feedback_lines(result: Any) -> list[str]:
    """What the chat said about past alerts, and what these settings would do with it."""
    fb = result.feedback
    if not fb:
        return []
    start, end = pd.Timestamp(result.start), pd.Timestamp(result.end)
    marked = [m for m in fb.false_alarms if m.end > start and m.start < end]
    again = result.false_alarms_again
    false = len(fb.false_alarms)
    lines = ["", f"chat feedback: {counted(len(fb.confirmed), 'incident')} acknowledged, {false} "
             f"marked {_noun(false, 'false alarm')} ({len(marked)} in this span)"]  # fmt: skip
    if marked:
        lines.append(f"these settings would raise {len(again)} of them again"
                     + (f": {', '.join(again)}" if again else ""))  # fmt: skip
    return lines


def report_backtest_json(result: Any, zone: ZoneInfo, days: int | None = None) -> str:
    sc = result.score
    doc = {
        "days_asked": days,  # `start` is later where the data begins later (by `end` - `start`)
        "start": _iso(result.start),
        "end": _iso(result.end),
        "tables_begin": {name: _iso(at) for name, at in result.later.items()},  # later than start
        "tables_without_data": list(result.empty),
        "series": result.series,
        "per_metric": result.per_metric(),
        "per_day": result.per_day(zone),
        "alerts": [
            {
                "metric": a.key.metric,
                "slice": {a.key.dim: a.key.value} if a.key.dim else {},
                "start": _iso(a.start.to_pydatetime()),
                "end": _iso(a.end.to_pydatetime()),
                "buckets": a.buckets,
                "peak_score": None if a.peak == float("inf") else round(a.peak, 3),
                "incident": result.explained_by(a) if sc is not None else None,
            }
            for group in result.alerts.values()
            for a in group
        ],
        "score": None
        if sc is None
        else {
            "incidents": sc.incidents,
            "detected": sc.detected,
            "precision": sc.precision,
            "recall": sc.recall if sc.incidents else None,
            "f1": sc.f1 if sc.incidents else None,
            "false_alerts": sc.false_alerts,
            "false_per_day": sc.false_per_day,
            "median_ttd_buckets": sc.median_ttd,
            "within_2_buckets": sc.within(2),
            "missed": sc.missed,
            "unseen": [lb.id for lb in getattr(result, "unseen", [])],
        },
        "feedback": {
            "acknowledged": len(result.feedback.confirmed),
            "false_alarms": len(result.feedback.false_alarms),
            "false_alarms_raised_again": result.false_alarms_again,
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
