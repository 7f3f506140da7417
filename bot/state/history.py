"""The aggregated history cache: what a table's query returned, so a check fetches only the
buckets it does not hold yet.

Stored columnar: one row per (source, query, four hours) whose columns are binary arrays
(bucket seconds, dictionary codes of dim and dim_value, the values column after column). A save
rewrites only the chunks it touches, so a steady check writes one or two, not 168."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from bot.state.db import Database, ts

__all__ = ["HistoryCache", "epoch_seconds", "query_key"]

CHUNK = 4 * 3600  # seconds of buckets per stored row


def epoch_seconds(times: pd.Series) -> list[int]:
    """Unix seconds of tz-aware timestamps, whatever the index's time unit (s, us, ns)."""
    return _seconds(times).tolist()


def _seconds(times: pd.Series) -> np.ndarray:
    delta = (times - pd.Timestamp(0, tz=UTC)) // pd.Timedelta(seconds=1)
    return np.asarray(delta, dtype="int64")


def query_key(table: str, sql: str, columns: tuple[str, ...]) -> str:
    digest = hashlib.sha256((sql + "\0" + ",".join(columns)).encode()).hexdigest()[:16]
    return f"{table}:{digest}"


@dataclass
class _Rows:
    """Rows as plain arrays: bucket seconds, dim and dim_value as dictionary codes (int32) into
    their own arrays of strings, values (rows x cols). No Python string per row: a window of a
    cohort dimension is millions of rows."""

    bucket: np.ndarray
    dim: np.ndarray
    dims: np.ndarray
    dim_value: np.ndarray
    values: np.ndarray
    vals: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, columns: tuple[str, ...]) -> _Rows:
        if not len(frame):
            return cls.empty(len(columns))
        dim, dims = _codes(frame["dim"])
        dim_value, values = _codes(frame["dim_value"])
        return cls(
            _seconds(frame["bucket"]),
            dim,
            dims,
            dim_value,
            values,
            frame.loc[:, list(columns)].to_numpy(dtype="float64"),
        )

    @classmethod
    def empty(cls, width: int) -> _Rows:
        none, no_codes = np.zeros(0, dtype=object), np.zeros(0, dtype="int32")
        return cls(np.zeros(0, dtype="int64"), no_codes, none, no_codes, none,
                   np.zeros((0, width)))  # fmt: skip

    def where(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.bucket[mask], self.dim[mask], self.dims, self.dim_value[mask],
                     self.values, self.vals[mask])  # fmt: skip

    @staticmethod
    def concat(parts: list[_Rows], width: int, *, copy: bool = False) -> _Rows:
        """The parts' rows in order; `copy` makes the arrays their own even for one part."""
        if not parts:
            return _Rows.empty(width)
        if len(parts) == 1 and not copy:
            return parts[0]
        dim, dims = _recode([(p.dim, p.dims) for p in parts])
        dim_value, values = _recode([(p.dim_value, p.values) for p in parts])
        bucket = np.concatenate([p.bucket for p in parts])
        return _Rows(bucket, dim, dims, dim_value, values,
                     np.concatenate([p.vals for p in parts]))  # fmt: skip

    def strings(self, name: str) -> pd.Series:
        """The dim or dim_value column as the sources give it (pandas str), decoded by Arrow
        from the codes: one copy of the characters, no Python object per row."""
        import pyarrow as pa

        codes, names = (self.dim, self.dims) if name == "dim" else (self.dim_value, self.values)
        dictionary = pa.array([str(n) for n in names] or [""], type=pa.large_string())
        decoded = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)
        return pd.Series(pd.array(decoded.dictionary_decode(), dtype="str"), name=name)


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary codes (int32, in order of first appearance) and the strings they stand for."""
    codes, uniques = pd.factorize(column.astype(str))
    return codes.astype("int32"), np.asarray(uniques, dtype=object)


def _recode(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of several parts over one dictionary: the union of theirs, in order."""
    union = pd.Index(np.concatenate([names for _, names in parts])).unique()
    codes = [union.get_indexer(names).astype("int32")[c] if len(names) else c for c, names in parts]
    return np.concatenate(codes), np.asarray(union, dtype=object)


def _encode(rows: _Rows) -> tuple[object, ...]:
    # Each chunk carries its own dictionaries, in order of first appearance in the chunk.
    dim_codes, dim_used = pd.factorize(rows.dim)
    value_codes, value_used = pd.factorize(rows.dim_value)
    return (
        len(rows.bucket),
        rows.bucket.astype("<i8").tobytes(),
        json.dumps([str(d) for d in rows.dims[dim_used]]),
        dim_codes.astype("<i4").tobytes(),
        json.dumps([str(v) for v in rows.values[value_used]]),
        value_codes.astype("<i4").tobytes(),
        np.ascontiguousarray(rows.vals.T, dtype="<f8").tobytes(),
    )


def _decode(row: tuple[object, ...], width: int) -> _Rows:
    """A stored chunk as arrays that read its bytes in place (read-only; concat copies them)."""
    n, buckets, dims, dim_codes, values, value_codes, vals = row
    assert isinstance(n, int)
    return _Rows(
        np.frombuffer(buckets, dtype="<i8"),  # type: ignore[call-overload]
        np.frombuffer(dim_codes, dtype="<i4"),  # type: ignore[call-overload]
        np.array(json.loads(str(dims)), dtype=object),
        np.frombuffer(value_codes, dtype="<i4"),  # type: ignore[call-overload]
        np.array(json.loads(str(values)), dtype=object),
        np.frombuffer(vals, dtype="<f8").reshape(width, n).T,  # type: ignore[call-overload]
    )


_CHUNK = "n, buckets, dims, dim_codes, dim_values, value_codes, vals"


class HistoryCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def load(
        self, source_key: str, query: str, columns: tuple[str, ...]
    ) -> tuple[pd.DataFrame, datetime, datetime] | None:
        """The held rows and the range they cover, or None when nothing is held."""
        with self.db.transaction():  # one consistent read of meta and rows
            held = self.held_range(source_key, query)
            if held is None:
                return None
            chunks = self.db.rows(
                f"SELECT {_CHUNK} FROM history_chunks WHERE source_key=? AND query=? "
                "ORDER BY chunk",
                (source_key, query),
            )
        lo, hi = held
        rows = _Rows.concat([_decode(c, len(columns)) for c in chunks], len(columns), copy=True)
        del chunks  # the stored bytes, before the frame takes its own memory
        if len(rows.bucket) and int(rows.bucket.min()) < lo:
            rows = rows.where(rows.bucket >= lo)  # the first chunk may start before the window
        frame = pd.DataFrame(rows.vals, columns=list(columns), copy=False)
        frame.insert(0, "dim_value", rows.strings("dim_value"))
        frame.insert(0, "dim", rows.strings("dim"))
        frame.insert(0, "bucket", pd.to_datetime(rows.bucket, unit="s", utc=True))
        held_from = datetime.fromtimestamp(lo, tz=UTC)
        held_until = datetime.fromtimestamp(hi, tz=UTC)
        return frame, held_from, held_until

    def save(
        self,
        source_key: str,
        query: str,
        fresh: pd.DataFrame,
        columns: tuple[str, ...],
        *,
        held_from: datetime,
        replace_from: datetime,
        held_until: datetime,
    ) -> None:
        """Replace rows in [replace_from, held_until) by `fresh`; drop those before held_from."""
        lo, start, hi = (ts(t) for t in (held_from, replace_from, held_until))
        first = start - start % CHUNK  # the chunk that keeps its rows before replace_from
        width = len(columns)
        new = _Rows.of(fresh, columns)
        with self.db.transaction():
            kept = self.db.rows(
                f"SELECT {_CHUNK} FROM history_chunks WHERE source_key=? AND query=? AND chunk=?",
                (source_key, query, first),
            )
            parts = [_decode(c, width) for c in kept]
            parts = [p.where((p.bucket < start) & (p.bucket >= lo)) for p in parts]
            rows = _Rows.concat([*parts, new], width)
            self.db.change(
                "DELETE FROM history_chunks WHERE source_key=? AND query=? "
                "AND (chunk < ? OR chunk >= ?)",
                (source_key, query, lo - lo % CHUNK, first),
            )
            starts = rows.bucket - rows.bucket % CHUNK
            chunks = [
                (source_key, query, int(chunk), *_encode(rows.where(starts == chunk)))
                for chunk in np.unique(starts).tolist()
            ]
            self.db.write_many(
                "INSERT OR REPLACE INTO history_chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunks,
            )
            self.db.write("INSERT OR REPLACE INTO history_meta VALUES (?, ?, ?, ?)",
                          (source_key, query, lo, hi))  # fmt: skip

    def held_range(self, source_key: str, query: str) -> tuple[int, int] | None:
        """The (held_from, held_until) seconds stored for a query, None when nothing is."""
        meta = self.db.rows(
            "SELECT held_from, held_until FROM history_meta WHERE source_key=? AND query=?",
            (source_key, query),
        )
        return (int(meta[0][0]), int(meta[0][1])) if meta else None

    def forget(self, source_key: str) -> None:
        """Drop every row held for a source: its data was generated anew (`alertbot seed`, or a
        first run's demo generated again), and the rows held were of the data before."""
        with self.db.transaction():
            self.db.change("DELETE FROM history_chunks WHERE source_key=?", (source_key,))
            self.db.change("DELETE FROM history_meta WHERE source_key=?", (source_key,))
