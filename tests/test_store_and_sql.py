"""The state file's schema versioning and the SQL renderer's guarantees."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from bot.state import State, StoreError
from bot.state.db import MIGRATIONS
from queries.catalogue import load_catalogue
from queries.history import complete_end, plan
from queries.sql import render

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 2, tzinfo=UTC)


def test_render_puts_window_bounds_in_as_unix_timestamps() -> None:
    """The bundled SQL gets start/end as toDateTime(unix) so no server time zone can shift them."""
    sql = load_catalogue().tables["feed_actions"].sql
    text = render(sql, start=START, end=END)
    assert f"toDateTime({int(START.timestamp())})" in text
    assert f"toDateTime({int(END.timestamp())})" in text
    assert "toDateTime(0)" not in text and "4102444800" not in text


def test_render_rejects_sql_without_markers_and_naive_times() -> None:
    """A query the bot cannot window, or a time without a zone, is refused with the reason."""
    with pytest.raises(ValueError, match="no window marker"):
        render("SELECT 1", start=START, end=END)
    sql = load_catalogue().tables["feed_actions"].sql
    with pytest.raises(ValueError, match="timezone-aware"):
        render(sql, start=START.replace(tzinfo=None), end=END)
    with pytest.raises(ValueError, match="empty window"):
        render(sql, start=END, end=START)


def test_render_renames_the_receiver_column() -> None:
    """reciever_id replaces receiver_id everywhere in the messenger query, nothing else changes."""
    sql = load_catalogue().tables["message_actions"].sql
    text = render(sql, start=START, end=END, receiver_column="reciever_id")
    assert "receiver_id" not in text and "uniqExact(reciever_id)" in text
    with pytest.raises(ValueError, match="not a column name"):
        render(sql, start=START, end=END, receiver_column="x); DROP TABLE t; --")


def test_plan_fetches_only_new_buckets_and_never_the_filling_one() -> None:
    """With history held, a check fetches from one hour before what it holds to the last
    complete bucket; without, the whole window."""
    step, delay, history = timedelta(minutes=15), timedelta(minutes=2), timedelta(days=28)
    now = datetime(2026, 11, 27, 12, 1, tzinfo=UTC)
    assert complete_end(now, step, delay) == datetime(2026, 11, 27, 11, 45, tzinfo=UTC)
    cold = plan(now, step=step, delay=delay, history=history, held_until=None)
    assert cold.is_full and cold.end - cold.start == history
    warm = plan(now, step=step, delay=delay, history=history,
                held_from=cold.start - timedelta(minutes=15), held_until=cold.end)  # fmt: skip
    assert warm.fetch_start == cold.end - timedelta(hours=1)
    stale = plan(now, step=step, delay=delay, history=history,
                 held_from=cold.start - timedelta(days=40),
                 held_until=cold.end - timedelta(days=30))  # fmt: skip
    assert stale.is_full


def test_history_round_trips_through_the_state_file(tmp_path) -> None:
    """Held rows come back with the same buckets and values after reopening the file."""
    path = tmp_path / "state.sqlite3"
    columns = ("rows", "users")
    frame = pd.DataFrame({
        "bucket": pd.to_datetime([START, START + timedelta(minutes=15)], utc=True),
        "dim": ["total", "os"], "dim_value": ["", "iOS"],
        "rows": [10.0, 4.0], "users": [3.0, 2.0],
    })  # fmt: skip
    state = State(path)
    state.history.save("src", "q", frame, columns, held_from=START, replace_from=START,
                       held_until=END)  # fmt: skip
    state.close()
    loaded = State(path).history.load("src", "q", columns)
    assert loaded is not None
    again, held_from, held_until = loaded
    assert (held_from, held_until) == (START, END)
    pd.testing.assert_frame_equal(again, frame, check_dtype=False)


def test_state_file_from_a_newer_version_is_refused(tmp_path) -> None:
    """A schema newer than this code knows is not touched; the message says what to do."""
    path = tmp_path / "state.sqlite3"
    State(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="upgrade alertbot or use another STATE_PATH"):
        State(path)
    assert State(tmp_path / "fresh.sqlite3").db.schema_version == len(MIGRATIONS)
