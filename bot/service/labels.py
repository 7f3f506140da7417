"""Known incidents for backtest and tune: the demo's own, or a JSON file of your own.

A file holds a list of incidents, or `{"incidents": [...]}` as `alertbot seed --labels` writes
it. Each incident needs `start` and `end` (ISO 8601 with a UTC offset) and the `metrics` it
moved; `id`, `kind`, one `slice` ({"os": "iOS"}) and `effect` (-0.3 = -30%) are optional. A
demo `kind` (slice_drop, spike, ...) implies its metrics when the file names none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from detectors.backtest import Label
from queries import demo, seeding
from queries.catalogue import Catalogue
from queries.sources import Source

__all__ = ["label_of", "labels_from_file", "labels_from_source", "unknown_in"]


def label_of(incident: demo.Incident) -> Label:
    """The backtest's view of a demo incident (a gradual decline is a ramp)."""
    return Label(
        incident.id,
        incident.kind.value,
        pd.Timestamp(incident.start),
        pd.Timestamp(incident.end),
        incident.metrics,
        incident.slice,
        incident.effect,
        ramp=incident.kind is demo.IncidentKind.GRADUAL_DECLINE,
    )


async def labels_from_source(source: Source, until: datetime) -> list[Label] | None:
    """The incidents of a seeded demo dataset, or None where the data is not ours."""
    config = await seeding.read_config(source)
    if config is None:
        return None
    return [label_of(i) for i in demo.incidents_for(config, until) if i.start < until]


def labels_from_file(path: Path) -> list[Label]:
    """The incidents of a labels file; ValueError names the incident and what to write."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    items = doc.get("incidents") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValueError('expected a list of incidents, or {"incidents": [...]}')
    labels = [_label(item, n) for n, item in enumerate(items, 1)]
    seen: set[str] = set()
    for label in labels:
        if label.id in seen:
            raise ValueError(f"two incidents are called {label.id!r}: give each its own id")
        seen.add(label.id)
    return labels


def _label(item: Any, n: int) -> Label:
    if not isinstance(item, dict):
        raise ValueError(f"incident {n} is not an object with start, end and metrics")
    name = str(item.get("id") or f"#{n}")
    kind = str(item.get("kind") or "incident")
    known = kind in {k.value for k in demo.IncidentKind}
    metrics = item.get("metrics")
    if metrics is None and known:
        metrics = demo.kind_metrics(demo.IncidentKind(kind))
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, list | tuple) or not all(isinstance(m, str) and m for m in metrics):
        raise ValueError(f"incident {name!r}: metrics must be a list of metric names, e.g. "
                         '"metrics": ["views"]')  # fmt: skip
    if not metrics and kind != demo.IncidentKind.LATE_DATA.value:  # it alone moves no metric
        raise ValueError(f'incident {name!r} names no metrics: add e.g. "metrics": ["views"]')
    start, end = (_moment(item.get(side), side, name) for side in ("start", "end"))
    if end < start:
        raise ValueError(f"incident {name!r} ends ({end.isoformat()}) before it starts "
                         f"({start.isoformat()}): swap them")  # fmt: skip
    if end == start:
        raise ValueError(f"incident {name!r} ends when it starts ({start.isoformat()}): give "
                         "the time it ended")  # fmt: skip
    where = item.get("slice") or {}
    if not isinstance(where, dict) or len(where) > 1:
        raise ValueError(f"incident {name!r}: slice must be one dimension and its value, e.g. "
                         '{"os": "iOS"}, or left out for the total')  # fmt: skip
    try:
        effect = float(item.get("effect") or 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"incident {name!r}: effect must be a number, e.g. -0.3") from None
    return Label(name, kind, pd.Timestamp(start), pd.Timestamp(end), tuple(metrics),
                 {str(k): str(v) for k, v in where.items()}, effect,
                 ramp=kind == demo.IncidentKind.GRADUAL_DECLINE.value)  # fmt: skip


def _moment(value: Any, side: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"incident {name!r}: {side} {value!r} is not an ISO 8601 time, e.g. "
                         "2026-12-06T00:30:00+00:00") from None  # fmt: skip
    if moment.tzinfo is None:  # compared with the data's UTC times, it would crash
        raise ValueError(f"incident {name!r}: {moment.isoformat()} has no UTC offset; write "
                         f"it as {moment.isoformat()}+00:00")  # fmt: skip
    return moment


def unknown_in(labels: Iterable[Label], catalogue: Catalogue) -> str | None:
    """What a label names that the catalogue does not have (a metric, or a slice dimension
    of one), said so that it can be fixed; None when everything is known."""
    for label in labels:
        for name in label.metrics:
            metric = catalogue.metrics.get(name)
            if metric is None:
                known = ", ".join(catalogue.metrics)
                return f"incident {label.id!r} names metric {name!r}, which the catalogue does " \
                       f"not have ({known})"  # fmt: skip
            for dim in label.slice:
                if dim not in metric.slices:
                    dims = ", ".join(metric.slices) or "none"
                    return f"incident {label.id!r}: {name} is not sliced by {dim!r} (its " \
                           f"slices: {dims})"  # fmt: skip
    return None
