"""The source contract: the same SQL gives the same series from chDB and from a real
ClickHouse server, and every way a source can be wrong ends in a clear SourceError."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from bot.service.checker import History, run_check
from bot.state import State
from queries import seeding
from queries.catalogue import load_catalogue
from queries.errors import QueryFailed, SourceMisconfigured, SourceUnavailable
from queries.history import complete_end
from queries.series import Slice, bucket_index, build_series, split_slices
from queries.sources import ClickHouseSource
from tests.conftest import DAYS, END, SourceSpec

CATALOGUE = load_catalogue()
WINDOW_END = complete_end(END, CATALOGUE.step, timedelta(minutes=2))
WINDOW_START = WINDOW_END - timedelta(days=DAYS)


async def _frames(spec: SourceSpec) -> dict[str, pd.DataFrame]:
    source = spec.open()
    try:
        return {
            name: await source.fetch(table, WINDOW_START, WINDOW_END)
            for name, table in CATALOGUE.tables.items()
        }
    finally:
        await source.close()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["bucket", "dim", "dim_value"]).reset_index(drop=True)


@pytest.mark.slow
async def test_same_series_from_chdb_and_clickhouse_server(
    embedded_spec: SourceSpec, server_spec: SourceSpec
) -> None:
    """Same seeded data, same SQL text: the embedded and the server frames are identical."""
    embedded = await _frames(embedded_spec)
    server = await _frames(server_spec)
    for name in CATALOGUE.tables:
        assert len(embedded[name]) > 1000
        pd.testing.assert_frame_equal(_sorted(embedded[name]), _sorted(server[name]))


async def test_series_cover_every_metric_and_slice(spec: SourceSpec) -> None:
    """Every metric gets a total and its slices; ratios come from totals, not averaged slices."""
    frames = await _frames(spec)
    index = bucket_index(WINDOW_START, WINDOW_END, CATALOGUE.step)
    feed = split_slices(frames["feed_actions"], index)
    views = build_series(feed, CATALOGUE.metric("views"), Slice(), index)
    likes = build_series(feed, CATALOGUE.metric("likes"), Slice(), index)
    ctr = build_series(feed, CATALOGUE.metric("ctr"), Slice(), index)
    assert len(views) == DAYS * 96 and views.notna().all()
    np.testing.assert_allclose(ctr.to_numpy(), (likes / views).to_numpy())
    android = build_series(feed, CATALOGUE.metric("ctr"), Slice("os", "Android"), index)
    ios = build_series(feed, CATALOGUE.metric("ctr"), Slice("os", "iOS"), index)
    assert not np.allclose(ctr.to_numpy(), ((android + ios) / 2).to_numpy())
    users = build_series(feed, CATALOGUE.metric("feed_users"), Slice(), index)
    by_country = feed.keys() - {Slice()}
    assert {s.dim for s in by_country} == {"os", "source", "country"}
    assert (users > 0).all()
    # 0.5-0.75M views and about 18.5k users a day; CTR about 0.2.
    day = views.loc[WINDOW_END - timedelta(days=2) : WINDOW_END - timedelta(days=1, minutes=15)]
    assert 450_000 < day.sum() < 800_000
    assert 0.17 < float(likes.sum() / views.sum()) < 0.23


async def test_outage_buckets_are_missing_not_zero(spec: SourceSpec) -> None:
    """A bucket with no rows at all is NaN, while a slice without rows where the table has
    rows is a true zero."""
    source = spec.open()
    table = CATALOGUE.tables["message_actions"]
    try:
        frame = await source.fetch(table, WINDOW_START, WINDOW_END)
    finally:
        await source.close()
    index = bucket_index(WINDOW_START, WINDOW_END, CATALOGUE.step)
    gap = index[10]
    frame = frame.loc[frame["bucket"] != gap]
    parts = split_slices(frame, index)
    messages = build_series(parts, CATALOGUE.metric("messages"), Slice(), index)
    assert np.isnan(messages[gap]) and messages.drop(gap).notna().all()
    nobody = build_series(parts, CATALOGUE.metric("messages"), Slice("country", "Atlantis"), index)
    assert nobody.drop(gap).eq(0).all()


@pytest.mark.slow
async def test_incremental_history_matches_a_full_fetch(spec: SourceSpec, tmp_path) -> None:
    """A check that fetched only new buckets holds exactly what a full fetch returns, and never
    a bucket that was still filling."""
    source = spec.open()
    state = State(tmp_path / "state.sqlite3")
    try:
        history = History(source, CATALOGUE, state.history)
        delay = timedelta(minutes=2)
        await history.frame(CATALOGUE.tables["feed_actions"], END - timedelta(hours=3), delay)
        frame, window, fetched = await history.frame(CATALOGUE.tables["feed_actions"], END, delay)
        assert not window.is_full and window.fetch_start == window.end - timedelta(hours=4)
        assert 0 < fetched < 400  # four hours of rows, not four days
        filling = END.replace(minute=0, second=0)  # 12:00-12:15 is still filling at 12:07:30
        assert frame["bucket"].max() == filling - timedelta(minutes=15)
        full = await source.fetch(CATALOGUE.tables["feed_actions"], window.start, window.end)
        pd.testing.assert_frame_equal(_sorted(frame), _sorted(full))
        # After a restart the state file gives back the same rows.
        restarted = History(source, CATALOGUE, State(tmp_path / "state.sqlite3").history)
        again, _, refetched = await restarted.frame(CATALOGUE.tables["feed_actions"], END, delay)
        pd.testing.assert_frame_equal(_sorted(again), _sorted(full))
        assert refetched < 400
    finally:
        state.close()
        await source.close()


async def test_check_flags_the_ongoing_demo_incident(spec: SourceSpec, tmp_path) -> None:
    """A check at the dataset's end finds the ongoing Android drop and names the slice."""
    source = spec.open()
    try:
        report = await run_check(
            History(source, CATALOGUE, State(tmp_path / "s.sqlite3").history),
            END,
            delay=timedelta(minutes=2),
        )
    finally:
        await source.close()
    assert not report.errors
    assert len(report.results) >= 6 * 6
    flagged = {(r.metric.name, r.slice.label()) for r in report.anomalies}
    assert any(label == "os=Android" for _, label in flagged), flagged
    assert not any(label == "os=iOS" for _, label in flagged), flagged


async def test_receiver_column_spelling_is_detected(spec: SourceSpec, scratch_db: str) -> None:
    """Installations that spell the column reciever_id work without configuration."""
    source = spec.open(scratch_db)
    try:
        await source.execute(
            "CREATE TABLE message_actions (user_id UInt32, reciever_id UInt32, time DateTime, "
            "gender Int8, age Int16, country String, city String, os String, source String, "
            "exp_group Int8) ENGINE = MergeTree() ORDER BY time"
        )
        stamp = int(WINDOW_START.timestamp()) + 60
        await source.execute(
            "INSERT INTO message_actions VALUES "
            f"(1, 5, toDateTime({stamp}), 0, 20, 'Russia', 'Moscow', 'iOS', 'ads', 1), "
            f"(1, 6, toDateTime({stamp}), 0, 20, 'Russia', 'Moscow', 'iOS', 'ads', 1)"
        )
        table = CATALOGUE.tables["message_actions"]
        frame = await source.fetch(table, WINDOW_START, WINDOW_END)
        total = frame.loc[frame["dim"] == "total"].iloc[0]
        assert (total["messages"], total["users"], total["receivers"]) == (2, 1, 2)
    finally:
        await source.close()


async def test_missing_table_is_a_clear_configuration_error(
    spec: SourceSpec, scratch_db: str
) -> None:
    """An empty database says which table is missing and what to do."""
    source = spec.open(scratch_db)
    try:
        with pytest.raises(SourceMisconfigured, match=r"missing table.*CLICKHOUSE_DATABASE"):
            await source.fetch(CATALOGUE.tables["feed_actions"], WINDOW_START, WINDOW_END)
        with pytest.raises(SourceMisconfigured, match="does not exist"):
            await source.fetch(CATALOGUE.tables["message_actions"], WINDOW_START, WINDOW_END)
    finally:
        await source.close()


async def test_missing_column_is_a_clear_configuration_error(
    spec: SourceSpec, scratch_db: str
) -> None:
    """A table without the columns the queries need names the problem."""
    source = spec.open(scratch_db)
    try:
        await source.execute(
            "CREATE TABLE feed_actions (user_id UInt32, time DateTime) "
            "ENGINE = MergeTree() ORDER BY time"
        )
        with pytest.raises(SourceMisconfigured, match="missing column"):
            await source.fetch(CATALOGUE.tables["feed_actions"], WINDOW_START, WINDOW_END)
    finally:
        await source.close()


async def test_seed_refuses_to_replace_tables_it_did_not_create(
    spec: SourceSpec, scratch_db: str
) -> None:
    """`alertbot seed` never drops real data: foreign tables stop it with an explanation."""
    source = spec.open(scratch_db)
    try:
        await source.execute(
            "CREATE TABLE feed_actions (user_id UInt32, time DateTime) "
            "ENGINE = MergeTree() ORDER BY time"
        )
        with pytest.raises(SourceMisconfigured, match="did not create"):
            await seeding.seed(source, days=1, end=END)
        assert "feed_actions" in (await source.query("SHOW TABLES"))["name"].tolist()
    finally:
        await source.close()


async def test_a_seed_cut_short_is_generated_again(spec: SourceSpec, scratch_db: str) -> None:
    """A first run killed while it generates the demo leaves the tables and the dataset's
    description but not the mark of a finished load: that is no dataset, and the next run
    generates it again instead of checking one whose last days are missing."""

    class Killed(Exception):
        pass

    def cut(done: float, rows: int) -> None:
        if done > 0.3:
            raise Killed

    source = spec.open(scratch_db)
    try:
        with pytest.raises(Killed):
            await seeding.seed(source, days=2, end=END, progress=cut)
        assert await seeding.read_config(source) is None
        config, _, _ = await seeding.seed(source, days=1, end=END)
        assert await seeding.read_config(source) == config
        assert await seeding.loaded_until(source) == END.replace(microsecond=0)
    finally:
        await source.close()


async def test_unknown_database_and_wrong_password_on_the_server(server_spec: SourceSpec) -> None:
    """The server's refusals become sentences that name the setting to fix."""
    assert server_spec.url is not None
    wrong_db = ClickHouseSource(server_spec.url, database="no_such_db", retries=1)
    wrong_pw = ClickHouseSource(server_spec.url, user="analyst", password="nope", retries=1)
    try:
        with pytest.raises(SourceMisconfigured, match=r"unknown database.*CLICKHOUSE_DATABASE"):
            await wrong_db.fetch(CATALOGUE.tables["feed_actions"], WINDOW_START, WINDOW_END)
        with pytest.raises(SourceMisconfigured, match="CLICKHOUSE_PASSWORD") as caught:
            await wrong_pw.query("SELECT 1")
        assert "nope" not in str(caught.value)
    finally:
        await wrong_db.close()
        await wrong_pw.close()


@pytest.mark.parametrize("select", [
    "number, throwIf(number = 300000) AS failed",  # the error line fits no column
    "toString(number) AS text",  # ... fits the one String column, as one more row
])  # fmt: skip
async def test_an_error_met_halfway_through_the_rows_is_the_server_s_error(
    server_spec: SourceSpec, select: str
) -> None:
    """ClickHouse streams a SELECT's rows as it makes them: an error met after the first
    block went out (a memory limit, a timeout; here throwIf) came after those rows, under a
    200. The source called that "an answer that is not ClickHouse's" (check CLICKHOUSE_URL),
    or, where the error's line fit the columns, returned a quarter of the rows and the error
    as the last one. It is the server's error, said as it said it; the next query goes on."""
    assert server_spec.url is not None
    source = ClickHouseSource(server_spec.url, database="system", retries=1)
    try:
        with pytest.raises(QueryFailed, match=r"ClickHouse rejected the query \(Value passed "
                                              r"to 'throwIf' function is non zero"):  # fmt: skip
            await source.query(f"SELECT {select} FROM system.numbers "
                               "WHERE throwIf(number = 300000) = 0 LIMIT 1000000")  # fmt: skip
        assert (await source.query("SELECT 1 AS one"))["one"].tolist() == [1]
    finally:
        await source.close()


async def test_unreachable_server_is_unavailable_after_retries() -> None:
    """Nothing listening: retried with backoff, then SourceUnavailable naming the URL."""
    source = ClickHouseSource("http://127.0.0.1:9", retries=2, backoff=0.01, timeout=5)
    try:
        with pytest.raises(
            SourceUnavailable, match=r"cannot connect to ClickHouse at http://127\.0\.0\.1:9"
        ):
            await source.query("SELECT 1")
    finally:
        await source.close()


@pytest.mark.slow  # seeds 8 days of its own and checks three times; the unit cases are fast
async def test_late_rows_are_late_data_and_a_silent_table_is_an_outage(
    spec: SourceSpec, scratch_db: str, tmp_path
) -> None:
    """Rows in transit leave the newest bucket half filled: that is "data is late", its metrics
    UNKNOWN, not a drop. A table silent for longer than the grace is judged: a missing bucket
    where data was expected is an anomaly. Normal data is neither."""
    from datetime import UTC, datetime

    from queries import demo

    end = datetime(2026, 11, 20, 11, 2, tzinfo=UTC)  # 14:02 local: busy
    outage = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    planned = (
        demo.Incident("lag", demo.IncidentKind.LATE_DATA, end - timedelta(hours=1),
                      end + timedelta(hours=1), 0.0, {}, "rows 5-25 minutes late"),
        demo.Incident("down", demo.IncidentKind.OUTAGE, outage, outage + timedelta(hours=2),
                      -1.0, {}, "no messages at all"),
    )  # fmt: skip
    source = spec.open(scratch_db)
    try:
        await seeding.seed(source, days=8, end=end, planned=planned, live_incidents=False)

        async def check(now: datetime):  # type: ignore[no-untyped-def]
            history = History(source, CATALOGUE, State(tmp_path / f"{now:%d%H%M}.sqlite3").history)
            return await run_check(history, now, delay=timedelta(minutes=2))

        lagging = await check(end)
        normal = await check(end - timedelta(hours=3))
        silent = await check(outage + timedelta(hours=1, minutes=7))
    finally:
        await source.close()

    # The feed's half-filled bucket would alert: it is late instead. (The messenger's few
    # messages may stay inside their wide band; a table that would not alert is not asked.)
    assert "feed_actions" in lagging.late
    assert lagging.late["feed_actions"].bucket == pd.Timestamp("2026-11-20 10:45", tz=UTC)
    late = [r for r in lagging.results if r.metric.table in lagging.late]
    assert late and all(r.verdict.status.value == "unknown" for r in late)
    assert all("data is late" in r.verdict.reason for r in late)
    assert not lagging.anomalies

    assert normal.late == {} and normal.results
    assert all(r.verdict.status.value != "unknown" for r in normal.results if r.slice.is_total)

    assert silent.late == {}
    flagged = {r.metric.name for r in silent.anomalies if r.slice.is_total}
    assert {"messages", "messenger_users"} <= flagged
    assert (
        "no data" in next(r for r in silent.anomalies if r.metric.name == "messages").verdict.reason
    )


@pytest.mark.parametrize(
    ("gap_s", "first", "last", "late"),
    [
        (5, 300, 290, None),  # fresh and evenly filled
        (5, 300, 330, None),  # a morning ramp
        (240, 300, 20, "its last event came 4 min 0 s before"),  # stalled pipeline
        (20, 300, 60, "its last 5 minutes hold 60 events against 300"),  # rows in transit
        (20, 12, 3, None),  # too few events to tell
        (3600, 0, 0, None),  # silent for longer than the grace: down, not late
    ],
)
def test_late_data_tells_a_filling_bucket_from_a_drop(
    gap_s: int, first: int, last: int, late: str | None
) -> None:
    from datetime import UTC, datetime

    from bot.service.lateness import late_data
    from queries.history import Window
    from queries.sources import Freshness

    step = timedelta(minutes=15)
    end = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    buckets = pd.date_range(end - 10 * step, end - step, freq=step)
    frame = pd.DataFrame({"bucket": buckets, "dim": "total", "dim_value": "", "rows": 900.0})
    window = Window(start=end - timedelta(days=1), end=end, fetch_start=end - timedelta(hours=1))
    fresh = Freshness(end - timedelta(seconds=gap_s), first, last)
    table = CATALOGUE.tables["feed_actions"]
    got = late_data(table, frame, window, step, fresh, now=end + timedelta(minutes=2),
                    grace=timedelta(minutes=45))  # fmt: skip
    if late is None:
        assert got is None
    else:
        assert got is not None and late in got.reason and got.bucket == end - step
