"""How values, slices and check results read to people (CLI tables, captions)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from detectors import outside_since
from queries.catalogue import Kind, Metric
from queries.series import Slice

__all__ = ["fmt_value", "report_json", "report_table", "title_of"]


def title_of(metric: Metric, where: Slice) -> str:
    return metric.title if where.is_total else f"{metric.title} · {where.dim}={where.value}"


def fmt_value(metric: Metric, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if metric.kind is Kind.RATIO:
        return f"{value:.2%}"
    return f"{value:,.0f}"


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


def _table(rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def report_table(report: Any, zone: ZoneInfo) -> str:
    """A readable table of every series, then a summary naming the anomalies."""
    rows = [["metric", "slice", "bucket", "value", "expected range", "deviation", "status"]]
    for r in report.results:
        v = r.verdict
        bucket: datetime = v.bucket.to_pydatetime().astimezone(zone)
        if v.lower is not None and v.upper is not None:
            band = f"{fmt_value(r.metric, v.lower)} – {fmt_value(r.metric, v.upper)}"
        else:
            band = "—"
        dev = v.deviation
        status = v.status.value.upper() if v.status.value == "anomaly" else v.status.value
        rows.append([
            r.metric.name, r.slice.label(), f"{bucket:%Y-%m-%d %H:%M}",
            fmt_value(r.metric, v.value), band, "—" if dev is None else f"{dev:+.1%}", status,
        ])  # fmt: skip
    lines = _table(rows, right={3, 4, 5}) if report.results else []
    anomalies = report.anomalies
    lines.append("")
    lines.append(
        f"{len(report.results)} series checked ({report.source} source, times in {zone.key}); "
        f"{len(anomalies)} anomal{'y' if len(anomalies) == 1 else 'ies'}"
        + (":" if anomalies else ".")
    )
    for r in sorted(anomalies, key=lambda r: -abs(r.verdict.score or 0)):
        dev = r.verdict.deviation
        since = outside_since(r.series.loc[: r.verdict.bucket], r.band.loc[: r.verdict.bucket])
        lines.append(
            f"  ! {r.metric.name} {r.slice.label()}: {fmt_value(r.metric, r.verdict.value)} "
            f"(expected {fmt_value(r.metric, r.verdict.lower)} – "
            f"{fmt_value(r.metric, r.verdict.upper)}"
            + (f", {dev:+.1%}" if dev is not None else "")
            + (f"; outside since {since.tz_convert(zone):%H:%M})" if since is not None else ")")
        )
    for table, error in report.errors.items():
        lines.append(f"  ? {table}: not checked: {error}")
    return "\n".join(lines)
