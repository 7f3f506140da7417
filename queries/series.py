"""From aggregated rows (bucket, dim, dim_value, columns...) to one pd.Series per metric slice.

A series is a float64 pd.Series on a tz-aware UTC DatetimeIndex at the catalogue's step.
A bucket with no rows at all in its table is missing: NaN, never 0. A slice with no rows in a
bucket where the table's total has rows had no events there: 0 for counts and users.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from queries.catalogue import Kind, Metric, Table
from queries.errors import QueryFailed

__all__ = [
    "TOTAL",
    "Slice",
    "SliceFrame",
    "TableSlices",
    "bucket_index",
    "build_series",
    "frame_from_rows",
    "slice_values",
    "slices_of",
    "split_slices",
    "weight_series",
]

TOTAL = "total"
KEY_COLUMNS = ("bucket", "dim", "dim_value")


@dataclass(frozen=True, order=True)
class Slice:
    """One series of a metric: the total (dim == 'total') or one value of one dimension."""

    dim: str = TOTAL
    value: str = ""

    @property
    def is_total(self) -> bool:
        return self.dim == TOTAL

    def as_dict(self) -> dict[str, str]:
        return {} if self.is_total else {self.dim: self.value}

    def label(self) -> str:
        return "total" if self.is_total else f"{self.dim}={self.value}"

    @classmethod
    def parse(cls, text: str) -> Slice:
        """'os=iOS' -> Slice('os', 'iOS'); 'total' or '' -> the total."""
        text = text.strip()
        if text in ("", TOTAL):
            return cls()
        dim, sep, value = text.partition("=")
        if not sep or not dim.strip() or not value.strip():
            raise ValueError(f"{text!r} is not a slice: write dim=value, e.g. os=iOS")
        return cls(dim.strip(), value.strip())


def frame_from_rows(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> pd.DataFrame:
    """Normalise what a source returned: bucket as UTC timestamps, value columns as float64."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    wanted = [*KEY_COLUMNS, *columns]
    if frame.empty:
        return pd.DataFrame(
            {
                "bucket": pd.Series([], dtype="datetime64[ns, UTC]"),
                "dim": pd.Series([], dtype=object),
                "dim_value": pd.Series([], dtype=object),
                **{c: pd.Series([], dtype="float64") for c in columns},
            }
        )
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise QueryFailed(f"the query result lacks column(s) {', '.join(missing)}")
    out = frame.loc[:, wanted].copy()
    try:
        bucket = pd.to_numeric(out["bucket"], errors="raise").astype("int64")
        out["bucket"] = pd.to_datetime(bucket, unit="s", utc=True)
        for col in columns:
            out[col] = pd.to_numeric(out[col], errors="raise").astype("float64")
    except (TypeError, ValueError) as exc:
        raise QueryFailed(f"the query returned values that are not numbers: {exc}") from None
    out["dim"] = out["dim"].astype(str)
    out["dim_value"] = out["dim_value"].astype(str)
    return out.reset_index(drop=True)


def bucket_index(start: datetime, end: datetime, step: timedelta) -> pd.DatetimeIndex:
    """All buckets with start <= bucket < end."""
    return pd.date_range(start=start, end=end - step, freq=step, tz="UTC", name="bucket")


SliceFrame = dict[Slice, pd.DataFrame]


def split_slices(frame: pd.DataFrame, index: pd.DatetimeIndex) -> SliceFrame:
    """One frame per slice, each reindexed onto `index` (NaN where a bucket has no rows)."""
    out: SliceFrame = {}
    value_columns = [c for c in frame.columns if c not in KEY_COLUMNS]
    for (dim, value), group in frame.groupby(["dim", "dim_value"], sort=False):
        part = group.set_index("bucket")[value_columns]
        out[Slice(str(dim), "" if dim == TOTAL else str(value))] = part.reindex(index)
    return out


def slice_values(frame: pd.DataFrame, table: Table, dim: str) -> list[str]:
    """The values of `dim` that get their own series: all of them, or the top N by row count."""
    rows = frame.loc[frame["dim"] == dim]
    if rows.empty:
        return []
    weight = rows.groupby("dim_value")["rows"].sum().sort_values(ascending=False, kind="stable")
    values = [str(v) for v in weight.index if str(v) != ""]
    limit = table.top_n.get(dim)
    return values[:limit] if limit else values


def slices_of(frame: pd.DataFrame, table: Table, metric: Metric) -> list[Slice]:
    """The metric's series: its total, then each of its dims' values (top N where limited)."""
    return [Slice()] + [
        Slice(dim, value) for dim in metric.slices for value in slice_values(frame, table, dim)
    ]


def weight_series(
    slices: SliceFrame, metric: Metric, where: Slice, index: pd.DatetimeIndex
) -> pd.Series:
    """How many events stand behind each value: the count itself, or a ratio's denominator."""
    counter = metric
    if metric.kind is Kind.RATIO:
        counter = replace(metric, kind=Kind.COUNT, column=metric.denominator)
    return build_series(slices, counter, where, index)


def build_series(
    slices: SliceFrame, metric: Metric, where: Slice, index: pd.DatetimeIndex
) -> pd.Series:
    """The metric's series for one slice on `index`."""
    total = slices.get(Slice())
    present = total["rows"].notna().to_numpy() if total is not None else np.zeros(len(index), bool)
    part = slices.get(where)

    def column(name: str) -> np.ndarray:
        if part is None:
            values = np.full(len(index), np.nan)
        else:
            values = part[name].to_numpy(dtype="float64", copy=True)
        # The table had rows in this bucket but this slice had none: a true zero.
        values[np.isnan(values) & present] = 0.0
        return values

    if metric.kind is Kind.RATIO:
        assert metric.numerator is not None and metric.denominator is not None
        num, den = column(metric.numerator), column(metric.denominator)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(den > 0, num / den, np.nan)
    else:
        assert metric.column is not None
        values = column(metric.column)
    return pd.Series(values, index=index, name=metric.name, dtype="float64")


class TableSlices:
    """Every slice of one table as matrices (slice x bucket, one per value column), with each
    dim's values ranked by row count: built once per table per refresh and shared by all the
    table's metrics. `series`, `weight` and `slices` give what build_series, weight_series and
    slices_of give on the same frame, without regrouping the window per metric."""

    def __init__(self, frame: pd.DataFrame, table: Table, index: pd.DatetimeIndex) -> None:
        self.index = index
        self.table = table
        columns = [c for c in frame.columns if c not in KEY_COLUMNS]
        n = len(index)
        if len(frame) and n:
            step = index[1] - index[0] if n > 1 else pd.Timedelta(1, "s")
            pos = ((frame["bucket"] - index[0]) // step).to_numpy(dtype="int64")
            dim_code, dims = pd.factorize(frame["dim"], sort=False)
            value_code, values = pd.factorize(frame["dim_value"], sort=False)
            pair = dim_code.astype("int64") * max(len(values), 1) + value_code
            pairs, code = np.unique(pair, return_inverse=True)
        else:
            pos = code = np.zeros(0, dtype="int64")
            dims = values = pd.Index([])
            pairs = np.zeros(0, dtype="int64")
        self.slots: dict[Slice, int] = {}
        for slot, p in enumerate(pairs.tolist()):
            dim, value = str(dims[p // max(len(values), 1)]), str(values[p % max(len(values), 1)])
            self.slots[Slice(dim, "" if dim == TOTAL else value)] = slot
        inside = (pos >= 0) & (pos < n)
        self.values: dict[str, np.ndarray] = {}
        for col in columns:
            matrix = np.full((len(pairs), n), np.nan)
            matrix[code[inside], pos[inside]] = frame[col].to_numpy(dtype="float64")[inside]
            self.values[col] = matrix
        total = self.slots.get(Slice())
        self.present = (
            ~np.isnan(self.values["rows"][total])
            if total is not None and "rows" in self.values
            else np.zeros(n, dtype=bool)
        )
        # The ranking weighs every row of the frame, as slice_values does.
        weight: np.ndarray = np.zeros(len(pairs))
        if "rows" in frame.columns:
            rows = np.nan_to_num(frame["rows"].to_numpy(dtype="float64"))
            weight = np.bincount(code, weights=rows, minlength=len(pairs))
        by_dim: dict[str, list[tuple[float, str]]] = {}
        for where, slot in self.slots.items():
            if not where.is_total and where.value != "":
                by_dim.setdefault(where.dim, []).append((-float(weight[slot]), where.value))
        self.ranking = {dim: [v for _, v in sorted(pairs_)] for dim, pairs_ in by_dim.items()}

    def values_of(self, dim: str) -> list[str]:
        """The values of `dim` that get their own series (see slice_values)."""
        values = self.ranking.get(dim, [])
        limit = self.table.top_n.get(dim)
        return values[:limit] if limit else list(values)

    def slices(self, metric: Metric) -> list[Slice]:
        """The metric's series: its total, then each of its dims' values (top N where limited)."""
        return [Slice()] + [
            Slice(dim, value) for dim in metric.slices for value in self.values_of(dim)
        ]

    def _column(self, name: str, where: Slice) -> np.ndarray:
        slot = self.slots.get(where)
        if slot is None or name not in self.values:
            if slot is not None:
                raise KeyError(name)
            values = np.full(len(self.index), np.nan)
        else:
            values = self.values[name][slot].copy()
        values[np.isnan(values) & self.present] = 0.0
        return values

    def series(self, metric: Metric, where: Slice) -> pd.Series:
        """The metric's series for one slice (see build_series)."""
        if metric.kind is Kind.RATIO:
            assert metric.numerator is not None and metric.denominator is not None
            num = self._column(metric.numerator, where)
            den = self._column(metric.denominator, where)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(den > 0, num / den, np.nan)
        else:
            assert metric.column is not None
            values = self._column(metric.column, where)
        return pd.Series(values, index=self.index, name=metric.name, dtype="float64")

    def weight(self, metric: Metric, where: Slice) -> pd.Series:
        """How many events stand behind each value (see weight_series)."""
        counter = metric
        if metric.kind is Kind.RATIO:
            counter = replace(metric, kind=Kind.COUNT, column=metric.denominator)
        return self.series(counter, where)
