"""`alertbot backtest`: the detectors replayed over a source's history (`alertbot tune` searches
over the same replays: bot/service/tuning.py).

I/O here (one query per table for the whole span); the replay and the scoring are the pure
detectors.backtest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

import detectors
from bot.service.checker import spec_for
from bot.state import State
from detectors.backtest import Alert, Label, Score, SeriesKey, replay, score
from queries.catalogue import Catalogue, Kind, Metric
from queries.history import complete_end
from queries.series import (
    Slice,
    bucket_index,
    build_series,
    on_grid,
    slices_of,
    split_slices,
    weight_series,
)
from queries.sources import Source

__all__ = [
    "Backtest",
    "collect",
    "data_begins",
    "feedback_from_state",
    "fewer_than_asked",
    "key_of",
    "run",
]

GRACE = timedelta(hours=1)


@dataclass
class Collected:
    series: dict[SeriesKey, pd.Series]
    weight: dict[SeriesKey, pd.Series]
    metric: dict[SeriesKey, Metric]
    start: datetime  # first replayed bucket (of the table whose data begins first)
    end: datetime  # exclusive
    # Per table, its first replayed bucket where its data begins after `start`.
    later: dict[str, datetime] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)  # tables with no rows in the days asked

    def start_of(self, metric: Metric) -> datetime:
        """Where the replay of `metric` begins: where its table's data does, if later."""
        return self.later.get(metric.table, self.start)


async def collect(
    source: Source,
    catalogue: Catalogue,
    *,
    now: datetime,
    days: int,
    delay: timedelta,
    metrics: Sequence[str] | None = None,
) -> Collected:
    """Every series of the wanted metrics over `days`, plus the history a live check reads
    before it (`history_days`), so each replayed bucket is judged as the live check judged it.
    Where the data begins later, the replay begins with it: the days before hold no buckets
    to judge, and counted they made a rate of false alerts look a third of what it is. Each
    table's replay begins where its own data does: a table begun yesterday leaves the replay
    of the others as long as theirs."""
    end = complete_end(now, catalogue.step, delay)
    start = end - timedelta(days=days)
    warmup = catalogue.history
    index = bucket_index(start - warmup, end, catalogue.step)
    wanted = [catalogue.metric(m) for m in metrics] if metrics else list(catalogue.metrics.values())
    out = Collected({}, {}, {}, start, end)
    starts: dict[str, datetime] = {}
    for table in catalogue.tables.values():
        table_metrics = [m for m in wanted if m.table == table.name]
        if not table_metrics:
            continue
        frame = await source.fetch(table, start - warmup, end)
        frame = on_grid(frame, catalogue.step, table.name)
        parts = split_slices(frame, index)  # without a first bucket the data begins inside
        first = data_begins(parts.values(), start)
        if first is not None:  # asked for more days than the data holds: replay only those
            starts[table.name] = first
        else:
            out.empty.append(table.name)
        for metric in table_metrics:
            for where in slices_of(frame, table, metric):
                key = key_of(metric, where)
                out.series[key] = build_series(parts, metric, where, index)
                out.weight[key] = weight_series(parts, metric, where, index)
                out.metric[key] = metric
    if starts:  # a table with no rows at all has nothing to replay from anywhere
        out.start = min(starts.values())
    out.later = {name: at for name, at in starts.items() if at > out.start}
    return out


def data_begins(series: Iterable[pd.Series | pd.DataFrame], start: datetime) -> datetime | None:
    """Where a replay from `start` begins: there, or at the first bucket any of `series`
    holds if that is later (a source that holds fewer days); None where none holds any from
    `start` on (data that ended before the days replayed is none of theirs)."""
    begins: datetime | None = None
    for s in series:
        stamps = pd.DatetimeIndex(s.index)
        since = s[stamps >= (pd.Timestamp(start).tz_convert(stamps.tz) if stamps.tz else
                             pd.Timestamp(start).tz_localize(None))]  # fmt: skip
        first = since.first_valid_index()
        if first is not None:
            first = pd.Timestamp(first)
            at = (first.tz_localize(UTC) if first.tzinfo is None else first).to_pydatetime()
            begins = at if begins is None else min(begins, at)
    return begins


def fewer_than_asked(days: float, held: float) -> bool:
    """Whether `held` days of data fall short of the `days` a backtest asked for by more than
    an hour (a first bucket begun mid-way is no shortfall)."""
    return days - held > 1 / 24


def key_of(metric: Metric, where: Slice) -> SeriesKey:
    """The backtest's name for one series of a metric."""
    return SeriesKey(metric.name, "" if where.is_total else where.dim, where.value)


# A chat incident opens at the check after its first firing bucket, and the replay may fire a
# little earlier or later than the live check did: this much slack either side.
FEEDBACK_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Feedback:
    """What people said in the chat about past alerts: acknowledged (real) or false alarms."""

    confirmed: list[Label]
    false_alarms: list[Label]

    def __bool__(self) -> bool:
        return bool(self.confirmed or self.false_alarms)


def feedback_from_state(path: Path) -> Feedback:
    """Acknowledged and false-alarm incidents from the bot's state file (none if it is absent)."""
    if not path.is_file():
        return Feedback([], [])
    state = State(path)
    try:
        rows = state.incidents.feedback()
    finally:
        state.close()
    confirmed: list[Label] = []
    false: list[Label] = []
    for row in rows:
        label = Label(
            f"chat-{row.incident_id}",
            "false_alarm" if row.false_alarm else "acknowledged",
            pd.Timestamp(row.opened_at) - FEEDBACK_SLACK,
            pd.Timestamp(row.resolved_at or row.opened_at) + FEEDBACK_SLACK,
            (row.metric,),
        )
        (false if row.false_alarm else confirmed).append(label)
    return Feedback(confirmed, false)


def raised_again(alerts: Mapping[SeriesKey, Sequence[Alert]], marks: Iterable[Label]) -> list[str]:
    """The false alarms (from the chat) that these alerts would raise again."""
    every = [a for group in alerts.values() for a in group]
    return [m.id for m in marks if any(m.explains(a, timedelta(0)) for a in every)]


@dataclass
class Backtest:
    alerts: dict[SeriesKey, list[Alert]]
    score: Score | None
    labels: list[Label]
    start: datetime
    end: datetime
    series: int
    feedback: Feedback = field(default_factory=lambda: Feedback([], []))
    later: dict[str, datetime] = field(default_factory=dict)  # Collected.later
    empty: list[str] = field(default_factory=list)  # Collected.empty

    @property
    def false_alarms_again(self) -> list[str]:
        """Chat-marked false alarms in the replayed span that these settings raise again."""
        return raised_again(self.alerts, self.feedback.false_alarms)

    @property
    def unseen(self) -> list[Label]:
        """Labels in the replayed span on a replayed metric whose series is not in the data
        (a slice value it never holds): they count for nothing, so they are named."""
        start, end = pd.Timestamp(self.start), pd.Timestamp(self.end)
        replayed = {key.metric for key in self.alerts}
        return [lb for lb in self.labels if lb.end > start and lb.start < end
                and replayed & set(lb.metrics) and not lb.held_in(self.alerts)]

    def explained_by(self, alert: Alert) -> str | None:
        """The label that explains `alert`; never one on a series the data does not hold
        (`unseen`), which counts for nothing, as the score has it."""
        for label in self.labels:
            if label.held_in(self.alerts) and label.explains(alert, GRACE):
                return label.id
        return None

    def span_notes(self, zone: Any, days: int | None = None) -> list[str]:
        """What the replayed span holds, as the CLI's report says it: fewer days than the
        `days` asked (from where the data begins), a table whose data begins later, a table
        with no rows."""
        notes = [f"{table}: from {begins.astimezone(zone):%Y-%m-%d %H:%M}, where its data "
                 "begins" for table, begins in self.later.items()]  # fmt: skip
        notes += [f"{table}: no data in these days, nothing replayed" for table in self.empty]
        held = (self.end - self.start) / timedelta(days=1)
        if days is not None and fewer_than_asked(days, held):
            covers = (f"{held:.1f} days" if held >= 1 else f"{held * 24:.1f} hours"
                      if held >= 1 / 24 else f"{held * 1440:.0f} minutes")  # fmt: skip
            notes.insert(0, f"asked for {days} day{'s' * (days != 1)}: the data begins "
                            f"{self.start.astimezone(zone):%Y-%m-%d %H:%M}, so the replay "
                            f"covers {covers}")  # fmt: skip
        return notes

    def per_metric(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for key, alerts in self.alerts.items():
            counts[key.metric] += len(alerts)
        return dict(counts)

    def per_day(self, zone: Any) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for alerts in self.alerts.values():
            for alert in alerts:
                counts[f"{alert.start.tz_convert(zone):%Y-%m-%d}"] += 1
        return dict(sorted(counts.items()))


def _specs(
    collected: Collected, overrides: Mapping[str, Mapping[str, Any]]
) -> dict[SeriesKey, dict[str, Any]]:
    return {
        key: {**spec_for(metric), **overrides.get(metric.name, {})}
        for key, metric in collected.metric.items()
    }


def _replay(
    collected: Collected, specs: Mapping[SeriesKey, Mapping[str, Any]]
) -> dict[SeriesKey, list[Alert]]:
    """Each series replayed from where its table's data begins (Collected.start_of)."""
    starts = {key: collected.start_of(metric) for key, metric in collected.metric.items()}
    out: dict[SeriesKey, list[Alert]] = {}
    for start in sorted(set(starts.values())):
        keys = [key for key in collected.series if starts[key] == start]
        out.update(replay(
            {k: collected.series[k] for k in keys},
            {k: detectors.build(specs[k]) for k in keys},
            {k: detectors.build_rule(specs[k]) for k in keys},
            start=pd.Timestamp(start),
            end=pd.Timestamp(collected.end),
            weights={k: collected.weight[k] for k in keys
                     if collected.metric[k].kind is Kind.RATIO},
        ))  # fmt: skip
    return {key: out[key] for key in collected.series}


def run(
    collected: Collected,
    labels: Iterable[Label] | None,
    step: timedelta,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    feedback: Feedback | None = None,
) -> Backtest:
    """Replay the current settings (or overrides per metric) and score them when labels exist.

    Without labels, the chat's feedback labels what it can: alerts on acknowledged incidents
    are true, every other alert (those marked false alarms included) counts as false."""
    feedback = feedback or Feedback([], [])
    specs = _specs(collected, overrides or {})
    alerts = _replay(collected, specs)
    if labels is None and feedback.confirmed:
        labels = feedback.confirmed
    label_list = list(labels or [])
    result = None
    if labels is not None:
        result = score(
            alerts, label_list, start=pd.Timestamp(collected.start),
            end=pd.Timestamp(collected.end), step=step, grace=GRACE,
        )  # fmt: skip
    return Backtest(alerts, result, label_list, collected.start, collected.end,
                    len(collected.series), feedback, collected.later,
                    collected.empty)  # fmt: skip
