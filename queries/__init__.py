"""Where the numbers come from: the metric catalogue, ClickHouse and embedded sources, series.

Knows ClickHouse; knows nothing of Telegram or of detectors. The names below are imported on
first use, so that reading the catalogue (settings, `alertbot --help`) does not load pandas,
aiohttp or chDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queries.catalogue import (
        Catalogue,
        CatalogueError,
        Direction,
        Kind,
        Metric,
        Table,
        load_catalogue,
    )
    from queries.errors import (
        QueryFailed,
        SourceError,
        SourceMisconfigured,
        SourceSilent,
        SourceUnavailable,
    )
    from queries.series import Slice, build_series, frame_from_rows
    from queries.sources import ClickHouseSource, EmbeddedSource, Source

_HOME = {
    "Catalogue": "queries.catalogue",
    "CatalogueError": "queries.catalogue",
    "Direction": "queries.catalogue",
    "Kind": "queries.catalogue",
    "Metric": "queries.catalogue",
    "Table": "queries.catalogue",
    "load_catalogue": "queries.catalogue",
    "QueryFailed": "queries.errors",
    "SourceError": "queries.errors",
    "SourceMisconfigured": "queries.errors",
    "SourceSilent": "queries.errors",
    "SourceUnavailable": "queries.errors",
    "Slice": "queries.series",
    "build_series": "queries.series",
    "frame_from_rows": "queries.series",
    "ClickHouseSource": "queries.sources",
    "EmbeddedSource": "queries.sources",
    "Source": "queries.sources",
}

__all__ = [
    "Catalogue", "CatalogueError", "ClickHouseSource", "Direction", "EmbeddedSource", "Kind",
    "Metric", "QueryFailed", "Slice", "Source", "SourceError", "SourceMisconfigured",
    "SourceSilent", "SourceUnavailable", "Table", "build_series", "frame_from_rows",
    "load_catalogue",
]  # fmt: skip
assert sorted(__all__) == sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'queries' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
