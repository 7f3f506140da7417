"""Replays detector + rule over history, as they would have run live, and scores the alerts.

Pure: series and labels in, alerts and scores out. The band is causal, so evaluating it over
the whole history gives, for every bucket, exactly what a live check at that bucket would see.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from detectors.base import Detector
from detectors.rule import Rule

__all__ = ["Alert", "Label", "Score", "SeriesKey", "alerts_of", "replay", "score"]


@dataclass(frozen=True, order=True)
class SeriesKey:
    """A metric and one of its slices ('' dim = the total)."""

    metric: str
    dim: str = ""
    value: str = ""

    @property
    def is_total(self) -> bool:
        return self.dim == ""

    def label(self) -> str:
        return self.metric + ("" if self.is_total else f" {self.dim}={self.value}")


@dataclass(frozen=True)
class Alert:
    key: SeriesKey
    start: pd.Timestamp  # first firing bucket
    end: pd.Timestamp  # last firing bucket
    peak: float  # largest |score| (inf for a missing bucket)
    buckets: int


@dataclass(frozen=True)
class Label:
    """A known incident: what it affects, where, when, and its size (effect -0.3 = -30%)."""

    id: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    metrics: tuple[str, ...]
    slice: Mapping[str, str] = field(default_factory=dict)
    effect: float = 0.0
    ramp: bool = False  # the effect grows linearly from 0 at start to `effect` at end

    def onset(self, threshold: float, step: timedelta) -> pd.Timestamp:
        """When the effect first reaches `threshold` (a ramp reaches it part way through):
        time to detect is counted from here, not from a start where nothing is visible yet."""
        if not self.ramp or abs(self.effect) <= threshold:
            return self.start
        share = threshold / abs(self.effect)
        moment = self.start + (self.end - self.start) * share
        return moment.floor(step)

    @property
    def target(self) -> SeriesKey | None:
        """The series it is meant to show in: its own slice, or the total."""
        if not self.metrics:
            return None
        if self.slice:
            ((dim, value),) = self.slice.items()
            return SeriesKey(self.metrics[0], dim, value)
        return SeriesKey(self.metrics[0])

    def targets(self) -> list[SeriesKey]:
        if not self.slice:
            return [SeriesKey(m) for m in self.metrics]
        ((dim, value),) = self.slice.items()
        return [SeriesKey(m, dim, value) for m in self.metrics]

    def held_in(self, series: Container[SeriesKey]) -> bool:
        """Whether the data (`series`: the replayed ones) holds a series it targets: one on a
        slice value the data never has (os=MarsOS) explains no alert and counts for nothing."""
        return any(t in series for t in self.targets())

    def explains(self, alert: Alert, grace: timedelta) -> bool:
        """An alert on an affected metric, in a slice that contains the incident, during it."""
        if alert.key.metric not in self.metrics:
            return False
        if not (self.start <= alert.start <= self.end + grace):
            return False
        if not self.slice or alert.key.is_total:
            return True
        ((dim, value),) = self.slice.items()
        return alert.key.dim != dim or alert.key.value == value


def alerts_of(
    key: SeriesKey, firing: pd.Series, score: pd.Series, *, merge_gap: int = 2
) -> list[Alert]:
    """Runs of firing buckets as alerts; runs separated by at most merge_gap quiet buckets are
    one alert (an incident that flickers is still one incident)."""
    fire = firing.to_numpy(dtype=bool)
    where = np.flatnonzero(fire)
    if where.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(where) > merge_gap + 1)
    starts = np.concatenate([[where[0]], where[breaks + 1]])
    ends = np.concatenate([where[breaks], [where[-1]]])
    magnitude = np.abs(score.to_numpy(dtype="float64"))
    out = []
    for a, b in zip(starts, ends, strict=True):
        run = magnitude[a : b + 1][fire[a : b + 1]]
        peak = float(np.nanmax(run)) if np.isfinite(run).any() else float("inf")
        out.append(Alert(key, firing.index[a], firing.index[b], peak, int(fire[a : b + 1].sum())))
    return out


def replay(
    series: Mapping[SeriesKey, pd.Series],
    detector_for: Mapping[SeriesKey, Detector] | Detector,
    rule_for: Mapping[SeriesKey, Rule] | Rule,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    weights: Mapping[SeriesKey, pd.Series] | None = None,
) -> dict[SeriesKey, list[Alert]]:
    """Alerts each series would have raised in [start, end) had the check run every bucket.

    `weights`: the denominators of ratio series (see Detector.band)."""
    out: dict[SeriesKey, list[Alert]] = {}
    for key, values in series.items():
        detector = detector_for if isinstance(detector_for, Detector) else detector_for[key]
        rule = rule_for if isinstance(rule_for, Rule) else rule_for[key]
        weight = (weights or {}).get(key)
        table = rule.evaluate(values, detector.band(values, weight=weight))
        window = (table.index >= start) & (table.index < end)
        out[key] = alerts_of(key, table["firing"][window], table["score"][window])
    return out


@dataclass
class Score:
    """Incident-level quality of a replay."""

    alerts: int
    false_alerts: int
    days: float
    incidents: int  # labelled incidents with a target series in the replay
    detected: int
    ttd: list[int]  # buckets from incident start to the first alert on its target, 1 = at once
    missed: list[str]
    false_examples: list[Alert]
    ttd_of: dict[str, int] = field(default_factory=dict)  # label id: its ttd, as in `ttd`

    @property
    def precision(self) -> float:
        return (self.alerts - self.false_alerts) / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.incidents if self.incidents else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_per_day(self) -> float:
        return self.false_alerts / self.days if self.days else 0.0

    @property
    def median_ttd(self) -> float | None:
        return float(np.median(self.ttd)) if self.ttd else None

    def within(self, buckets: int) -> float:
        """Share of detected incidents caught within this many buckets."""
        return sum(t <= buckets for t in self.ttd) / len(self.ttd) if self.ttd else 1.0


def score(
    alerts: Mapping[SeriesKey, Sequence[Alert]],
    labels: Iterable[Label],
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step: timedelta,
    grace: timedelta = timedelta(hours=1),
    eligible: Mapping[str, bool] | None = None,
    onset_effect: float = 0.2,
) -> Score:
    """Precision, recall, time to detect and false alerts per day of a replay.

    An alert is true when a label explains it; an incident counts as detected when one of its
    target series (its own slice, for each affected metric) alerts during it. Incidents that
    began before `start` only explain alerts: they count for neither recall nor time to
    detect. `eligible` limits the incidents that count for recall (by label id), e.g. to large
    effects on busy series.
    Time to detect runs from the onset: the start, or for a ramp the moment its effect reaches
    `onset_effect`.
    """
    labels = [lb for lb in labels if lb.end > start and lb.start < end]
    all_alerts = [a for group in alerts.values() for a in group]
    # A label on a series the data never holds (a slice value it has not) explains nothing:
    # an os=MarsOS incident took a country's alert in its hour for a true one.
    seen = [lb for lb in labels if lb.held_in(alerts)]
    false = [a for a in all_alerts if not any(lb.explains(a, grace) for lb in seen)]
    detected, ttd, missed, counted = 0, [], [], 0
    ttd_of: dict[str, int] = {}
    for label in labels:
        targets = [t for t in label.targets() if t in alerts]
        if not targets or (eligible is not None and not eligible.get(label.id, False)):
            continue
        if label.start < start:
            continue  # began before the replay: neither catchable in time nor missable
        counted += 1
        hits = [
            a for t in targets for a in alerts[t] if label.start <= a.start <= label.end + grace
        ]
        if hits:
            detected += 1
            first = min(a.start for a in hits)
            onset = label.onset(onset_effect, step)
            ttd.append(max(1, int((first - onset) / step) + 1))
            ttd_of[label.id] = ttd[-1]
        else:
            missed.append(label.id)
    days = (end - start) / timedelta(days=1)
    return Score(len(all_alerts), len(false), days, counted, detected, ttd, missed, false[:20],
                 ttd_of)  # fmt: skip
