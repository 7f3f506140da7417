"""The metric catalogue: metrics, their source tables and slices, read from TOML + .sql files."""

from __future__ import annotations

import difflib
import enum
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from queries.sql import missing_markers

__all__ = [
    "EVERY_METRIC",
    "TRANSLATED",
    "Catalogue",
    "CatalogueError",
    "Direction",
    "Kind",
    "Metric",
    "SpecKeys",
    "Table",
    "link_problem",
    "load_catalogue",
    "parse_duration",
    "sql_outputs",
]

# Given a metric's detector spec, the names it may use (ValueError for an unknown method). The
# detectors package knows them; this package does not import it, so the caller passes this in.
SpecKeys = Callable[[Mapping[str, Any]], Collection[str]]


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


def link_problem(text: str) -> str | None:
    """What is wrong with a dashboard link template (None: nothing): an http(s) URL in which
    {metric} and {slice} are filled in; any other {name} would go out as typed."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:  # "https://[::1/x": a broken IPv6 host
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL: expected e.g. https://grafana.example.com/d/feed"
    for name in re.findall(r"\{(\w+)\}", text):  # {"a":1} in a query string is JSON
        if name not in ("metric", "slice"):
            return f"has {{{name}}}, which is not filled in: use {{metric}} and {{slice}}"
    return None


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
    runbook: str | None = None  # what to do when it alerts: a URL or a line of text
    owner: str | None = None  # who answers for it: "@alice", a team name
    # Per-language title and unit: {"ru": {"title": "...", "unit": "..."}}; English is above.
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def title_in(self, lang: str) -> str:
        """The title in `lang` when the catalogue gives one, else the English title."""
        return self.names.get(lang, {}).get("title", self.title)

    def unit_in(self, lang: str) -> str:
        """The unit in `lang` when the catalogue gives one, else the English unit."""
        return self.names.get(lang, {}).get("unit", self.unit)

    @property
    def percent(self) -> bool:
        """Whether values are shown as a percentage: a ratio whose unit is empty or "%" (a
        share such as CTR, likes / views). A ratio with a unit of its own ("messages per
        user") is a number in that unit, like a count, with decimals."""
        return self.kind is Kind.RATIO and self.unit.strip() in ("", "%")

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

    def find(self, typed: str, *, titles: bool = False) -> tuple[Metric | None, str | None]:
        """The metric `typed` names, as people type it: its name; the name in any case ('DAU'
        for dau); with `titles`, a one-word title, in any language, only one metric has
        ('Просмотры'). Else None and the closest name (None if none is close)."""
        typed = typed.strip()
        if typed in self.metrics:
            return self.metrics[typed], None
        words: dict[str, set[str]] = {}
        for metric in self.metrics.values():
            words.setdefault(metric.name.lower(), set()).add(metric.name)
        names = set(words)
        if titles:
            for metric in self.metrics.values():
                named = (metric.title, *(n.get("title", "") for n in metric.names.values()))
                for title in {t.strip().lower() for t in named} - names - {""}:
                    words.setdefault(title, set()).add(metric.name)
        # A word two metrics answer to names neither (a title never shadows a name).
        unique = {word: next(iter(found)) for word, found in words.items() if len(found) == 1}
        if typed.lower() in unique:
            return self.metrics[unique[typed.lower()]], None
        close = difflib.get_close_matches(typed.lower(), list(unique), n=1, cutoff=0.5)
        return None, unique[close[0]] if close else None


MAX_HISTORY_DAYS = 365
TOP_KEYS = ("defaults", "tables", "metrics")
DEFAULT_KEYS = ("step", "history_days", "timezone")
TABLE_KEYS = ("sql", "dims", "columns", "top_n", "receiver_column", "time_column")
# Languages a metric may name itself in besides English (bot.core.i18n.LANGUAGES minus "en";
# a test keeps the two in step: this package does not import the bot).
TRANSLATED = ("ru",)
NAME_KEYS = ("title", "unit")
METRIC_KEYS = ("title", "unit", "kind", "table", "column", "numerator", "denominator",
               "direction", "slices", "detector", "dashboard", "runbook", "owner",
               *TRANSLATED)  # fmt: skip


def _closest(name: str, valid: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the nearest valid name, or the list when none is near."""
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    if close:
        return f' (did you mean "{close[0]}"?)'
    return f" (valid: {', '.join(valid)})" if valid else ""


def _near(name: str, valid: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the nearest valid name, else nothing."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _known(entry: Any, valid: Collection[str], where: str) -> Mapping[str, Any]:
    """The entry as a mapping whose every key is one of `valid`; else the first stranger."""
    if not isinstance(entry, Mapping):
        raise CatalogueError(f"{where}: expected a table of keys, got {entry!r}")
    for key in entry:
        if key not in valid:
            raise CatalogueError(f'{where}: unknown key "{key}"{_closest(key, valid)}')
    return entry


def _need(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise CatalogueError(f'{where}: missing "{key}"')
    return entry[key]


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise CatalogueError(f"{where}: expected a list of names, got {value!r}")
    return tuple(str(v) for v in value)


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _link(value: Any, where: str) -> str | None:
    text = _text(value, where)
    problem = None if text is None else link_problem(text)
    if problem:
        raise CatalogueError(f"{where}: {text!r} {problem}")
    return text


def _enum(cls: type[enum.StrEnum], value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        valid = [m.value for m in cls]
        raise CatalogueError(f'{where}: "{value}" is not one of {", ".join(valid)}'
                             f"{_closest(str(value), valid)}") from None  # fmt: skip


_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sql_outputs(sql: str) -> tuple[str, ...] | None:
    """The column names the outermost SELECT returns (an item's alias, or its last name), or
    None when that cannot be told from the text (SELECT *, no SELECT, a quoted alias)."""
    text = _COMMENT.sub(" ", sql)
    match = re.search(r"\bselect\b", text, re.IGNORECASE)
    if match is None:
        return None
    depth, start, items = 0, match.end(), []
    for at in range(match.end(), len(text)):
        char = text[at]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and char == ",":
            items.append(text[start:at])
            start = at + 1
        elif depth == 0 and re.match(r"\bfrom\b", text[at:at + 5], re.IGNORECASE) and \
                not _IDENT.match(text[at - 1]):  # fmt: skip
            items.append(text[start:at])
            break
    else:
        return None
    names = []
    for item in items:
        words = _IDENT.findall(item.strip().split(".")[-1])
        if not words or "*" in item or re.search(r"[`\"]\s*$", item.strip()):
            return None
        names.append(words[-1])
    return tuple(names)


def _check_sql(table: Table, file: str, where: str) -> None:
    """The table's columns and dims must be what its SQL returns: a column it does not select
    or a dim it never names would otherwise vanish from every check without a word."""
    missing = missing_markers(table.sql)
    if missing:
        raise CatalogueError(f"{where}: {file}: {missing}")
    outputs = sql_outputs(table.sql)
    for name in ("bucket", "dim", "dim_value", *table.columns) if outputs is not None else ():
        if name not in outputs:  # type: ignore[operator]
            raise CatalogueError(f'{where}: its SQL does not return the column "{name}": '
                                 f"add {name} to the SELECT of {file}")  # fmt: skip
    text = _COMMENT.sub(" ", table.sql)
    named = re.findall(r"'([^']*)'\s+AS\s+dim\b", text, re.IGNORECASE)  # 'os' AS dim
    literals = set(named) or set(re.findall(r"'([^']*)'", text))  # or anywhere, as a string
    for dim in table.dims:
        if dim not in literals:
            hint = _closest(dim, [n for n in named if n != "total"]) if named else ""
            raise CatalogueError(
                f"{where}: dims: its SQL never names the dim \"{dim}\" (as '{dim}' AS dim)"
                f"{hint}"
            )


# `event_time >= toDateTime(0) -- {start}`: the column a query's window bounds.
_START_BOUND = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*)\s*>=?\s*toDateTime\(\s*\d+\s*\)\s*--\s*\{start\}"
)


def _time_column(entry: Mapping[str, Any], sql: str, where: str) -> str:
    """The event time column (how fresh the table is): `time_column`, else the column the
    SQL's start marker bounds, else `time`. One the SQL never names is refused: asked for it,
    the table answers 'missing column' at every anomaly, and late data is taken for a drop."""
    bound = [match[1] for match in _START_BOUND.finditer(sql)]
    if "time_column" not in entry:
        return bound[0] if bound else "time"
    name = str(entry["time_column"])
    if not re.search(rf"\b{re.escape(name)}\b", _COMMENT.sub(" ", sql)):
        hint = f' (its window markers bound "{bound[0]}")' if bound else ""
        raise CatalogueError(f'{where}: time_column: its SQL never names "{name}"{hint}')
    return name


def _parse_table(name: str, raw: Any, read_sql: Callable[[str], str]) -> Table:
    where = f'table "{name}"'
    entry = _known(raw, TABLE_KEYS, where)
    dims = _names(_need(entry, "dims", where), f"{where}: dims")
    file = str(_need(entry, "sql", where))
    top_n = dict(_known(entry.get("top_n", {}), dims, f"{where}: top_n"))
    for dim, count in top_n.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise CatalogueError(
                f"{where}: top_n: {dim}: expected a whole number >= 1, got {count!r}"
            )
    table = Table(
        name=name,
        sql=read_sql(file),
        dims=dims,
        columns=_names(_need(entry, "columns", where), f"{where}: columns"),
        top_n=top_n,
        receiver_column=entry.get("receiver_column"),
    )
    if "rows" not in table.columns:  # every check reads it: it failed there in a traceback
        raise CatalogueError(
            f"{where}: columns must include rows, the number of rows in each bucket and slice "
            f"(select count() AS rows): it tells a bucket the table had no row in from a 0; "
            f"got {', '.join(table.columns)}"
        )
    table = replace(table, time_column=_time_column(entry, table.sql, where))
    _check_sql(table, file, where)
    return table


def _column(entry: Mapping[str, Any], key: str, table: Table, where: str) -> str:
    column = _need(entry, key, where)
    if column not in table.columns:
        raise CatalogueError(
            f'{where}: {key}: "{column}" is not a column of {table.name} '
            f"({', '.join(table.columns)}){_near(str(column), table.columns)}"
        )
    return str(column)


def _title(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _unit(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise CatalogueError(f'{where}: expected a string ("" for none), got {value!r}')
    return value.strip()


def _names_in(entry: Mapping[str, Any], where: str) -> dict[str, dict[str, str]]:
    """The per-language titles and units: `ru = { title = "...", unit = "..." }`."""
    names: dict[str, dict[str, str]] = {}
    for lang in TRANSLATED:
        if lang not in entry:
            continue
        raw = _known(entry[lang], NAME_KEYS, f"{where}: {lang}")
        names[lang] = {}
        if "title" in raw:
            names[lang]["title"] = _title(raw["title"], f"{where}: {lang}: title")
        if "unit" in raw:
            names[lang]["unit"] = _unit(raw["unit"], f"{where}: {lang}: unit")
    return names


def _detector(raw: Any, spec_keys: SpecKeys | None, where: str) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{where}: expected a table of keys, got {raw!r}")
    if spec_keys is not None:
        try:
            valid = spec_keys(raw)
        except ValueError as exc:
            raise CatalogueError(f"{where}: {exc}") from None
        _known(raw, valid, where)
    return raw


# What the chat's commands take for "every metric" (/mute all, /thresholds все): no metric's name.
EVERY_METRIC = ("all", "все", "всё")


def _parse_metric(
    name: str, raw: Any, tables: Mapping[str, Table], spec_keys: SpecKeys | None
) -> Metric:
    where = f'metric "{name}"'
    if not name or name != "".join(name.split()):
        raise CatalogueError(f"{where}: a metric's name is one word, typed after commands "
                             "(/metric NAME, /set NAME k 4): no spaces in it")  # fmt: skip
    if name.lower() in EVERY_METRIC:
        raise CatalogueError(f"{where}: the chat reads {name!r} as every metric (/mute "
                             f"{name} 1h): choose another name")  # fmt: skip
    entry = _known(raw, METRIC_KEYS, where)
    table_name = str(_need(entry, "table", where))
    if table_name not in tables:
        raise CatalogueError(f'{where}: table: no table "{table_name}" in the catalogue'
                             f"{_closest(table_name, tables)}")  # fmt: skip
    table = tables[table_name]
    kind = _enum(Kind, entry.get("kind", "count"), f"{where}: kind")
    keys = ("numerator", "denominator") if kind is Kind.RATIO else ("column",)
    columns = {key: _column(entry, key, table, where) for key in keys}
    slices = _names(entry.get("slices", []), f"{where}: slices")
    for dim in slices:
        if dim not in table.dims:
            raise CatalogueError(f'{where}: slices: "{dim}" is not a dim of {table_name}'
                                 f"{_closest(dim, table.dims)}")  # fmt: skip
    return Metric(
        name=name,
        title=_title(entry.get("title", name), f"{where}: title"),
        unit=_unit(entry.get("unit", ""), f"{where}: unit"),
        kind=kind,
        table=table_name,
        direction=_enum(Direction, entry.get("direction", "both"), f"{where}: direction"),
        slices=slices,
        column=columns.get("column"),
        numerator=columns.get("numerator"),
        denominator=columns.get("denominator"),
        detector=_detector(entry.get("detector"), spec_keys, f"{where}: detector"),
        dashboard=_link(entry.get("dashboard"), f"{where}: dashboard"),
        runbook=_text(entry.get("runbook"), f"{where}: runbook"),
        owner=_text(entry.get("owner"), f"{where}: owner"),
        names=_names_in(entry, where),
    )


def _parse(
    doc: Mapping[str, Any], read_sql: Callable[[str], str], spec_keys: SpecKeys | None = None
) -> Catalogue:
    _known(doc, TOP_KEYS, "top level")
    defaults = _known(doc.get("defaults", {}), DEFAULT_KEYS, "defaults")
    try:
        step = parse_duration(str(defaults.get("step", "15m")))
    except ValueError as exc:
        raise CatalogueError(f"defaults: step: {exc}") from None
    if step != timedelta(minutes=15):
        # The .sql files bucket with toStartOfFifteenMinutes; other steps need other SQL.
        raise CatalogueError("defaults: step: only 15m is supported: every check judges "
                             "15-minute buckets (a daily figure is counted per 15 minutes, as "
                             "users active in each quarter-hour are)")  # fmt: skip
    days = defaults.get("history_days", 28)
    if isinstance(days, bool) or not isinstance(days, int):
        raise CatalogueError(f"defaults: history_days: expected a whole number of days, got "
                             f"{days!r}")  # fmt: skip
    if not 1 <= days <= MAX_HISTORY_DAYS:
        raise CatalogueError(
            f"defaults: history_days: must be 1 to {MAX_HISTORY_DAYS}, got {days}"
        )
    history = timedelta(days=days)
    zone = _zone(defaults.get("timezone"))
    tables = {name: _parse_table(name, raw, read_sql)
              for name, raw in _need(doc, "tables", "top level").items()}  # fmt: skip
    metrics = {name: _parse_metric(name, raw, tables, spec_keys)
               for name, raw in _need(doc, "metrics", "top level").items()}  # fmt: skip
    if zone is not None:  # every metric's detector, unless it names its own
        metrics = {name: replace(m, detector={"timezone": zone, **(m.detector or {})})
                   for name, m in metrics.items()}  # fmt: skip
    return Catalogue(tables=tables, metrics=metrics, step=step, history=history)


def _zone(value: object) -> str | None:
    """defaults.timezone: the wall clock every metric's daily pattern follows (the seasonal
    detector's `timezone`), an IANA name; None when not set."""
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    # The names the detector takes (detectors.params.zone_named: the zone database's list, in
    # any case), not whatever ZoneInfo opens: it also opens posix/Europe/Berlin, right/UTC and
    # posixrules, which the detector refuses, so the catalogue loaded and every check failed.
    names = {z.lower(): z for z in available_timezones()
             if z not in ("localtime", "Factory")} | {"utc": "UTC"}  # as zone_named
    try:
        if not isinstance(value, str) or value.lower() not in names:
            raise ValueError(value)
        found = names[value.lower()]
        ZoneInfo(found)
    except (ZoneInfoNotFoundError, ValueError):
        raise CatalogueError(f"defaults: timezone: expected a time zone's name such as "
                             f"\"Europe/Berlin\" or \"UTC\", got {value!r}") from None
    return found


class _Unreadable(CatalogueError):
    """A file that cannot be read: its message names it already."""


def _decode(data: bytes, where: str) -> str:
    """UTF-8 text (a byte-order mark is dropped); another encoding is refused with the byte and
    line, since a title in Windows-1251 would otherwise be a traceback."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _Unreadable(
            f"{where} is not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}): "
            "save it as UTF-8"
        ) from None


_NON_LATIN_KEY = "Invalid initial character for a key part"


def _why(exc: OSError, path: str | Path) -> str:
    """Why a file cannot be read, in words and without its path twice."""
    if Path(path).is_dir():
        return "it is a folder, not a file"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return (exc.strerror or type(exc).__name__).lower()


def load_catalogue(path: str | Path | None = None, *, spec_keys: SpecKeys | None = None
                   ) -> Catalogue:  # fmt: skip
    """The bundled catalogue, or the TOML file at `path` (its .sql files beside it).

    Every key is checked against the ones that mean something, and each table's columns and
    dims against what its SQL returns; a mistake raises CatalogueError naming the file, the
    entry, the key and the closest valid name. With `spec_keys`, the keys of each metric's
    detector spec are checked too."""
    if path is None:
        base = resources.files("queries")
        where = str(base.joinpath("catalogue.toml"))
        text = _decode(base.joinpath("catalogue.toml").read_bytes(), where)

        def read_sql(name: str) -> str:
            return _decode(base.joinpath(str(name)).read_bytes(), str(base.joinpath(name)))
    else:
        where = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise _Unreadable(f"cannot read catalogue {path}: {_why(exc, path)}") from None
        text = _decode(data, where)

        def read_sql(name: str) -> str:
            file = Path(where).parent / str(name)
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise _Unreadable(f"cannot read {name} beside {path}: {_why(exc, file)}") from None
            return _decode(data, str(file))

    try:
        return _parse(tomllib.loads(text), read_sql, spec_keys)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        line = text.splitlines()[int(at[1]) - 1] if at and int(at[1]) <= len(text.splitlines()) \
            else ""  # fmt: skip
        hint = ': quote non-Latin names, e.g. [metrics."просмотры"]' if (
            _NON_LATIN_KEY in str(exc) and not line.isascii()) else ""  # fmt: skip
        twice = re.search(r"Cannot declare \('metrics', '([^']+)', '(\w+)'\) twice", str(exc))
        if twice:  # a table pasted next to the inline one it replaces (a tune snippet)
            hint = (f": the metric {twice[1]} already has a {twice[2]} (an inline "
                    f"`{twice[2]} = {{ ... }}` under [metrics.{twice[1]}], or a table): keep one, "
                    "and put what both set in it")  # fmt: skip
        raise _Unreadable(f"cannot read catalogue {where}: {exc}{hint}") from None
    except _Unreadable:
        raise
    except CatalogueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
