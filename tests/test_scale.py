"""The check at scale: cheaper table SQL with the same numbers, the binary history cache, and
table-level slicing done once per table, each compared with the path it replaced."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.service.checker import run_check
from bot.service.history import History
from bot.state import State
from bot.state.db import MIGRATIONS
from queries.catalogue import load_catalogue
from queries.history import Window, complete_end, merge
from queries.series import (
    Slice,
    TableSlices,
    bucket_index,
    build_series,
    frame_from_rows,
    slices_of,
    split_slices,
    weight_series,
)
from queries.sql import render
from tests.conftest import DAYS, END, SourceSpec

CATALOGUE = load_catalogue()
WINDOW_END = complete_end(END, CATALOGUE.step, timedelta(minutes=2))
WINDOW_START = WINDOW_END - timedelta(days=DAYS)

# The table SQL as it was before the UNION ALL rewrite: the reference the new text must match.
OLD_SQL = {
    "feed_actions": """
-- Every feed metric for every slice level of feed_actions, in one scan.
-- Runnable as-is (clickhouse-client --database simulator < feed_actions.sql): the bot only
-- replaces the two window bounds below, marked {start} and {end}, with unix timestamps.
--
-- The inner query folds the raw rows to one row per bucket, user and (os, source, country);
-- grouping by a hash of the three strings is exact and several times cheaper than grouping
-- by the strings. ARRAY JOIN then repeats each folded row once per slice level, so the total
-- and every slice are aggregated in the same pass. Users are counted with uniqExact at every
-- level, never summed across slices.
SELECT
    bucket,
    dim,
    multiIf(dim = 'os', os_, dim = 'source', source_, dim = 'country', country_, '') AS dim_value,
    sum(events) AS rows,
    uniqExact(user_id) AS users,
    sum(user_views) AS views,
    sum(user_likes) AS likes
FROM
(
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        user_id,
        cityHash64(os, source, country) AS attrs,
        any(os) AS os_,
        any(source) AS source_,
        any(country) AS country_,
        count() AS events,
        countIf(action = 'view') AS user_views,
        countIf(action = 'like') AS user_likes
    FROM feed_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, user_id, attrs
)
ARRAY JOIN ['total', 'os', 'source', 'country'] AS dim
GROUP BY bucket, dim, dim_value
ORDER BY bucket, dim, dim_value
""",
    "message_actions": """
-- Every messenger metric for every slice level of message_actions, in one scan.
-- Runnable as-is (clickhouse-client --database simulator < message_actions.sql): the bot only
-- replaces the two window bounds below, marked {start} and {end}, with unix timestamps, and
-- writes receiver_id as the table spells it (some installations have reciever_id).
-- Same shape as feed_actions.sql: fold per bucket, sender and attributes, then one pass over
-- all slice levels.
SELECT
    bucket,
    dim,
    multiIf(dim = 'os', os_, dim = 'source', source_, dim = 'country', country_, '') AS dim_value,
    sum(sent) AS rows,
    uniqExact(user_id) AS users,
    sum(sent) AS messages,
    uniqExactArray(receivers) AS receivers
FROM
(
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        user_id,
        cityHash64(os, source, country) AS attrs,
        any(os) AS os_,
        any(source) AS source_,
        any(country) AS country_,
        count() AS sent,
        groupUniqArray(receiver_id) AS receivers
    FROM message_actions
    WHERE time >= toDateTime(0)          -- {start}
      AND time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, user_id, attrs
)
ARRAY JOIN ['total', 'os', 'source', 'country'] AS dim
GROUP BY bucket, dim, dim_value
ORDER BY bucket, dim, dim_value
""",
}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["bucket", "dim", "dim_value"]).reset_index(drop=True)


async def _old_and_new(spec: SourceSpec) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    source = spec.open()
    try:
        out = {}
        for name, table in CATALOGUE.tables.items():
            receiver = await source.receiver_column(table)
            old_sql = render(OLD_SQL[name], start=WINDOW_START, end=WINDOW_END,
                             receiver_column=receiver)  # fmt: skip
            old = frame_from_rows(await source.query(old_sql), table.columns)
            new = await source.fetch(table, WINDOW_START, WINDOW_END)
            out[name] = (old, new)
        return out
    finally:
        await source.close()


def _assert_same_numbers(frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> None:
    for name, (old, new) in frames.items():
        assert len(old) > 1000, name
        assert list(new.columns) == list(old.columns)
        pd.testing.assert_frame_equal(_sorted(new), _sorted(old), check_exact=True)
        # ... and in the same order: the query still sorts its output.
        assert new[["bucket", "dim", "dim_value"]].equals(old[["bucket", "dim", "dim_value"]])


@pytest.mark.slow
async def test_union_all_sql_gives_the_array_join_numbers_on_chdb(
    embedded_spec: SourceSpec,
) -> None:
    """On chDB, both tables' new SQL returns exactly the rows and numbers of the old fold."""
    _assert_same_numbers(await _old_and_new(embedded_spec))


@pytest.mark.clickhouse
async def test_union_all_sql_gives_the_array_join_numbers_on_clickhouse(
    server_spec: SourceSpec,
) -> None:
    """On the ClickHouse server, both tables' new SQL returns exactly the old fold's rows."""
    _assert_same_numbers(await _old_and_new(server_spec))


def _assert_slices_match(frame: pd.DataFrame, table_name: str, index: pd.DatetimeIndex) -> int:
    table = CATALOGUE.tables[table_name]
    sliced = TableSlices(frame, table, index)
    parts = split_slices(frame, index)
    checked = 0
    for metric in CATALOGUE.metrics_of(table_name):
        old = slices_of(frame, table, metric)
        assert sliced.slices(metric) == old
        for where in old:
            pd.testing.assert_series_equal(
                sliced.series(metric, where), build_series(parts, metric, where, index)
            )
            pd.testing.assert_series_equal(
                sliced.weight(metric, where), weight_series(parts, metric, where, index)
            )
            checked += 1
    return checked


@pytest.mark.slow
async def test_table_slices_equal_the_per_metric_path_on_the_demo(
    embedded_spec: SourceSpec,
) -> None:
    """Slice lists, top-N ranking, series and weights built once per table are exactly what
    slices_of / split_slices / build_series give per metric, for every demo metric."""
    frames = await _old_and_new(embedded_spec)
    index = bucket_index(WINDOW_START, WINDOW_END, CATALOGUE.step)
    checked = sum(_assert_slices_match(new, name, index) for name, (_, new) in frames.items())
    assert checked == 60


def test_table_slices_keep_ties_gaps_and_missing_slices_like_the_old_path() -> None:
    """Equal row counts rank by value, a slice absent in a bucket is 0 (NaN where the table
    is), a value outside the top N and an empty value get no series."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    index = bucket_index(start, start + timedelta(hours=2), CATALOGUE.step)
    rng = np.random.default_rng(7)
    rows = []
    for i, bucket in enumerate(index):
        if i == 3:
            continue  # the whole table is missing here: NaN everywhere
        rows.append((bucket, "total", "", 100.0, 50.0, 80.0, 20.0))
        for country in ("NL", "DE", "AT", "BE", "CH", "DK", "ES", ""):
            if country == "DE" and i % 2:
                continue  # DE had no rows in odd buckets: zeros
            n = 10.0 if country in ("AT", "BE", "CH", "DK", "ES") else float(rng.integers(5, 9))
            rows.append((bucket, "country", country, n, 3.0, n - 2, 2.0))
        rows.append((bucket, "os", "iOS", 60.0, 30.0, 0.0 if i == 5 else 50.0, 10.0))
    frame = pd.DataFrame(
        rows, columns=["bucket", "dim", "dim_value", "rows", "users", "views", "likes"]
    )
    assert _assert_slices_match(frame, "feed_actions", index) > 0
    table = replace(CATALOGUE.tables["feed_actions"], top_n={"country": 3})
    sliced = TableSlices(frame, table, index)
    assert sliced.values_of("country") == ["AT", "BE", "CH"]  # ties: by value
    ctr = sliced.series(CATALOGUE.metric("ctr"), sliced.slices(CATALOGUE.metric("ctr"))[0])
    assert np.isnan(ctr.iloc[3])


def _frame(start: datetime, hours: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    buckets = pd.date_range(start, periods=hours * 4, freq="15min", tz="UTC")
    keys = (
        [("total", "")]
        + [("os", v) for v in ("Android", "iOS")]
        + [("cohort", f"c{i}") for i in range(5)]
    )
    rows = [(b, d, v) for b in buckets for d, v in keys]
    frame = pd.DataFrame(rows, columns=["bucket", "dim", "dim_value"])
    frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
    frame["rows"] = rng.integers(0, 1000, len(frame)).astype("float64")
    frame["users"] = rng.random(len(frame)) * 1e6
    frame.loc[frame.index % 11 == 0, "users"] = np.nan
    return frame


def test_binary_history_cache_round_trips_and_replaces_only_the_new_range(
    tmp_path: Path,
) -> None:
    """60 hours saved, then a re-save an hour before the end with a later start: the file
    gives back exactly the held rows before the re-save point, then the new ones, bit for bit."""
    columns = ("rows", "users")
    start = datetime(2026, 11, 1, 18, tzinfo=UTC)
    first = _frame(start, 60, seed=1)
    path = tmp_path / "state.sqlite3"
    state = State(path)
    end = start + timedelta(hours=60)
    state.history.save("src", "q", first, columns, held_from=start, replace_from=start,
                       held_until=end)  # fmt: skip
    state.close()
    loaded = State(path).history.load("src", "q", columns)
    assert loaded is not None
    pd.testing.assert_frame_equal(loaded[0], first, check_exact=True)
    assert loaded[1:] == (start, end)

    held_from, replace_from = start + timedelta(hours=7), end - timedelta(hours=1)
    fresh = _frame(replace_from, 2, seed=2)
    state = State(path)
    state.history.save("src", "q", fresh, columns, held_from=held_from,
                       replace_from=replace_from, held_until=end + timedelta(hours=1))  # fmt: skip
    again = state.history.load("src", "q", columns)
    assert again is not None
    kept = first[(first["bucket"] >= held_from) & (first["bucket"] < replace_from)]
    expected = pd.concat([kept, fresh], ignore_index=True)
    pd.testing.assert_frame_equal(again[0], expected, check_exact=True)
    assert again[1:] == (held_from, end + timedelta(hours=1))
    # Chunks wholly before held_from are gone: the file holds the 4-hour chunks of what is held.
    stored = state.db.rows("SELECT count(*) FROM history_chunks")[0][0]
    assert stored == expected["bucket"].dt.floor("4h").nunique() == 14


def test_a_state_file_with_the_json_history_cache_still_opens(tmp_path: Path) -> None:
    """A file written before the columnar cache opens: its subscriptions stay, its JSON history
    rows are dropped (the next check fetches them again) and new saves work."""
    path = tmp_path / "old.sqlite3"
    old_version = MIGRATIONS.index(next(m for m in MIGRATIONS if "history_chunks" in m))
    db = sqlite3.connect(path)
    for number, step in enumerate(MIGRATIONS[:old_version]):
        db.executescript(f"BEGIN; {step}; PRAGMA user_version = {number + 1}; COMMIT;")
    db.execute("INSERT INTO history_meta VALUES ('src', 'q', 0, 900)")
    db.execute("INSERT INTO history_rows VALUES ('src', 'q', 0, 'total', '', '[1.0, 2.0]')")
    db.execute("INSERT INTO subscriptions VALUES (42, '*', 0)")
    db.commit()
    db.close()
    state = State(path)
    assert state.db.schema_version == len(MIGRATIONS)
    assert state.db.rows("SELECT chat_id FROM subscriptions") == [(42,)]
    assert state.history.load("src", "q", ("rows", "users")) is None
    frame = _frame(datetime(2026, 11, 1, tzinfo=UTC), 1, seed=3)
    state.history.save("src", "q", frame, ("rows", "users"), held_from=datetime(2026, 11, 1,
                       tzinfo=UTC), replace_from=datetime(2026, 11, 1, tzinfo=UTC),
                       held_until=datetime(2026, 11, 1, 1, tzinfo=UTC))  # fmt: skip
    loaded = state.history.load("src", "q", ("rows", "users"))
    assert loaded is not None
    pd.testing.assert_frame_equal(loaded[0], frame, check_exact=True)


@pytest.mark.slow
async def test_table_slices_moved_on_equal_slices_built_from_the_merged_rows(
    embedded_spec: SourceSpec,
) -> None:
    """A steady refresh (held buckets kept, re-fetched ones replaced, a new slice value and a
    vanished one) gives exactly the slices, ranking, series and weights of a full rebuild."""
    table = CATALOGUE.tables["feed_actions"]
    full = (await _old_and_new(embedded_spec))["feed_actions"][1]
    step = CATALOGUE.step
    before = Window(WINDOW_START, WINDOW_END - step, WINDOW_START)
    after = Window(WINDOW_START + step, WINDOW_END, WINDOW_END - step - timedelta(hours=1))
    held = full[full["bucket"] < before.end].reset_index(drop=True)
    first = held["bucket"] == WINDOW_START
    held = pd.concat(  # a country seen only in the bucket that leaves the window
        [held, held[first & (held["dim"] == "total")].assign(dim="country", dim_value="ZZ")],
        ignore_index=True,
    )
    fresh = full[full["bucket"] >= after.fetch_start].reset_index(drop=True)
    fresh[["rows", "views"]] = fresh[["rows", "views"]] * 3  # late rows changed the numbers
    newcomer = fresh[fresh["dim"] == "total"].assign(dim="os", dim_value="KaiOS", rows=1e9)
    fresh = pd.concat([fresh, newcomer], ignore_index=True)

    old = TableSlices(held, table, bucket_index(before.start, before.end, step))
    assert "ZZ" in old.ranking["country"]
    index = bucket_index(after.start, after.end, step)
    moved = old.advance(fresh, index, after.fetch_start)
    assert moved is not None
    merged = merge(held, fresh, after)
    rebuilt = TableSlices(merged, table, index)
    assert moved.ranking == rebuilt.ranking and moved.ranking["os"][0] == "KaiOS"
    assert "ZZ" not in moved.ranking["country"] and Slice("country", "ZZ") not in moved.slots
    assert _assert_slices_match(merged, "feed_actions", index) == 4 * 11
    for metric in CATALOGUE.metrics_of("feed_actions"):
        assert moved.slices(metric) == rebuilt.slices(metric)
        for where in rebuilt.slices(metric):
            pd.testing.assert_series_equal(moved.series(metric, where),
                                           rebuilt.series(metric, where))  # fmt: skip
            pd.testing.assert_series_equal(moved.weight(metric, where),
                                           rebuilt.weight(metric, where))  # fmt: skip


@pytest.mark.slow
async def test_a_steady_check_judges_like_a_check_without_held_history(
    embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Two checks 15 minutes apart through the held history (slices moved on, cache in the
    state file) give the same series and verdicts as one check that fetches everything."""
    source = embedded_spec.open()
    state = State(tmp_path / "state.sqlite3")
    try:
        held = History(source, CATALOGUE, state.history)
        await run_check(held, END - timedelta(minutes=15), delay=timedelta(minutes=2))
        steady = await run_check(held, END, delay=timedelta(minutes=2))
        assert held.moved_on == 2  # both tables' slices were moved on, not rebuilt
        full = await run_check(History(source, CATALOGUE, None), END,
                               delay=timedelta(minutes=2))  # fmt: skip
    finally:
        state.close()
        await source.close()
    assert len(steady.results) == len(full.results) == 60
    for a, b in zip(steady.results, full.results, strict=True):
        assert (a.metric.name, a.slice) == (b.metric.name, b.slice)
        pd.testing.assert_series_equal(a.series, b.series)
        assert a.verdict.status == b.verdict.status
