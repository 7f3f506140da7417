"""The metric catalogue: metrics, their source tables and slices, read from TOML + .sql files."""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Direction",
    "Kind",
    "Metric",
    "Table",
    "load_catalogue",
    "parse_duration",
]


class CatalogueError(ValueError):
    """The catalogue file says something we cannot use; the message names the entry."""


class Kind(enum.StrEnum):
    COUNT = "count"
    USERS = "users"
    RATIO = "ratio"


class Direction(enum.StrEnum):
    """Which deviations matter for a metric."""

    BOTH = "both"
    DOWN = "down"
    UP = "up"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'15m' -> 15 minutes. Raises ValueError with the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration: use a number followed by s, m, h, d or w, e.g. 15m or 4h"
        )
    try:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is far too long a duration") from None


@dataclass(frozen=True)
class Table:
    """A source table and the one query that aggregates all of its metrics and slices."""

    name: str
    sql: str
    dims: tuple[str, ...]
    columns: tuple[str, ...]
    top_n: Mapping[str, int] = field(default_factory=dict)
    receiver_column: str | None = None
    time_column: str = "time"  # event time: how fresh the table is (see Source.latest_event)


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    unit: str
    kind: Kind
    table: str
    direction: Direction
    slices: tuple[str, ...]
    column: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    detector: Mapping[str, Any] | None = None
    dashboard: str | None = None

    @property
    def weight_column(self) -> str:
        """The count that says how much evidence a bucket holds (the denominator of a ratio)."""
        if self.kind is Kind.RATIO:
            assert self.denominator is not None
            return self.denominator
        assert self.column is not None
        return self.column


@dataclass(frozen=True)
class Catalogue:
    tables: Mapping[str, Table]
    metrics: Mapping[str, Metric]
    step: timedelta
    history: timedelta

    def metric(self, name: str) -> Metric:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(
                f"unknown metric {name!r}; known metrics: {', '.join(self.metrics)}"
            ) from None

    def metrics_of(self, table: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.table == table]


def _need(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise CatalogueError(f"{where}: missing '{key}'")
    return entry[key]


def _enum(cls: type[enum.StrEnum], value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise CatalogueError(f"{where}: {value!r} is not one of {allowed}") from None


def _parse(doc: Mapping[str, Any], read_sql: Any) -> Catalogue:
    defaults = doc.get("defaults", {})
    try:
        step = parse_duration(str(defaults.get("step", "15m")))
    except ValueError as exc:
        raise CatalogueError(f"defaults.step: {exc}") from None
    if step != timedelta(minutes=15):
        # The .sql files bucket with toStartOfFifteenMinutes; other steps need other SQL.
        raise CatalogueError("defaults.step: only 15m is supported by the bundled .sql files")
    history = timedelta(days=int(defaults.get("history_days", 28)))

    tables: dict[str, Table] = {}
    for name, entry in _need(doc, "tables", "catalogue").items():
        where = f"tables.{name}"
        dims = tuple(_need(entry, "dims", where))
        top_n = dict(entry.get("top_n", {}))
        for dim in top_n:
            if dim not in dims:
                raise CatalogueError(f"{where}.top_n: {dim!r} is not one of its dims {dims}")
        tables[name] = Table(
            name=name,
            sql=read_sql(_need(entry, "sql", where)),
            dims=dims,
            columns=tuple(_need(entry, "columns", where)),
            top_n=top_n,
            receiver_column=entry.get("receiver_column"),
            time_column=str(entry.get("time_column", "time")),
        )

    metrics: dict[str, Metric] = {}
    for name, entry in _need(doc, "metrics", "catalogue").items():
        where = f"metrics.{name}"
        table_name = _need(entry, "table", where)
        if table_name not in tables:
            raise CatalogueError(f"{where}.table: no table {table_name!r} in the catalogue")
        table = tables[table_name]
        kind = _enum(Kind, entry.get("kind", "count"), f"{where}.kind")
        needed = ["numerator", "denominator"] if kind is Kind.RATIO else ["column"]
        for key in needed:
            column = _need(entry, key, where)
            if column not in table.columns:
                raise CatalogueError(
                    f"{where}.{key}: {column!r} is not a column of {table_name} "
                    f"({', '.join(table.columns)})"
                )
        slices = tuple(entry.get("slices", ()))
        for dim in slices:
            if dim not in table.dims:
                raise CatalogueError(f"{where}.slices: {dim!r} is not a dim of {table_name}")
        metrics[name] = Metric(
            name=name,
            title=str(entry.get("title", name)),
            unit=str(entry.get("unit", "")),
            kind=kind,
            table=table_name,
            direction=_enum(Direction, entry.get("direction", "both"), f"{where}.direction"),
            slices=slices,
            column=entry.get("column"),
            numerator=entry.get("numerator"),
            denominator=entry.get("denominator"),
            detector=entry.get("detector"),
            dashboard=entry.get("dashboard"),
        )
    return Catalogue(tables=tables, metrics=metrics, step=step, history=history)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The bundled catalogue, or the TOML file at `path` (its .sql files beside it)."""
    if path is None:
        base = resources.files("queries")
        doc = tomllib.loads(base.joinpath("catalogue.toml").read_text(encoding="utf-8"))
        return _parse(doc, lambda name: base.joinpath(name).read_text(encoding="utf-8"))
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}") from None

    def read_sql(name: str) -> str:
        try:
            return (path.parent / name).read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogueError(f"cannot read {name} beside {path}: {exc}") from None

    return _parse(doc, read_sql)
