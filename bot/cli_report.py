"""What the command line prints that people read: the check's table with a short reason per
row and a summary saying why rows could not be judged, and the catalogue in force (`alertbot
catalogue`). English, like the rest of the command line."""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.core.report import CheckReport
    from queries.catalogue import Catalogue

__all__ = ["catalogue_doc", "catalogue_text", "check_table", "short_reason", "write_check_charts"]

log = logging.getLogger(__name__)


REASON_WIDTH = 34


def _cut(text: str, width: int = REASON_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip(" ,;(") + "…"


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=1):
        return f"{delta / timedelta(days=1):.3g} d"
    if delta >= timedelta(hours=1):
        return f"{delta / timedelta(hours=1):.3g} h"
    return f"{delta / timedelta(minutes=1):.0f} min"


def needed(result: Any) -> tuple[timedelta | None, timedelta | None]:
    """The history the metric's detector needs for a first range and for a full one (None
    where its parameters do not say)."""
    import detectors
    from bot.service.checker import spec_for

    spec = spec_for(result.metric)
    params = detectors.params_of(spec)

    def value(name: str) -> float | None:
        return float(spec.get(name, params[name].default)) if name in params else None  # type: ignore[arg-type]

    cold, days = value("cold_hours"), value("days")
    return (timedelta(hours=cold) if cold else None), (timedelta(days=days) if days else None)


def first_data(result: Any) -> datetime | None:
    """The first bucket of the series that holds a value (None: none does)."""
    values = result.series.dropna()
    return None if values.empty else values.index[0].to_pydatetime()


def _sided(head: str, reason: str) -> str:
    """The short form of an above/below reason ("" when the reason is neither)."""
    for side in ("below", "above"):
        if head.startswith(f"{side} the expected range"):
            if "(a sudden move" in head:
                return f"{side} range, sudden"
            if "(a sustained shift" in head:
                return f"{side} range, sustained"
            return f"{side} range"
        if head.startswith(f"{side} expected for the last"):
            way = "down" if side == "below" else "up"
            # Right after an incident: this bucket is back, the window still holds the ones
            # that were outside.
            echo = re.search(r"last (\d+) buckets together \((\d+) of them outside", head)
            if echo:
                return f"shift {way}, {echo[2]} of {echo[1]} outside"
            return f"sustained shift {way}"
        # The table's column reads "expected range": "band" is the reason's word for it.
        if head.startswith(f"{side} the band, but only"):
            return _cut(f"{side} range, only {head.split('only ')[1]}")
        if head.startswith(f"{side} the band, but the change is below"):
            return f"{side} range, change too small"
        if head.startswith(f"{side} the band for "):
            counts = re.search(r"for (\d+) buckets?; waiting for (\d+) of (\d+)", reason)
            if counts:  # "1 of 2 needed in 3": so far, of the rule's 2 of the last 3
                return f"{side} range, {counts[1]} of {counts[2]} needed in {counts[3]}"
            return _cut(f"{side} range, {head.split(' for ', 1)[1]}")
    return ""


def _history_short(result: Any) -> str:
    """How much history there is of what the first range needs."""
    start, (first, _) = first_data(result), needed(result)
    if start is None:
        return "no history"
    step = result.series.index[1] - result.series.index[0] if len(result.series) > 1 else 0
    have = _span(result.verdict.bucket.to_pydatetime() + step - start)
    return f"too little history ({have} of {_span(first)})" if first else "too little history"


def short_reason(result: Any) -> str:
    """The verdict's reason in a few words for the table's column ("" when it is in range)."""
    reason: str = result.verdict.reason
    head = reason.split(";", maxsplit=1)[0].strip()
    sided = _sided(head, reason)
    if sided:
        return sided
    if head == "inside the band":
        return ""
    if head.startswith("too little history"):
        return _history_short(result)
    if head.startswith("no data, while about"):
        return _cut(f"no data ({head.split('about ')[1].replace(' was', '')})")
    if head.startswith("before the data's start"):
        return "before the data's start"
    if head.startswith("after the data's end"):
        return "after the data's end"
    if head.startswith("data is late"):
        return "data late, still filling" if "filling" in head else "data late"
    return _cut(head)


def _unknown_why(results: list[Any], zone: ZoneInfo) -> str:
    """Why a group of unknown rows (one short reason) are unknown, with the dates that tell."""
    short = short_reason(results[0])
    if short.startswith(("too little history", "no history")):
        starts = [s for s in map(first_data, results) if s is not None]
        first, full = needed(results[0])
        detail = "no data before this bucket"
        if starts:
            detail = f"the data starts {min(starts).astimezone(zone):%Y-%m-%d %H:%M}"
        if first and full:
            detail += f"; a first range needs {_span(first)} of it, a full one {_span(full)}"
        return f"too little history ({detail})"
    if short.startswith("data late"):
        return results[0].verdict.reason
    if short == "before the data's start":
        return str(results[0].verdict.reason)
    if short.startswith("after") or short.endswith("…"):  # the summary has room for it whole
        return str(results[0].verdict.reason).split(";")[0]
    return short


def _unknown_group(result: Any) -> str:
    """What unknown rows are summed up by: the short reason without its figures ("too little
    history"), or the whole first clause where the column had to cut it."""
    short = short_reason(result)
    return str(result.verdict.reason).split(";")[0] if short.endswith("…") else short.split(" (")[0]


def _grid(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]  # fmt: skip
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _shown(result: Any) -> tuple[str, str, str]:
    """The value and the range's edges as the table writes them: rounded, unless rounding puts
    the value on an edge it is not on ("127" against "127 – 279" for 127 below 127.4, where the
    sustained-shift test or a sudden move fires just outside; "118" against "118 – 217" for 118
    inside 117.6): the value and that edge then get the decimals that tell them apart, so the
    row shows the side its status and reason speak of."""
    from bot.core.formatting import fmt_value

    v, metric = result.verdict, result.metric
    value, lower, upper = v.value, v.lower, v.upper
    unmoved = fmt_value(metric, value), fmt_value(metric, lower), fmt_value(metric, upper)
    if value is None or lower is None or upper is None or not math.isfinite(value):
        return unmoved
    below = value < lower or (value <= upper and value - lower < upper - value)  # nearer
    edge, other = (lower, upper) if below else (upper, lower)
    if value == edge:  # on it: the same figures are right
        return unmoved
    more = 0
    while more < 6 and fmt_value(metric, value, extra=more) == fmt_value(metric, edge, extra=more):
        more += 1
    shown, crossed = fmt_value(metric, value, extra=more), fmt_value(metric, edge, extra=more)
    return (shown, crossed, fmt_value(metric, other)) if below else (
        shown, fmt_value(metric, other), crossed)  # fmt: skip


def _row(result: Any, zone: ZoneInfo) -> list[str]:
    v, metric = result.verdict, result.metric
    value, low, high = _shown(result)
    band = f"{low} – {high}" if v.lower is not None and v.upper is not None else "—"
    status = v.status.value.upper() if v.status.value == "anomaly" else v.status.value
    bucket = v.bucket.to_pydatetime().astimezone(zone)
    deviation = "—" if v.deviation is None else f"{v.deviation:+.1%}"
    return [metric.name, result.slice.label(), f"{bucket:%Y-%m-%d %H:%M}", value, band,
            deviation, status, short_reason(result)]  # fmt: skip


def _anomaly_line(result: Any, zone: ZoneInfo) -> str:
    v, metric, why = result.verdict, result.metric, short_reason(result)
    value, low, high = _shown(result)
    since, shift = result.off_since, result.shift_since
    return (f"  ! {metric.name} {result.slice.label()}: {value} (expected {low} – {high}"
            + (f", {v.deviation:+.1%}" if v.deviation is not None else "")
            + (f"; outside since {since.tz_convert(zone):%H:%M}" if since is not None else "")
            + (f"; shifted since {shift.tz_convert(zone):%H:%M}" if shift is not None else "")
            + ")"
            + (f": a {why}" if why.startswith(("sustained", "shift")) else ""))  # fmt: skip


def check_table(report: CheckReport, zone: ZoneInfo) -> str:
    """The check as a table with a short reason per row, then a summary: the anomalies, and
    why the rows that could not be judged were not (too little history, after the data's end,
    data late), with the dates that tell."""
    header = ["metric", "slice", "bucket", "value", "expected range", "deviation", "status",
              "reason"]  # fmt: skip
    lines = _grid([header] + [_row(r, zone) for r in report.results], right={3, 4, 5}) \
        if report.results else []  # fmt: skip
    anomalies = report.anomalies
    unknown = [r for r in report.results if r.verdict.status.value == "unknown"]
    summary = (f"{len(report.results)} series checked ({report.source} source, times in "
               f"{zone.key}); {len(anomalies)} anomal"
               + ("y" if len(anomalies) == 1 else "ies"))  # fmt: skip
    if unknown:
        summary += f", {len(unknown)} unknown"
    lines += ["", summary + (":" if anomalies or unknown else ".")]
    for r in sorted(anomalies, key=lambda r: -abs(r.verdict.score or 0)):
        lines.append(_anomaly_line(r, zone))
    groups: dict[str, list[Any]] = {}
    for result in unknown:
        groups.setdefault(_unknown_group(result), []).append(result)
    for group in groups.values():
        lines.append(f"  ? {len(group)} series unknown: {_unknown_why(group, zone)}")
    for table, error in report.errors.items():
        lines.append(f"  ? {table}: not checked: {error}")
    return "\n".join(lines)


def write_check_charts(report: CheckReport, folder: Path, zone: ZoneInfo, lang: str, *,
                       quiet: bool) -> None:  # fmt: skip
    """`check --charts`: a PNG per anomaly in `folder`, each said on stdout (unless `quiet`,
    as with --json). A chart that cannot be drawn or written (a broken matplotlib or font, a
    full disk) costs only its picture, as in the chat: one line on stderr names it and says
    the results printed stand; -v logs why; the other charts are still written."""
    from bot.core.files import chart_file_name

    folder.mkdir(parents=True, exist_ok=True)
    for result in report.anomalies:
        named = f"{result.metric.name} {result.slice.label()}"
        path = folder / chart_file_name(result.metric.name, result.slice.label())
        failed = "drawn"
        try:
            from bot.service.charts import render_chart  # matplotlib: only when charts are drawn

            png = render_chart(result.metric, result.slice, result.series, result.band,
                               result.verdict, zone=zone, lang=lang)  # fmt: skip
            failed = f"written to {path}"
            path.write_bytes(png)
        except Exception as exc:  # whatever failed, it fails this picture alone
            log.info("the chart of %s could not be %s", named, failed, exc_info=True)
            why = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            print(f"alertbot: the chart of {named} could not be {failed} ({why}); the results "
                  f"above are complete, only its picture {path.name} is missing (-v shows why)",
                  file=sys.stderr)  # fmt: skip
            continue
        if not quiet:
            print(f"chart: {path}")


def catalogue_doc(catalogue: Catalogue, path: Path | None, counts: Mapping[str, int] | None
                  ) -> dict[str, Any]:  # fmt: skip
    """What the catalogue in force defines, as `alertbot catalogue --json` prints it; `series`
    per metric and in total is null when the source could not be asked."""
    from detectors import DEFAULT_SPEC, RULE_PARAMS

    metrics = []
    for m in catalogue.metrics.values():
        spec = dict(m.detector or {})
        detector = {"method": DEFAULT_SPEC["method"]} | {
            k: v for k, v in spec.items() if k not in RULE_PARAMS}  # fmt: skip
        columns = {"numerator": m.numerator, "denominator": m.denominator} \
            if m.numerator else {"column": m.column}  # fmt: skip
        metrics.append({
            "name": m.name, "title": m.title, "kind": m.kind.value, "direction": m.direction.value,
            "unit": m.unit or None, "table": m.table, **columns, "slices": list(m.slices),
            "detector": detector, "rule": {k: v for k, v in spec.items() if k in RULE_PARAMS},
            "runbook": m.runbook, "owner": m.owner, "dashboard": m.dashboard,
            "names": {lang: dict(names) for lang, names in m.names.items()},
            "series": None if counts is None else counts.get(m.name, 0),
        })  # fmt: skip
    tables = [{"name": t.name, "dims": list(t.dims), "top_n": dict(t.top_n),
               "columns": list(t.columns)} for t in catalogue.tables.values()]  # fmt: skip
    return {
        "catalogue": str(path) if path else "bundled",
        "step_minutes": catalogue.step / timedelta(minutes=1),
        "history_days": catalogue.history / timedelta(days=1),
        "tables": tables,
        "metrics": metrics,
        "series": None if counts is None else sum(counts.values()),
    }


def _spec(spec: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in spec.items()) or "defaults"


def catalogue_text(doc: Mapping[str, Any]) -> str:
    """The catalogue as people read it: its tables, then a row per metric, then the total."""
    lines = [f"catalogue: {doc['catalogue']} (step {doc['step_minutes']:g} min, history "
             f"{doc['history_days']:g} days)", "", "tables:"]  # fmt: skip
    for t in doc["tables"]:
        dims = ", ".join(f"{d} (top {t['top_n'][d]})" if d in t["top_n"] else d for d in t["dims"])
        lines.append(f"  {t['name']}: slices by {dims}; columns {', '.join(t['columns'])}")
    counted = doc["series"] is not None
    rows = [["metric", "kind", "direction", "unit", "slices", "detector", "rule", "series"]]
    for m in doc["metrics"]:
        rows.append([m["name"], m["kind"], m["direction"], m["unit"] or "—",
                     ", ".join(m["slices"]) or "—", _spec(m["detector"]), _spec(m["rule"]),
                     str(m["series"]) if counted else "?"])  # fmt: skip
    lines += ["", *_grid(rows, right={7}), ""]
    for m in doc["metrics"]:
        said = [f"{key} {m[key]}" for key in ("owner", "runbook", "dashboard") if m.get(key)]
        if said:
            lines.append(f"{m['name']}: {'; '.join(said)}")
    series = f"{doc['series']} series per check" if counted else "series per check not counted"
    n = len(doc["metrics"])
    lines.append(f"{n} metric{'s' * (n != 1)}, {series}")
    return "\n".join(lines)
