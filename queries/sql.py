"""Renders the catalogue's .sql files for a time window. Pure: only values we generate go in."""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["missing_markers", "render"]

_BOUND = re.compile(r"toDateTime\(\s*\d+\s*\)(?P<mark>\s*--\s*\{(?P<name>start|end)\})")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"window bounds must be timezone-aware, got {moment!r}")
    return int(moment.timestamp())


def missing_markers(sql: str) -> str | None:
    """None when the query marks both window bounds; else what to write, in one sentence."""
    seen = {match["name"] for match in _BOUND.finditer(sql)}
    missing = {"start", "end"} - seen
    if not missing:
        return None
    return (
        "the query has no window marker for "
        + " and ".join(sorted(missing))
        + ": write `time >= toDateTime(0) -- {start}` and `time < toDateTime(0) -- {end}`"
    )


def render(
    sql: str,
    *,
    start: datetime,
    end: datetime,
    receiver_column: str | None = None,
) -> str:
    """The query for rows with start <= time < end.

    Bounds go in as unix timestamps so that the server's own time zone cannot shift them.
    `receiver_column` renames receiver_id where the table spells it otherwise.
    """
    values = {"start": _epoch(start), "end": _epoch(end)}
    if values["end"] <= values["start"]:
        raise ValueError(f"empty window: start {start.isoformat()} >= end {end.isoformat()}")
    seen: set[str] = set()

    def bound(match: re.Match[str]) -> str:
        seen.add(match["name"])
        return f"toDateTime({values[match['name']]}){match['mark']}"

    text = _BOUND.sub(bound, sql)
    missing = missing_markers(sql)
    if missing:
        raise ValueError(missing)
    if receiver_column and receiver_column != "receiver_id":
        if not _IDENT.match(receiver_column):
            raise ValueError(f"not a column name: {receiver_column!r}")
        text = re.sub(r"\breceiver_id\b", receiver_column, text)
    return text
