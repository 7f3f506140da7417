"""An analyst's own tables and SQL, as a team has them rather than as the demo does: Nullable
and Enum slice columns, DateTime in a zone other than UTC, time and user columns of their own
names. The literal tests need no server; those marked `clickhouse` run against the server at
CLICKHOUSE_URL, each in a database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.core.formatting import report_tune
from bot.service import backtesting
from bot.service.tuning import tune
from detectors.backtest import SeriesKey
from detectors.base import Status
from queries.catalogue import CatalogueError, Direction, Kind, Metric, Table, load_catalogue
from queries.errors import QueryFailed, SourceMisconfigured
from queries.series import (
    Slice,
    TableSlices,
    bucket_index,
    build_series,
    frame_from_rows,
    split_slices,
)
from queries.sources import ClickHouseSource
from tests.conftest import empty_database, server_url

START = datetime(2026, 11, 2, tzinfo=UTC)
STEP = timedelta(minutes=15)
INDEX = bucket_index(START, START + 4 * STEP, STEP)
COLUMNS = ("rows", "views")
TABLE = Table("events", "-- no SQL: literal rows", ("channel", "country"), COLUMNS)
VIEWS = Metric("views", "Views", "views", Kind.COUNT, "events", "both"  # type: ignore[arg-type]
               , ("channel", "country"), column="views")  # fmt: skip


def _rows(values: list[str | None]) -> pd.DataFrame:
    """A table's aggregated rows as the server's client gives them (None for NULL): the
    total, two channels, then a country for each of `values`, all in the first bucket."""
    stamp = int(START.timestamp())
    keys = [("total", ""), ("channel", "ads"), ("channel", "email")]
    keys += [("country", value) for value in values]  # type: ignore[misc]
    counts = [10, 6, 4] + [5] * len(values)
    return pd.DataFrame({
        "bucket": [stamp] * len(keys), "dim": [d for d, _ in keys],
        "dim_value": [v for _, v in keys], "rows": counts, "views": counts,
    })  # fmt: skip


def test_a_null_slice_value_gets_no_series_and_takes_none_from_another_dim() -> None:
    """A Nullable slice column's NULL rows count in the total only, as an empty value does:
    they were filed under another dim's value (channel=Russia, its views added to a channel
    that has none), and the NULL group left its own dim."""
    frame = frame_from_rows(_rows(["Russia", None]), COLUMNS)
    sliced = TableSlices(frame, TABLE, INDEX)
    assert sliced.values_of("channel") == ["ads", "email"]
    assert sliced.values_of("country") == ["Russia"]
    assert sliced.slices(VIEWS) == [Slice(), Slice("channel", "ads"), Slice("channel", "email"),
                                    Slice("country", "Russia")]  # fmt: skip
    assert sliced.series(VIEWS, Slice("channel", "email")).iloc[0] == 4
    assert sliced.series(VIEWS, Slice("country", "Russia")).iloc[0] == 5


@pytest.fixture
def own_db() -> Iterator[str]:
    """A database of this test's own on the server of CLICKHOUSE_URL, dropped afterwards."""
    url = server_url()
    if url is None:
        pytest.skip("CLICKHOUSE_URL is not set (CI sets it and runs these)")
    yield from empty_database(lambda: ClickHouseSource(url, database="default", retries=1),
                              "own_tables_test")  # fmt: skip


async def _one_view(source: ClickHouseSource, time_type: str) -> None:
    """Table `events`, its time column of `time_type`, holding one view a minute past START."""
    await source.execute(f"CREATE TABLE events (event_time {time_type}, kind String, channel "
                         "String, country String) ENGINE = MergeTree ORDER BY event_time")
    await source.execute(f"INSERT INTO events VALUES ({int(START.timestamp()) + 60}, 'view', "
                         "'ads', 'Россия')")  # fmt: skip


def _source(database: str) -> ClickHouseSource:
    url = server_url()
    assert url is not None
    return ClickHouseSource(url, database=database, retries=1, timeout=30)


EVENTS_SQL = """
SELECT bucket, dim, dim_value, rows, views FROM (
    SELECT toUInt32(toStartOfFifteenMinutes(event_time)) AS bucket, 'total' AS dim,
        '' AS dim_value, count() AS rows, countIf(kind = 'view') AS views
    FROM events
    WHERE event_time >= toDateTime(0)          -- {start}
      AND event_time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket
    UNION ALL
    SELECT toUInt32(toStartOfFifteenMinutes(event_time)) AS bucket, 'channel' AS dim,
        CAST(channel AS String) AS dim_value, count() AS rows, countIf(kind = 'view') AS views
    FROM events
    WHERE event_time >= toDateTime(0)          -- {start}
      AND event_time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, dim_value
    UNION ALL
    SELECT toUInt32(toStartOfFifteenMinutes(event_time)) AS bucket, 'country' AS dim,
        country AS dim_value, count() AS rows, countIf(kind = 'view') AS views
    FROM events
    WHERE event_time >= toDateTime(0)          -- {start}
      AND event_time < toDateTime(4102444800)  -- {end}
    GROUP BY bucket, dim_value
)
ORDER BY bucket, dim, dim_value
"""


@pytest.mark.clickhouse
async def test_a_nullable_slice_column_in_moscow_time_keeps_every_slice_s_numbers(
    own_db: str,
) -> None:
    """Events in DateTime('Europe/Moscow') with an Enum channel and a Nullable country: the
    buckets are UTC's, each channel has its own views, and the NULL countries none."""
    source = _source(own_db)
    try:
        await source.execute(
            "CREATE TABLE events (event_date Date, event_time DateTime('Europe/Moscow'), "
            "uid UInt64, kind Enum8('view' = 1, 'click' = 2), "
            "channel Enum8('ads' = 1, 'email' = 2), country Nullable(String)) "
            "ENGINE = MergeTree PARTITION BY event_date ORDER BY event_time"
        )
        stamp = int(START.timestamp()) + 60
        await source.execute(
            "INSERT INTO events SELECT toDate(t), t, number, 'view', "
            "if(number % 5 < 3, 'ads', 'email'), if(number % 5 = 4, NULL, 'Россия') "
            f"FROM (SELECT toDateTime({stamp}) AS t, number FROM system.numbers LIMIT 10)"
        )
        table = Table("events", EVENTS_SQL, ("channel", "country"), COLUMNS,
                      time_column="event_time")  # fmt: skip
        frame = await source.fetch(table, START, START + 4 * STEP)
    finally:
        await source.close()
    sliced = TableSlices(frame, table, INDEX)
    views = {where.label(): sliced.series(VIEWS, where).iloc[0] for where in sliced.slices(VIEWS)}
    assert views == {"total": 10, "channel=ads": 6, "channel=email": 4, "country=Россия": 8}


def test_a_bucket_given_as_a_date_and_time_says_how_to_write_it() -> None:
    """`toStartOfFifteenMinutes(time) AS bucket` without toUInt32 comes back as date-times:
    said as such with the line to write, not as 'Out of bounds microsecond timestamp'."""
    rows = _rows(["Russia"]).assign(bucket=datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
    with pytest.raises(QueryFailed, match=r"bucket.*toUInt32\(toStartOfFifteenMinutes\(time\)\)"):
        frame_from_rows(rows, COLUMNS)


def test_a_column_of_text_names_the_column_and_what_it_holds() -> None:
    """A value column the SQL gives as text ('RUB 273') names the column and the value, and
    is the catalogue's SQL to fix (exit 2), not a failure to retry (exit 1)."""
    rows = _rows(["Russia"]).astype({"views": object})
    rows.loc[1, "views"] = "RUB 273"
    with pytest.raises(SourceMisconfigured, match=r"views.*'RUB 273'.*number.*CATALOGUE_PATH"):
        frame_from_rows(rows, COLUMNS)


@pytest.mark.clickhouse
async def test_a_value_column_the_sql_makes_text_names_its_table_and_the_sql(
    own_db: str,
) -> None:
    """`concat(toString(countIf(...)), ' views') AS views` in one's own SQL: the error names
    the table and the column and points at the catalogue's SQL, as a setting to fix."""
    source = _source(own_db)
    try:
        await _one_view(source, "DateTime")
        sql = EVENTS_SQL.replace("countIf(kind = 'view') AS views",
                                 "concat(toString(countIf(kind = 'view')), ' views') AS views")
        table = Table("events", sql, ("channel", "country"), COLUMNS, time_column="event_time")
        with pytest.raises(SourceMisconfigured) as caught:
            await source.fetch(table, START, START + STEP)
    finally:
        await source.close()
    said = str(caught.value)
    assert said.startswith("the query for events: the column views holds '1 views'"), said
    assert "CATALOGUE_PATH" in said


@pytest.mark.clickhouse
async def test_a_query_s_unreadable_answer_names_its_table(own_db: str) -> None:
    """The error of a query whose answer cannot be read names the table it is for."""
    source = _source(own_db)
    try:
        await _one_view(source, "DateTime('Europe/Moscow')")
        sql = EVENTS_SQL.replace("toUInt32(toStartOfFifteenMinutes(event_time))",
                                 "toStartOfFifteenMinutes(event_time)")  # fmt: skip
        table = Table("events", sql, ("channel", "country"), COLUMNS, time_column="event_time")
        with pytest.raises(QueryFailed, match=r"^the query for events: .*bucket.*toUInt32"):
            await source.fetch(table, START, START + 4 * STEP)
    finally:
        await source.close()


ORDERS_SQL = """
SELECT bucket, dim, dim_value, rows, orders FROM (
    SELECT toUInt32(toStartOfFifteenMinutes(ts)) AS bucket, 'total' AS dim, '' AS dim_value,
        count() AS rows, count() AS orders
    FROM {table}
    WHERE ts >= toDateTime(0)          -- {{start}}
      AND ts < toDateTime(4102444800)  -- {{end}}
    GROUP BY bucket
)
ORDER BY bucket
"""
OLD_END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _two_tables(folder: Path) -> Path:
    """A catalogue of an old table (ten days) and a table begun a day ago, one metric each."""
    (folder / "old.sql").write_text(ORDERS_SQL.format(table="old_orders"))
    (folder / "new.sql").write_text(ORDERS_SQL.format(table="new_orders"))
    path = folder / "catalogue.toml"
    path.write_text(
        '[defaults]\nhistory_days = 7\n\n'
        '[tables.old_orders]\nsql = "old.sql"\ndims = []\ncolumns = ["rows", "orders"]\n'
        'time_column = "ts"\n\n'
        '[tables.new_orders]\nsql = "new.sql"\ndims = []\ncolumns = ["rows", "orders"]\n'
        'time_column = "ts"\n\n'
        '[metrics.old]\ntable = "old_orders"\ncolumn = "orders"\n\n'
        '[metrics.new]\ntable = "new_orders"\ncolumn = "orders"\n'
    )  # fmt: skip
    return path


@pytest.mark.clickhouse
async def test_a_table_begun_yesterday_does_not_cut_the_replay_of_an_older_one(
    own_db: str, tmp_path: Path
) -> None:
    """backtest and tune over the whole catalogue replay each table from where its own data
    begins: a table created a day ago cut every other table's replay to that day, and the
    older one's drop three days ago went unseen (tune searched its settings on one day)."""
    source = _source(own_db)
    try:
        for name, days in (("old_orders", 10), ("new_orders", 1)):
            await source.execute(f"CREATE TABLE {name} (ts DateTime, customer_id UInt32) "
                                 "ENGINE = MergeTree ORDER BY ts")  # fmt: skip
            first = int((OLD_END - timedelta(days=days)).timestamp())
            drop = int((OLD_END - timedelta(days=3)).timestamp())
            # Twenty orders a minute; for an hour three days ago, in one minute of five.
            await source.execute(
                f"INSERT INTO {name} SELECT toDateTime(t), arrayJoin(range(20)) FROM (SELECT "
                f"{first} + "
                f"number * 60 AS t FROM system.numbers LIMIT {days * 1440}) "
                f"WHERE NOT (t >= {drop} AND t < {drop + 3600} AND t % 300 != 0)"
            )
        catalogue = load_catalogue(_two_tables(tmp_path))
        collected = await backtesting.collect(source, catalogue, now=OLD_END, days=5,
                                              delay=timedelta(minutes=2))  # fmt: skip
    finally:
        await source.close()
    result = backtesting.run(collected, None, STEP)
    assert result.start == result.end - timedelta(days=5)
    old = [a.start for a in result.alerts[SeriesKey("old")]]
    assert any(OLD_END - timedelta(days=3) <= at < OLD_END - timedelta(days=3, hours=-1)
               for at in old), old  # fmt: skip
    assert all(a.start >= OLD_END - timedelta(days=1) for a in result.alerts[SeriesKey("new")])
    (old_choice, new_choice) = await tune(collected, None, STEP, target_per_week=1.0)
    assert old_choice.start.alerts >= 1 and new_choice.metric == "new"
    report = report_tune([old_choice, new_choice], collected, False, 1.0)
    assert report.startswith("tuned on 5 days of history")
    assert "new: 1 day" in report


def _events_catalogue(folder: Path, table_keys: str = "") -> Path:
    (folder / "events.sql").write_text(EVENTS_SQL)
    path = folder / "catalogue.toml"
    path.write_text(f'[tables.events]\nsql = "events.sql"\ndims = ["channel", "country"]\n'
                    f'columns = ["rows", "views"]\n{table_keys}\n'
                    '[metrics.views]\ntable = "events"\ncolumn = "views"\n')  # fmt: skip
    return path


def test_the_time_column_is_the_one_the_window_markers_bound(tmp_path: Path) -> None:
    """A table whose SQL bounds event_time needs no time_column: the freshness query (is
    the newest bucket still filling?) asked for a column `time` the table does not have, and
    its error, a warning in the log, turned 'data is late' into a drop that alerts."""
    catalogue = load_catalogue(_events_catalogue(tmp_path))
    assert catalogue.tables["events"].time_column == "event_time"


def test_a_time_column_the_sql_never_names_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r'time_column: its SQL never names "time".*'
                                             r'event_time'):  # fmt: skip
        load_catalogue(_events_catalogue(tmp_path, 'time_column = "time"\n'))


@pytest.mark.clickhouse
async def test_how_fresh_a_table_is_reads_its_own_time_column(
    own_db: str, tmp_path: Path
) -> None:
    """The newest event of a table whose time column is event_time, with no time_column."""
    table = load_catalogue(_events_catalogue(tmp_path)).tables["events"]
    source = _source(own_db)
    try:
        await source.execute("CREATE TABLE events (event_time DateTime('Europe/Moscow'), "
                             "kind String, channel String, country String) "
                             "ENGINE = MergeTree ORDER BY event_time")  # fmt: skip
        stamp = int(START.timestamp()) + 60
        await source.execute(f"INSERT INTO events VALUES ({stamp}, 'view', 'ads', 'Россия')")
        fresh = await source.freshness(table, START, START + STEP, START - STEP)
    finally:
        await source.close()
    assert fresh.latest == START + timedelta(seconds=60)


@pytest.mark.clickhouse
async def test_a_typo_in_a_catalogue_s_sql_points_at_the_sql_not_at_the_demo_schema(
    own_db: str, tmp_path: Path
) -> None:
    """A column or table misspelt in one's own .sql is said as such: the hints sent the
    analyst to the demo's schema ('Data the queries expect', not in README) and to
    `alertbot seed`, which makes the demo's tables, not theirs."""
    source = _source(own_db)
    try:
        await source.execute("CREATE TABLE events (event_time DateTime, kind String, "
                             "channel String, country String) ENGINE = MergeTree "
                             "ORDER BY event_time")  # fmt: skip
        for typo, says in (("kind", "kindd"), ("FROM events", "FROM eventz")):
            sql = EVENTS_SQL.replace(typo, says)
            table = Table("events", sql, ("channel", "country"), COLUMNS)
            with pytest.raises(SourceMisconfigured) as caught:
                await source.fetch(table, START, START + STEP)
            assert "CATALOGUE_PATH" in str(caught.value), caught.value
            assert "'Data the queries expect'" not in str(caught.value)
    finally:
        await source.close()


NO_SUPERTYPE = ("Code: 386, e.displayText() = DB::Exception: There is no supertype for types "
                "String, LowCardinality(String) because some of them are String/FixedString and "
                "some of them are not, e.what() = DB::Exception")  # fmt: skip


def test_a_union_of_mixed_types_is_the_catalogue_s_to_fix() -> None:
    """ClickHouse 18.16's 'no supertype' for a UNION ALL of String and LowCardinality(String)
    levels was quoted as a rejected query (exit 1, 'try again later'): the SQL is the
    catalogue's, so it is a setting to fix (exit 2) with the CAST to write."""
    from queries.sources import classify_server_error

    error = classify_server_error(NO_SUPERTYPE, where="ClickHouse at http://ch:8123")
    assert isinstance(error, SourceMisconfigured), error
    said = str(error)
    assert "There is no supertype for types String, LowCardinality(String)" in said
    assert "CATALOGUE_PATH" in said and "CAST(x AS String) AS dim_value" in said, said


@pytest.mark.clickhouse
async def test_a_low_cardinality_slice_beside_string_ones_points_at_the_cast(
    own_db: str,
) -> None:
    """The same on the server: a slice's value left LowCardinality beside the total's ''.
    (A server newer than 18.16 finds them a common type and answers: nothing to say then.)"""
    source = _source(own_db)
    try:
        try:
            await source.query("SELECT x FROM (SELECT toLowCardinality('a') AS x "
                               "UNION ALL SELECT 'b' AS x)")  # fmt: skip
        except SourceMisconfigured:
            pass
        else:
            pytest.skip("this server finds String and LowCardinality(String) a common type")
        await _one_view(source, "DateTime")
        sql = EVENTS_SQL.replace("country AS dim_value", "toLowCardinality(country) AS dim_value")
        table = Table("events", sql, ("channel", "country"), COLUMNS, time_column="event_time")
        with pytest.raises(SourceMisconfigured, match=r"CAST\(x AS String\) AS dim_value"):
            await source.fetch(table, START, START + STEP)
    finally:
        await source.close()


@pytest.mark.parametrize("matrix", [False, True], ids=["series", "matrix"])
def test_a_ratio_whose_denominator_was_zero_is_undefined_not_missing(matrix: bool) -> None:
    """conversion = purchases / clicks on a slice that had events but no clicks in the bucket:
    'no data for this bucket' said the slice had none, though it had rows; the ratio is
    undefined there, and the reason says why (per series and on the engines' matrix path)."""
    from bot.core.i18n import translator
    from bot.core.reasons import reason_text
    from bot.service.checker import detect
    from bot.service.engines import Engines
    from queries.history import Window

    days = 3
    index = bucket_index(START, START + timedelta(days=days), STEP)
    stamps = [int(t.timestamp()) for t in index]
    rows = []
    for i, stamp in enumerate(stamps):
        last = i == len(stamps) - 1
        rows += [(stamp, "total", "", 100, 10, 50), (stamp, "channel", "ads", 60, 6, 30),
                 (stamp, "channel", "email", 40, 4, 0 if last else 20)]  # fmt: skip
    frame = frame_from_rows(pd.DataFrame(rows, columns=["bucket", "dim", "dim_value", "rows",
                                                        "purchases", "clicks"]),
                            ("rows", "purchases", "clicks"))  # fmt: skip
    table = Table("events", "-- literal rows", ("channel",), ("rows", "purchases", "clicks"))
    conversion = Metric("conversion", "Conversion", "", Kind.RATIO, "events", Direction.BOTH,
                        ("channel",), numerator="purchases", denominator="clicks")
    window = Window(START, START + timedelta(days=days), START)
    results = detect(frame, window, table, [conversion], STEP,
                     engines=Engines() if matrix else None)  # fmt: skip
    verdicts = {r.slice: r.verdict for r in results}
    email = verdicts[Slice("channel", "email")]
    assert email.value is None
    assert email.reason.startswith("undefined: its denominator (clicks) was 0 in this bucket")
    assert "no data" not in email.reason
    assert not verdicts[Slice("channel", "ads")].reason.startswith("undefined")
    russian = reason_text(email.reason, translator("ru"))
    assert russian.startswith("не определено: знаменатель (clicks) в этом интервале равен 0")


def _began_at(first: int, days: int, *, part: int = 300) -> pd.DataFrame:
    """A table whose events begin in bucket `first` (at 10:07 of a 10:00 bucket: `part`
    events where a whole bucket holds about 600), then run for `days` days from START."""
    rows = []
    for i, stamp in enumerate(bucket_index(START, START + timedelta(days=days), STEP)):
        if i < first:
            continue
        total = part if i == first else 600 + (i * 37) % 41 - 20
        ads = total * 6 // 10
        rows += [(int(stamp.timestamp()), "total", "", total, total),
                 (int(stamp.timestamp()), "channel", "ads", ads, ads),
                 (int(stamp.timestamp()), "channel", "email", total - ads, total - ads)]
    return frame_from_rows(pd.DataFrame(rows, columns=["bucket", "dim", "dim_value", "rows",
                                                       "views"]), COLUMNS)  # fmt: skip


@pytest.mark.parametrize("matrix", [False, True], ids=["series", "matrix"])
def test_a_new_table_s_first_bucket_is_no_history_for_the_next_day(matrix: bool) -> None:
    """A table that begins at 10:07 holds a third fewer events in its first bucket than a
    whole one. Read as history, that part of a bucket was the next day's expected value at
    10:00, and the whole bucket then alerted as a rise of 100%. The first bucket of a table
    that begins inside the window is left out (missing, not zero): the next day is judged on
    the buckets the table had in full."""
    from bot.service.checker import detect
    from bot.service.engines import Engines
    from queries.history import Window

    first = 40  # 10:00 on the first day
    frame = _began_at(first, 2)
    index = bucket_index(START, START + timedelta(days=2), STEP)
    sliced = TableSlices(frame, TABLE, index)
    assert np.isnan(sliced.series(VIEWS, Slice()).iloc[first])  # missing, not 0
    assert sliced.series(VIEWS, Slice()).iloc[first + 1] > 500
    assert np.isnan(sliced.series(VIEWS, Slice("channel", "ads")).iloc[first])
    # The same on the per-metric path the backtests take.
    parts = split_slices(frame, index)
    assert np.isnan(build_series(parts, VIEWS, Slice(), index).iloc[first])
    # The next day's 10:00 bucket, the newest of the window, is judged against whole buckets.
    end = START + timedelta(days=1) + (first + 1) * STEP
    window = Window(START, end, START)
    frame = frame[frame["bucket"] < pd.Timestamp(end)]
    views = replace(VIEWS, direction=Direction.BOTH)
    results = detect(frame, window, TABLE, [views], STEP, engines=Engines() if matrix else None)
    total = {r.slice: r.verdict for r in results}[Slice()]
    assert total.bucket == pd.Timestamp(end - STEP)
    assert total.value is not None and total.value > 500
    assert total.status is Status.OK, total


def test_a_table_that_fills_its_window_keeps_its_first_bucket() -> None:
    """Only a table that begins inside the window began mid-bucket as far as anyone knows: one
    with rows in the window's first bucket keeps every bucket."""
    frame = _began_at(0, 1)
    index = bucket_index(START, START + timedelta(days=1), STEP)
    assert TableSlices(frame, TABLE, index).series(VIEWS, Slice()).iloc[0] == 300


def test_a_table_first_seen_by_a_later_check_leaves_out_its_first_bucket() -> None:
    """A table that had no rows at all when the bot started: the check that first reads rows
    of it (moving the held window on) leaves out their first bucket, and so does every later
    one, whether it moves the window in place or copies it."""
    index = bucket_index(START, START + 8 * STEP, STEP)
    empty = TableSlices(_began_at(10**6, 1), TABLE, index)
    assert not empty.present.any()
    frame = _began_at(5, 1)
    later = bucket_index(START + STEP, START + 9 * STEP, STEP)
    fresh = frame[frame["bucket"] >= pd.Timestamp(START + 4 * STEP)]
    fresh = fresh[fresh["bucket"] < pd.Timestamp(START + 9 * STEP)]
    moved = empty.advance(fresh, later, START + 4 * STEP)
    assert moved is not None
    views = moved.series(VIEWS, Slice())
    assert np.isnan(views.iloc[4]) and views.iloc[5] > 500, views  # bucket 5 of START's index
    again = moved.advance(fresh[fresh["bucket"] >= pd.Timestamp(START + 5 * STEP)],
                          bucket_index(START + 2 * STEP, START + 9 * STEP, STEP),
                          START + 5 * STEP)  # fmt: skip
    assert again is not None
    views = again.series(VIEWS, Slice())
    assert np.isnan(views.iloc[3]) and views.iloc[4] > 500, views


@pytest.mark.parametrize("matrix", [False, True], ids=["series", "matrix"])
def test_a_table_with_no_row_in_the_window_says_so_not_no_data(matrix: bool) -> None:
    """A catalogue pointed at an empty table (a wrong database, a feed that stopped weeks
    ago): every metric read "no data for this bucket", as for one missing bucket, and nothing
    said where to look. It names the table, how long it has been empty and what to check, in
    both languages."""
    from bot.core.i18n import translator
    from bot.core.reasons import reason_text
    from bot.service.checker import detect
    from bot.service.engines import Engines
    from queries.history import Window

    end = START + timedelta(days=2)
    frame = _began_at(10**6, 2)
    assert frame.empty
    views = replace(VIEWS, direction=Direction.BOTH)
    results = detect(frame, Window(START, end, START), TABLE, [views], STEP,
                     engines=Engines() if matrix else None)  # fmt: skip
    assert [r.slice for r in results] == [Slice()]
    verdict = results[0].verdict
    assert verdict.status is Status.UNKNOWN and verdict.value is None
    said = "events: no rows in 2 days (is it being filled, and is it the right database?)"
    assert verdict.reason.startswith(said), verdict.reason
    assert reason_text(verdict.reason, translator("ru")).startswith(
        "events: ни одной строки за 2 дня (наполняется ли таблица и та ли это база?)")
    # A table called anything ('; ' and markup in its name): said whole, in Russian too. The
    # reason was read clause by clause, split at the name's '; ', and stayed English.
    odd = "события: <b>Лента</b> & «новости»; старые " * 3
    results = detect(frame, Window(START, end, START), replace(TABLE, name=odd),
                     [replace(views, table=odd)], STEP, engines=Engines() if matrix else None)
    assert results[0].verdict.reason == (
        f"{odd}: no rows in 2 days (is it being filled, and is it the right database?)")
    assert reason_text(results[0].verdict.reason, translator("ru")) == (
        f"{odd}: ни одной строки за 2 дня (наполняется ли таблица и та ли это база?)")
    # A table with rows in the window but none in its newest bucket: a count's missing bucket,
    # which alerts as before.
    frame = _began_at(0, 2)
    frame = frame[frame["bucket"] < pd.Timestamp(end - STEP)]
    results = detect(frame, Window(START, end, START), TABLE, [views], STEP,
                     engines=Engines() if matrix else None)  # fmt: skip
    verdict = results[0].verdict
    assert verdict.status is Status.ANOMALY and verdict.value is None
    assert verdict.reason.startswith("no data, while about 6"), verdict.reason
