"""The aggregated history cache: what a table's query returned, so a check fetches only the
buckets it does not hold yet."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from bot.state.db import Database, ts

__all__ = ["HistoryCache", "epoch_seconds", "query_key"]


def epoch_seconds(times: pd.Series) -> list[int]:
    """Unix seconds of tz-aware timestamps, whatever the index's time unit (s, us, ns)."""
    return ((times - pd.Timestamp(0, tz=UTC)) // pd.Timedelta(seconds=1)).astype(int).tolist()


def query_key(table: str, sql: str, columns: tuple[str, ...]) -> str:
    digest = hashlib.sha256((sql + "\0" + ",".join(columns)).encode()).hexdigest()[:16]
    return f"{table}:{digest}"


class HistoryCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def load(
        self, source_key: str, query: str, columns: tuple[str, ...]
    ) -> tuple[pd.DataFrame, datetime, datetime] | None:
        """The held rows and the range they cover, or None when nothing is held."""
        with self.db.transaction():  # one consistent read of meta and rows
            meta = self.db.rows(
                "SELECT held_from, held_until FROM history_meta WHERE source_key=? AND query=?",
                (source_key, query),
            )
            if not meta:
                return None
            rows = self.db.rows(
                "SELECT bucket, dim, dim_value, vals FROM history_rows "
                "WHERE source_key=? AND query=? ORDER BY bucket, dim, dim_value",
                (source_key, query),
            )
        values = np.array([json.loads(r[3]) for r in rows], dtype="float64").reshape(
            len(rows), len(columns)
        )
        frame = pd.DataFrame(values, columns=list(columns))
        frame.insert(0, "dim_value", [r[2] for r in rows])
        frame.insert(0, "dim", [r[1] for r in rows])
        frame.insert(0, "bucket", pd.to_datetime([r[0] for r in rows], unit="s", utc=True))
        held_from = datetime.fromtimestamp(meta[0][0], tz=UTC)
        held_until = datetime.fromtimestamp(meta[0][1], tz=UTC)
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
        stamps = epoch_seconds(fresh["bucket"]) if len(fresh) else []
        vals = fresh.loc[:, list(columns)].to_numpy(dtype="float64").tolist() if len(fresh) else []
        rows: list[tuple[object, ...]] = [
            (source_key, query, int(b), str(d), str(v), json.dumps(x))
            for b, d, v, x in zip(
                stamps, fresh.get("dim", []), fresh.get("dim_value", []), vals, strict=True
            )
        ]
        lo, start, hi = (ts(t) for t in (held_from, replace_from, held_until))
        with self.db.transaction():
            self.db.change(
                "DELETE FROM history_rows WHERE source_key=? AND query=? "
                "AND (bucket < ? OR bucket >= ?)",
                (source_key, query, lo, start),
            )
            self.db.write_many("INSERT OR REPLACE INTO history_rows VALUES (?, ?, ?, ?, ?, ?)",
                               rows)  # fmt: skip
            self.db.write("INSERT OR REPLACE INTO history_meta VALUES (?, ?, ?, ?)",
                          (source_key, query, lo, hi))  # fmt: skip
