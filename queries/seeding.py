"""Writes the synthetic dataset into a source, and keeps the embedded demo live.

The dataset's description (seed, span) and how far it has been loaded live in two small
tables beside the data, so that `extend` continues the same generator on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from queries import demo
from queries.errors import SourceMisconfigured
from queries.sources import Source

__all__ = ["TABLE_DDL", "DemoNotSeeded", "extend", "loaded_until", "read_config", "seed"]

log = logging.getLogger(__name__)

META = "_alertbot_demo"
LOADS = "_alertbot_demo_loads"

_FEED_DDL = """
CREATE TABLE IF NOT EXISTS feed_actions (
    user_id UInt32, post_id UInt32, action String, time DateTime,
    gender Int8, age Int16, country String, city String, os String, source String,
    exp_group Int8
) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (time, user_id)
"""
_MESSAGE_DDL = """
CREATE TABLE IF NOT EXISTS message_actions (
    user_id UInt32, receiver_id UInt32, time DateTime,
    gender Int8, age Int16, country String, city String, os String, source String,
    exp_group Int8
) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (time, user_id)
"""

# The schema of the tables a seed creates (also what a cluster's shards hold, tests/test_cluster).
TABLE_DDL = {"feed_actions": _FEED_DDL, "message_actions": _MESSAGE_DDL}

Progress = Callable[[float, int], None]


class DemoNotSeeded(SourceMisconfigured):
    """The database has no demo dataset to extend."""


async def _tables(source: Source) -> set[str]:
    frame = await source.query(
        f"SELECT name FROM system.tables WHERE database = '{source.database}'"
    )
    return {str(n) for n in frame.get("name", [])}


async def read_config(source: Source) -> demo.DemoConfig | None:
    """The dataset's description, or None where the database holds no seeded demo, or a seed
    that never finished (`seed` writes the description after the rows)."""
    if META not in await _tables(source):
        return None
    frame = await source.query(f"SELECT config FROM {META}")
    if frame.empty:
        return None
    return demo.DemoConfig.from_json(str(frame["config"].iloc[-1]))


async def loaded_until(source: Source) -> datetime | None:
    frame = await source.query(f"SELECT toUInt32(max(loaded_until)) AS t FROM {LOADS}")
    if frame.empty or int(frame["t"].iloc[0]) == 0:
        return None
    return datetime.fromtimestamp(int(frame["t"].iloc[0]), tz=UTC)


async def _load(
    source: Source,
    config: demo.DemoConfig,
    after: datetime,
    until: datetime,
    progress: Progress | None,
) -> int:
    rows = 0
    span = max((until - after).total_seconds(), 1.0)
    incidents = demo.incidents_for(config, until)
    for chunk_end, batch in demo.generate(config, after, until, incidents=incidents):
        if batch.feed.size:
            await source.bulk_insert(
                "feed_actions", demo.FEED_SELECT, demo.FEED_STRUCTURE, batch.feed.tobytes()
            )
        if batch.messages.size:
            await source.bulk_insert(
                "message_actions",
                demo.MESSAGE_SELECT,
                demo.MESSAGE_STRUCTURE,
                batch.messages.tobytes(),
            )
        rows += batch.feed.size + batch.messages.size
        if progress is not None:
            done = min(1.0, max(0.0, (chunk_end - after).total_seconds() / span))
            progress(done, rows)
    await source.execute(f"INSERT INTO {LOADS} VALUES ({int(until.timestamp())})")
    return rows


async def seed(
    source: Source,
    *,
    days: int,
    end: datetime,
    seed_value: int = 7,
    progress: Progress | None = None,
    planned: tuple[demo.Incident, ...] | None = None,
    live_incidents: bool = True,
) -> tuple[demo.DemoConfig, list[demo.Incident], int]:
    """(Re)create the dataset: `days` of history ending at `end`. Returns config, labels, rows.

    `planned` replaces the standard incidents (an empty tuple: none at all).

    Creates the source's database and the tables where they do not exist yet; refuses to
    drop feed_actions / message_actions that a seed did not create.
    """
    if days < 1:
        raise ValueError(f"--days must be at least 1, got {days}")
    end = end.astimezone(UTC).replace(microsecond=0)
    await source.ensure_database()  # a fresh server has only `default`
    tables = await _tables(source)
    ours = META in tables
    theirs = {"feed_actions", "message_actions"} & tables
    if theirs and not ours:
        raise SourceMisconfigured(
            f"{source.describe()}: database {source.database} already has "
            f"{', '.join(sorted(theirs))} that `alertbot seed` did not create; seeding would "
            "replace real data. Point CLICKHOUSE_DATABASE at an empty database."
        )
    for name in ("feed_actions", "message_actions", META, LOADS):
        await source.execute(f"DROP TABLE IF EXISTS {name}")
    await source.execute(_FEED_DDL)
    await source.execute(_MESSAGE_DDL)
    await source.execute(f"CREATE TABLE {META} (config String) ENGINE = TinyLog")
    await source.execute(f"CREATE TABLE {LOADS} (loaded_until DateTime) ENGINE = TinyLog")
    start = end - timedelta(days=days)
    config = demo.DemoConfig(
        seed=seed_value, start=start, anchor=end, planned=planned, live_incidents=live_incidents
    )
    rows = await _load(source, config, start - timedelta(hours=1), end, progress)
    # The description last: until it is there the dataset is not (a load cut short is seeded
    # again, not extended from its planned end with its last days missing).
    escaped = config.to_json().replace("\\", "\\\\").replace("'", "\\'")
    await source.execute(f"INSERT INTO {META} VALUES ('{escaped}')")
    labels = [i for i in demo.incidents_for(config, end) if i.start < end]
    log.info("seeded %d rows into %s", rows, source.describe())
    return config, labels, rows


async def extend(source: Source, now: datetime, *, history: timedelta) -> int:
    """Append the rows that arrived since the last load, up to `now`. Returns rows added."""
    config = await read_config(source)
    if config is None:
        raise DemoNotSeeded(f"{source.describe()} holds no demo dataset; run `alertbot seed`")
    now = now.astimezone(UTC).replace(microsecond=0)
    since = await loaded_until(source) or config.anchor
    if now <= since:
        return 0
    # After a long pause only the history the detectors look at is worth generating.
    since = max(since, now - history - timedelta(hours=1))
    return await _load(source, config, since, now, None)
