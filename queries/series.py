"""From aggregated rows (bucket, dim, dim_value, columns...) to one pd.Series per metric slice.

A series is a float64 pd.Series on a tz-aware UTC DatetimeIndex at the catalogue's step.
A bucket with no rows at all in its table is missing: NaN, never 0. A slice with no rows in a
bucket where the table's total has rows had no events there: 0 for counts and users.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from queries.catalogue import Kind, Metric, Table
from queries.errors import QueryFailed, SourceMisconfigured

__all__ = [
    "TOTAL",
    "Slice",
    "SliceFrame",
    "TableSlices",
    "bucket_index",
    "build_series",
    "frame_from_rows",
    "off_grid",
    "on_grid",
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
    out["bucket"] = pd.to_datetime(_numbers(out["bucket"], "bucket"), unit="s", utc=True)
    for col in columns:
        out[col] = _numbers(out[col], col).astype("float64")
    # A NULL slice value (a Nullable column) is no value, as '' is: its rows count in the
    # total only. Left as NaN it had no code of its own, and its rows went to another dim.
    out["dim"] = out["dim"].fillna("").astype(str)
    out["dim_value"] = out["dim_value"].fillna("").astype(str)
    return out.reset_index(drop=True)


def _numbers(column: pd.Series, name: str) -> pd.Series:
    """A result column as numbers; QueryFailed naming the column, what it holds and, for a
    bucket given as a date and time, the line to write (its text is in the column's own time
    zone, which the unix time is not)."""
    if name == "bucket" and (pd.api.types.is_datetime64_any_dtype(column) or any(
            isinstance(v, date) for v in column.head(1))):  # fmt: skip
        raise QueryFailed("bucket is a date and time, not a unix time: write "
                          "toUInt32(toStartOfFifteenMinutes(time)) AS bucket")  # fmt: skip
    try:
        numbers = pd.to_numeric(column, errors="raise")
        return numbers.astype("int64") if name == "bucket" else numbers
    except (TypeError, ValueError):
        bad = next((v for v in column if pd.isna(pd.to_numeric(v, errors="coerce"))), None)
        # The SQL is the catalogue's: a setting to fix (exit 2), not a failure to retry.
        raise SourceMisconfigured(
            f"the column {name} holds {str(bad)[:40]!r}, not a number: the catalogue's SQL "
            "(CATALOGUE_PATH) must return every column besides dim and dim_value as a number"
        ) from None


def off_grid(frame: pd.DataFrame, step: timedelta, table: str = "a table") -> str | None:
    """What is wrong with the buckets a table's query made (None: nothing), said so that the
    catalogue can be fixed. Every bucket must start on the catalogue's step; and buckets that
    all lie a whole number of steps apart, more than one (an hourly GROUP BY under a 15-minute
    step), leave the buckets between empty: every check would judge a gap or a fraction."""
    if frame.empty:
        return None
    seconds = np.sort(pd.unique(frame["bucket"].to_numpy(dtype="datetime64[s]").astype("int64")))
    size = int(step.total_seconds())
    wrong = seconds[seconds % size != 0]
    if wrong.size:
        first = pd.Timestamp(int(wrong[0]), unit="s", tz="UTC")
        return (f"the query for {table} made a bucket at {first:%Y-%m-%d %H:%M} UTC, off the "
                f"catalogue's step ({_span(size)}): group rows by the step, e.g. "
                "toStartOfFifteenMinutes(time) for 15m")  # fmt: skip
    if seconds.size < 24:  # too few to tell a coarser grid from quiet buckets by chance
        return None
    apart = int(np.gcd.reduce(np.diff(seconds)))
    if apart > size:
        return (f"the query for {table} made buckets {_span(apart)} apart, while the "
                f"catalogue's step is {_span(size)}: the buckets between stay empty; group rows "
                "by the step, e.g. toStartOfFifteenMinutes(time) for 15m")  # fmt: skip
    return None


def on_grid(frame: pd.DataFrame, step: timedelta, table: str) -> pd.DataFrame:
    """`frame` as it is; QueryFailed (the table's error, with what to fix) when its buckets
    are off the step's grid (see off_grid)."""
    problem = off_grid(frame, step, table)
    if problem:
        raise QueryFailed(problem)
    return frame


def _span(seconds: int) -> str:
    """As the catalogue writes a step: 15m, 1h, 1d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def bucket_index(start: datetime, end: datetime, step: timedelta) -> pd.DatetimeIndex:
    """All buckets with start <= bucket < end."""
    return pd.date_range(start=start, end=end - step, freq=step, tz="UTC", name="bucket")


SliceFrame = dict[Slice, pd.DataFrame]


def partial_start(frame: pd.DataFrame, index: pd.DatetimeIndex) -> pd.Timestamp | None:
    """The first bucket of a table whose rows begin inside the window `index` (None when
    they begin at its first bucket, or there are none). A table that begins at 10:07 holds
    only part of its 10:00 bucket's events: read as history, that part made the next day's
    10:00 expected low and the whole bucket then alerted as a rise. So it is left out,
    missing rather than zero (`without_bucket`); one bucket of history is all a
    table that happened to begin on a bucket's boundary loses."""
    if frame.empty or len(index) == 0:
        return None
    first = pd.Timestamp(frame["bucket"].min())
    return first if first > index[0] else None


def without_bucket(frame: pd.DataFrame, bucket: pd.Timestamp | None) -> pd.DataFrame:
    """`frame` without the rows of `bucket` (all of it for None)."""
    return frame if bucket is None else frame.loc[frame["bucket"] != bucket]


def split_slices(frame: pd.DataFrame, index: pd.DatetimeIndex) -> SliceFrame:
    """One frame per slice, each reindexed onto `index` (NaN where a bucket has no rows, and
    in the first bucket of a table that begins inside the window: `partial_start`)."""
    frame = without_bucket(frame, partial_start(frame, index))
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
    slices_of give on the same frame, without regrouping the window per metric. The first
    bucket of a table that begins inside the window is left out (`partial_start`), as
    split_slices leaves it out; `begun` is that bucket (None when none was left out)."""

    begun: pd.Timestamp | None = None

    def __init__(self, frame: pd.DataFrame, table: Table, index: pd.DatetimeIndex) -> None:
        self.begun = partial_start(frame, index)
        self._build(without_bucket(frame, self.begun), table, index, SPARE)

    def _build(
        self, frame: pd.DataFrame, table: Table, index: pd.DatetimeIndex, spare: int
    ) -> None:
        columns = [c for c in frame.columns if c not in KEY_COLUMNS]
        n = len(index)
        if len(frame) and n:
            pos = ((frame["bucket"] - index[0]) // _step(index)).to_numpy(dtype="int64")
            dim_code, dims = pd.factorize(frame["dim"], sort=False)
            value_code, values = pd.factorize(frame["dim_value"], sort=False)
            width = max(len(values), 1)
            pairs, code = _pair_codes(dim_code, value_code, len(dims), width)
            del dim_code, value_code
        else:
            pos = code = np.zeros(0, dtype="int64")
            dims = values = pd.Index([])
            pairs, width = np.zeros(0, dtype="int64"), 1
        slots: dict[Slice, int] = {}
        for slot, p in enumerate(pairs.tolist()):
            dim, value = str(dims[p // width]), str(values[p % width])
            slots[Slice(dim, "" if dim == TOTAL else value)] = slot
        inside = (pos >= 0) & (pos < n)
        everywhere = bool(inside.all())  # the usual case: no row outside the window to drop
        if not everywhere:
            code, pos = code[inside], pos[inside]
        buffers: dict[str, np.ndarray] = {}
        for col in columns:
            buffers[col] = np.full((len(pairs), n + spare), np.nan)
            column = frame[col].to_numpy(dtype="float64")
            buffers[col][code, pos] = column if everywhere else column[inside]
        del pos, code, inside  # before the ranking's temporaries
        self._set(table, index, slots, {col: b[:, :n] for col, b in buffers.items()})
        self._room = _Room(buffers, n) if spare else None
        self._offset = 0

    def _set(
        self, table: Table, index: pd.DatetimeIndex, slots: dict[Slice, int],
        values: dict[str, np.ndarray],
    ) -> None:  # fmt: skip
        self.table, self.index, self.slots, self.values = table, index, slots, values
        rows = values.get("rows")
        total = slots.get(Slice())
        self.present = (
            ~np.isnan(rows[total]) if total is not None and rows is not None
            else np.zeros(len(index), dtype=bool)
        )  # fmt: skip
        # A dim's values rank by their row count over the window (ties: by value), as in
        # slice_values; a slice with no row in the window has no rank.
        weight, seen = np.zeros(len(slots)), np.ones(len(slots), dtype=bool)
        for first in range(0, len(rows) if rows is not None else 0, _BLOCK):
            part = rows[first : first + _BLOCK]  # type: ignore[index]  # a block: no window copy
            weight[first : first + _BLOCK] = np.nansum(part, axis=1)
            seen[first : first + _BLOCK] = ~np.isnan(part).all(axis=1)
        by_dim: dict[str, list[tuple[float, str]]] = {}
        for where, slot in slots.items():
            if not where.is_total and where.value != "" and seen[slot]:
                by_dim.setdefault(where.dim, []).append((-float(weight[slot]), where.value))
        self.ranking = {dim: [v for _, v in sorted(pairs)] for dim, pairs in by_dim.items()}

    def advance(
        self, fresh: pd.DataFrame, index: pd.DatetimeIndex, fetch_start: datetime
    ) -> TableSlices | None:
        """The slices on a later window `index`: these buckets before `fetch_start`, then the
        rows of `fresh` (all of [fetch_start, end)). The same as building on the merged frame,
        without regrouping the held rows: a steady check only places the new buckets. None
        when the two cannot be lined up (other columns or another step): build from rows."""
        if len(index) < 2 or len(self.index) < 2 or _step(index) != _step(self.index):
            return None
        keep = int(index.searchsorted(pd.Timestamp(fetch_start)))
        # The fresh rows' own matrices span only the fetched buckets, not the whole window.
        new = object.__new__(TableSlices)
        new._build(fresh, self.table, index[keep:], 0)
        if set(new.values) != set(self.values):
            return None
        # The bucket a table began in stays out as the window moves on; a table that had no
        # row in the window held begins in the first bucket of the rows fetched now.
        begun = self.begun
        if begun is None and not self.present.any() and new.present.any():
            begun = new.index[int(np.argmax(new.present))]
        if begun is not None and begun in new.index:
            at = int(new.index.get_loc(begun))
            for col in new.values.values():
                col[:, at] = np.nan
        moved = self._advanced(new, index, keep)
        if moved is not None:
            moved.begun = begun
        return moved

    def _advanced(
        self, new: TableSlices, index: pd.DatetimeIndex, keep: int
    ) -> TableSlices | None:
        """advance() with the fetched buckets' slices `new`, the first `keep` buckets of
        `index` from these slices."""
        shift = int((index[0] - self.index[0]) // _step(index))  # old column of new column 0
        moved = self._move_in_place(new, index, keep, shift)
        if moved is not None:
            return moved
        lo, hi = max(0, -shift), max(0, min(keep, len(self.index) - shift))
        slots = dict(self.slots)
        for where in new.slots:
            slots.setdefault(where, len(slots))
        into = np.array([slots[w] for w in new.slots], dtype="int64")
        fresh_rows = np.array(list(new.slots.values()), dtype="int64")
        n = len(index)
        buffers = {}
        for col, old in self.values.items():
            buffer = np.empty((len(slots), n + SPARE))  # every cell is set just below
            buffer[:, :lo] = buffer[:, hi:] = buffer[len(self.slots) :, lo:hi] = np.nan
            buffer[: len(self.slots), lo:hi] = old[:, lo + shift : hi + shift]
            buffer[into, keep:n] = new.values[col][fresh_rows]
            buffers[col] = buffer
        # Slices that left the window keep no row.
        rows = buffers.get("rows", next(iter(buffers.values())) if buffers else None)
        if rows is not None and slots:
            alive = ~np.isnan(rows[:, :n]).all(axis=1)
            if not alive.all():
                order = np.flatnonzero(alive)
                renumber = {int(old): new_slot for new_slot, old in enumerate(order.tolist())}
                slots = {w: renumber[s] for w, s in slots.items() if s in renumber}
                buffers = {col: b[order] for col, b in buffers.items()}
        out = object.__new__(TableSlices)
        out._set(self.table, index, slots, {col: b[:, :n] for col, b in buffers.items()})
        out._room, out._offset = _Room(buffers, n), 0
        return out

    def _move_in_place(
        self, new: TableSlices, index: pd.DatetimeIndex, keep: int, shift: int
    ) -> TableSlices | None:
        """advance() without copying the window: the new slices are a view of these slices'
        buffers `shift` columns further on, the fetched buckets written into their spare
        columns. Only where that changes nothing these slices (or any earlier ones) show: the
        same slices, the window moved forward within the spare room, no buffer column past
        this window written yet, and re-fetched buckets inside this window unchanged. None
        otherwise: advance copies."""
        room, n_old, n_new = self._room, len(self.index), len(index)
        if room is None or not room.buffers or shift < 0 or keep > n_old - shift:
            return None
        if any(where not in self.slots for where in new.slots):
            return None
        start, old_end = self._offset + shift, self._offset + n_old
        end = start + n_new
        into = np.array([self.slots[w] for w in new.slots], dtype="int64")
        fresh_rows = np.array(list(new.slots.values()), dtype="int64")
        with room.lock:
            if room.end != old_end or end > room.width or end < old_end:
                return None
            overlap = old_end - (start + keep)  # fetched columns this window already shows
            blocks = {}
            for col, buffer in room.buffers.items():
                block = np.full((len(self.slots), n_new - keep), np.nan)
                block[into] = new.values[col][fresh_rows]
                shown = buffer[:, start + keep : old_end]
                if not np.array_equal(block[:, :overlap], shown, equal_nan=True):
                    return None
                blocks[col] = block[:, overlap:]
            for col, block in blocks.items():  # columns no slices show yet
                room.buffers[col][:, old_end:end] = block
            values = {col: buffer[:, start:end] for col, buffer in room.buffers.items()}
            rows = values.get("rows", next(iter(values.values())))
            if len(rows) and np.isnan(rows).all(axis=1).any():
                return None  # a slice left the window: advance renumbers them in a copy
            room.end = end
        out = object.__new__(TableSlices)
        out._set(self.table, index, dict(self.slots), values)
        out._room, out._offset = room, start
        return out

    def __len__(self) -> int:
        return len(self.slots)

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
        return pd.Series(values, index=self.index, name=metric.name, copy=False)

    def weight(self, metric: Metric, where: Slice) -> pd.Series:
        """How many events stand behind each value (see weight_series)."""
        counter = metric
        if metric.kind is Kind.RATIO:
            counter = replace(metric, kind=Kind.COUNT, column=metric.denominator)
        return self.series(counter, where)

    def _columns(self, name: str, wheres: Sequence[Slice]) -> np.ndarray:
        """`_column` for many slices at once: (len(wheres), buckets)."""
        if name not in self.values and any(w in self.slots for w in wheres):
            raise KeyError(name)
        out = np.full((len(wheres), len(self.index)), np.nan)
        pairs = [(i, self.slots[w]) for i, w in enumerate(wheres) if w in self.slots]
        if pairs and name in self.values:
            rows, slots = (np.array(p, dtype="int64") for p in zip(*pairs, strict=True))
            out[rows] = self.values[name][slots]
        out[np.isnan(out) & self.present[None, :]] = 0.0
        return out

    def matrix(
        self, metric: Metric, wheres: Sequence[Slice]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The metric's series for many slices as one (slice x bucket) matrix, the same
        values `series` gives row by row; and for a ratio its denominators (else None)."""
        if metric.kind is Kind.RATIO:
            assert metric.numerator is not None and metric.denominator is not None
            num = self._columns(metric.numerator, wheres)
            den = self._columns(metric.denominator, wheres)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(den > 0, num / den, np.nan), den
        assert metric.column is not None
        return self._columns(metric.column, wheres), None


# Spare columns after a window's last bucket: a day of steady checks moves the slices on
# into them, sharing one buffer, before a copy starts a new one.
SPARE = 96
_BLOCK = 512  # slices per block when ranking: a block's temporaries, not the window's


class _Room:
    """The matrix buffers that successive slices of one table are views of, and how far
    (exclusive) their columns have been written: no view shows a column past `end`."""

    def __init__(self, buffers: dict[str, np.ndarray], end: int) -> None:
        self.buffers, self.end = buffers, end
        self.width = next(iter(buffers.values())).shape[1] if buffers else 0
        self.lock = threading.Lock()


def _pair_codes(
    dim_code: np.ndarray, value_code: np.ndarray, dims: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (dim, value) pairs as sorted numbers dim * width + value, and each row's
    index among them: np.unique(..., return_inverse=True) in one pass over a table of all
    possible pairs (dims x values, thousands), not a sort of millions of rows."""
    pair = dim_code.astype("int64") * width + value_code
    if len(pair) and int(pair.min()) < 0:  # a missing key (code -1): as np.unique does it
        pairs, code = np.unique(pair, return_inverse=True)
        return pairs, code.reshape(-1)
    seen = np.zeros(dims * width, dtype=bool)
    seen[pair] = True
    number = np.cumsum(seen) - 1
    return np.flatnonzero(seen), number[pair]


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    return index[1] - index[0] if len(index) > 1 else pd.Timedelta(1, "s")
