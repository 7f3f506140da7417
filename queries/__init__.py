"""Where the numbers come from: the metric catalogue, ClickHouse and embedded sources, series.

Knows ClickHouse; knows nothing of Telegram or of detectors.
"""

from queries.catalogue import (
    Catalogue,
    CatalogueError,
    Direction,
    Kind,
    Metric,
    Table,
    load_catalogue,
)
from queries.errors import QueryFailed, SourceError, SourceMisconfigured, SourceUnavailable
from queries.series import Slice, build_series, frame_from_rows
from queries.sources import ClickHouseSource, EmbeddedSource, Source

__all__ = [
    "Catalogue",
    "CatalogueError",
    "ClickHouseSource",
    "Direction",
    "EmbeddedSource",
    "Kind",
    "Metric",
    "QueryFailed",
    "Slice",
    "Source",
    "SourceError",
    "SourceMisconfigured",
    "SourceUnavailable",
    "Table",
    "build_series",
    "frame_from_rows",
    "load_catalogue",
]
