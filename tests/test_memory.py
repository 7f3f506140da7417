"""What the memory work changed keeps every number: the history cache read and written through
dictionary codes, the window fetched in pieces, merge and slices over the held rows."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.service.history import FETCH_PIECE, History, give_back_freed_arrays
from bot.state import State
from queries.catalogue import load_catalogue
from queries.history import Window, complete_end, merge
from queries.series import Slice, TableSlices, bucket_index, frame_from_rows
from tests.conftest import END, SourceSpec

CATALOGUE = load_catalogue()
COLUMNS = ("rows", "users")
ODD = ["Москва", "a:b", "<b>&amp;</b>", 'say "hi"', "🙂", "0", "São Paulo"]


def _rows(start: datetime, buckets: int, values: list[str], seed: int) -> pd.DataFrame:
    """A table's rows as a source gives them: a total and one dim's values per bucket."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(buckets):
        bucket = int((start + timedelta(minutes=15 * b)).timestamp())
        rows.append({"bucket": bucket, "dim": "total", "dim_value": ""})
        rows += [{"bucket": bucket, "dim": "city", "dim_value": v} for v in values]
    for row in rows:
        row["rows"] = float(rng.integers(0, 1000))
        row["users"] = float(rng.random() * 1e6) if rng.random() > 0.1 else np.nan
    return frame_from_rows(rows, COLUMNS)


def _save(state: State, frame: pd.DataFrame, held_from: datetime, replace_from: datetime,
          held_until: datetime) -> None:  # fmt: skip
    state.history.save("src", "q", frame, COLUMNS, held_from=held_from,
                       replace_from=replace_from, held_until=held_until)  # fmt: skip


def test_cache_gives_back_cyrillic_colon_html_and_emoji_dim_values(tmp_path: Path) -> None:
    """Dim values with Cyrillic, ':', HTML, quotes and emoji come back from the state file as
    the same strings, in the same rows, with the dtype a source gives them."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    frame = _rows(start, 20, ODD, seed=1)
    state = State(tmp_path / "state.sqlite3")
    _save(state, frame, start, start, start + timedelta(hours=5))
    loaded = state.history.load("src", "q", COLUMNS)
    assert loaded is not None
    pd.testing.assert_frame_equal(loaded[0], frame, check_exact=True)
    assert loaded[0]["dim_value"].dtype == frame["dim_value"].dtype == "str"
    state.close()


def test_cache_resave_with_values_only_in_the_fresh_rows(tmp_path: Path) -> None:
    """A re-save inside a chunk joins the chunk's kept rows (values A, B) and fresh rows with a
    value the chunk never had (C, and no B): every row keeps its own strings."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    held = _rows(start, 16, ["A", "B"], seed=2)  # 04:00 exactly: one chunk
    replace_from = start + timedelta(hours=2)
    fresh = _rows(replace_from, 12, ["C", "A"], seed=3)
    state = State(tmp_path / "state.sqlite3")
    _save(state, held, start, start, start + timedelta(hours=4))
    _save(state, fresh, start, replace_from, start + timedelta(hours=5))
    loaded = state.history.load("src", "q", COLUMNS)
    assert loaded is not None
    kept = held[held["bucket"] < replace_from]
    expected = pd.concat([kept, fresh], ignore_index=True)
    pd.testing.assert_frame_equal(loaded[0], expected, check_exact=True)
    assert set(loaded[0]["dim_value"]) == {"", "A", "B", "C"}
    state.close()


def test_cache_chunks_keep_their_dictionaries_in_order_of_appearance(tmp_path: Path) -> None:
    """Each stored chunk lists its own dim values in order of first appearance, as files
    written before did, so older and newer files read the same way."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    frame = _rows(start, 20, ["z", "Ж", "a"], seed=4)  # 5 hours: two chunks
    state = State(tmp_path / "state.sqlite3")
    _save(state, frame, start, start, start + timedelta(hours=5))
    stored = state.db.rows("SELECT dims, dim_values FROM history_chunks ORDER BY chunk")
    assert [(json.loads(d), json.loads(v)) for d, v in stored] == [
        (["total", "city"], ["", "z", "Ж", "a"])
    ] * 2
    state.close()


def test_cache_of_an_empty_fetch_loads_as_no_rows(tmp_path: Path) -> None:
    """A window whose query returned nothing is held as no rows, with the table's columns."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    state = State(tmp_path / "state.sqlite3")
    _save(state, frame_from_rows([], COLUMNS), start, start, start + timedelta(hours=1))
    loaded = state.history.load("src", "q", COLUMNS)
    assert loaded is not None
    assert list(loaded[0].columns) == ["bucket", "dim", "dim_value", *COLUMNS]
    assert len(loaded[0]) == 0 and loaded[1:] == (start, start + timedelta(hours=1))
    state.close()


async def test_a_cold_window_fetched_in_pieces_equals_one_query(
    embedded_spec: SourceSpec,
) -> None:
    """The first check's window, fetched FETCH_PIECE per query, is the one query's frame: the
    same rows, in the same order, with the same numbers."""
    source = embedded_spec.open()
    try:
        history = History(source, CATALOGUE, None)
        for table in CATALOGUE.tables.values():
            frame, window, fetched = await history.frame(table, END, timedelta(minutes=2))
            assert window.is_full and window.end - window.start > 2 * FETCH_PIECE
            whole = await source.fetch(table, window.start, window.end)
            assert fetched == len(whole) > 1000
            pd.testing.assert_frame_equal(frame, whole, check_exact=True)
        assert window.end == complete_end(END, CATALOGUE.step, timedelta(minutes=2))
    finally:
        await source.close()


def _old_merge(held: pd.DataFrame, fresh: pd.DataFrame, window: Window) -> pd.DataFrame:
    """merge() as it was: boolean masks over every row."""
    fresh = fresh.loc[(fresh["bucket"] >= window.start) & (fresh["bucket"] < window.end)]
    keep = held.loc[(held["bucket"] >= window.start) & (held["bucket"] < window.fetch_start)]
    return pd.concat([keep, fresh], ignore_index=True)


def test_merge_takes_the_same_rows_from_sorted_and_unsorted_held_rows() -> None:
    """Held rows in bucket order are cut by position, others by mask: either way merge gives
    the rows (and order) the mask-only merge gave, fresh rows outside the window dropped."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    held = _rows(start, 40, ODD, seed=5)
    fresh = _rows(start + timedelta(hours=8), 6, ["new", "Москва"], seed=6)  # 2 h past the end
    window = Window(start + timedelta(hours=1), start + timedelta(hours=9),
                    start + timedelta(hours=8))  # fmt: skip
    for rows in (held, held.sample(frac=1, random_state=1)):
        merged = merge(rows, fresh, window)
        pd.testing.assert_frame_equal(merged, _old_merge(rows, fresh, window), check_exact=True)
    assert merged["bucket"].min() == window.start and merged["bucket"].max() < window.end
    assert "new" in set(merged["dim_value"])


def test_slices_moved_on_by_one_bucket_equal_a_rebuild() -> None:
    """Slices moved on by a fetch of one bucket, holding a value never seen before and lacking
    one that was, equal slices built from the merged rows: slots, ranking, every matrix."""
    table = CATALOGUE.tables["feed_actions"]
    columns = table.columns
    start = datetime(2026, 11, 1, tzinfo=UTC)
    step = CATALOGUE.step
    rng = np.random.default_rng(8)

    def rows(first: datetime, buckets: int, values: list[str]) -> pd.DataFrame:
        out = []
        for b in range(buckets):
            bucket = int((first + b * step).timestamp())
            out += [{"bucket": bucket, "dim": "total", "dim_value": ""}]
            out += [{"bucket": bucket, "dim": "country", "dim_value": v} for v in values]
        for row in out:
            row.update({c: float(rng.integers(0, 50)) for c in columns})
        return frame_from_rows(out, columns)

    held = rows(start, 12, ["NL", "Ж:<i>"])
    window = Window(start + step, start + 13 * step, start + 12 * step)
    fresh = rows(window.fetch_start, 1, ["Ж:<i>", "only-fresh"])
    before = TableSlices(held, table, bucket_index(start, start + 12 * step, step))
    index = bucket_index(window.start, window.end, step)
    moved = before.advance(fresh, index, window.fetch_start)
    rebuilt = TableSlices(merge(held, fresh, window), table, index)
    assert moved is not None and moved.slots == rebuilt.slots
    assert moved.ranking == rebuilt.ranking and "only-fresh" in moved.ranking["country"]
    for column in columns:
        np.testing.assert_array_equal(moved.values[column], rebuilt.values[column])
    np.testing.assert_array_equal(moved.present, rebuilt.present)


def test_history_makes_glibc_give_freed_arrays_back() -> None:
    """On glibc the mmap threshold is fixed, so a freed window's arrays leave the process."""
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert give_back_freed_arrays() is True


def test_slices_ignore_rows_outside_their_window() -> None:
    """Rows before and after the window change no ranking or value: the slices equal those
    of the rows inside, in any row order; a value seen only outside has no rank, only NaN."""
    table = CATALOGUE.tables["feed_actions"]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    step = CATALOGUE.step
    rows = pd.concat(
        [_rows(start, 12, ["B", "A"], seed=9), _rows(start + 12 * step, 2, ["outside"], seed=10)],
        ignore_index=True,
    )
    rows = rows.rename(columns={"rows": "views"}).assign(rows=1.0, likes=2.0)
    index = bucket_index(start + step, start + 10 * step, step)
    inside = rows[(rows["bucket"] >= index[0]) & (rows["bucket"] <= index[-1])]
    expected = TableSlices(inside.reset_index(drop=True), table, index)
    for frame in (rows, rows.sample(frac=1, random_state=2)):
        got = TableSlices(frame, table, index)
        assert got.ranking == expected.ranking
        assert set(got.slots) - set(expected.slots) == {Slice("city", "outside")}
        assert np.isnan(got.values["views"][got.slots[Slice("city", "outside")]]).all()
        for where, slot in expected.slots.items():
            for column in expected.values:
                np.testing.assert_array_equal(
                    got.values[column][got.slots[where]], expected.values[column][slot]
                )


def _table_rows(first: datetime, last: datetime, values: list[str], late: float = 1.0):
    """Rows of the feed table for buckets in [first, last): numbers fixed by bucket and value
    (so a re-fetch gives the same ones), times `late` in the first bucket."""
    columns = CATALOGUE.tables["feed_actions"].columns
    out, bucket = [], first
    while bucket < last:
        seconds = int(bucket.timestamp())
        for n, (dim, value) in enumerate([("total", ""), *(("country", v) for v in values)]):
            row = {"bucket": seconds, "dim": dim, "dim_value": value}
            for c, column in enumerate(columns):
                number = float((seconds // 900 * 7 + n * 13 + c) % 97 + 1)
                row[column] = number * (late if bucket == first else 1.0)
            out.append(row)
        bucket += CATALOGUE.step
    return frame_from_rows(out, columns)


def _assert_same_slices(got: TableSlices, want: TableSlices) -> None:
    assert got.ranking == want.ranking and set(got.slots) == set(want.slots)
    np.testing.assert_array_equal(got.present, want.present)
    for where, slot in want.slots.items():
        for column, matrix in want.values.items():
            np.testing.assert_array_equal(got.values[column][got.slots[where]], matrix[slot])


def test_slices_moved_on_check_after_check_equal_rebuilds_and_keep_earlier_ones() -> None:
    """110 steady refreshes in a row (the last hour re-fetched; once with late rows changing a
    shown bucket, once with a new value, once as the first value leaves; more than the spare
    room holds; one refresh done twice from the same slices): each equals a rebuild from the
    merged rows, most share the previous buffers, and every earlier slices still show what
    they showed when made."""
    table = CATALOGUE.tables["feed_actions"]
    step = CATALOGUE.step
    base = datetime(2026, 11, 1, tzinfo=UTC)
    width = 40
    held = pd.concat([_table_rows(base, base + 2 * step, ["leaves", "NL"]),
                      _table_rows(base + 2 * step, base + width * step, ["NL"])],
                     ignore_index=True)  # fmt: skip
    index = bucket_index(base, base + width * step, step)
    slices = TableSlices(held, table, index)
    made = [(slices, {c: m.copy() for c, m in slices.values.items()})]
    shared = 0
    for k in range(1, 111):
        window = Window(base + k * step, base + (k + width) * step,
                        base + (k + width - 4) * step)  # fmt: skip
        values = ["NL", "DE"] if k >= 30 else ["NL"]
        fresh = _table_rows(window.fetch_start, window.end, values, 3.0 if k == 20 else 1.0)
        index = bucket_index(window.start, window.end, step)
        moved = slices.advance(fresh, index, window.fetch_start)
        assert moved is not None
        _assert_same_slices(moved, TableSlices(merge(held, fresh, window), table, index))
        shared += np.shares_memory(moved.values["rows"], slices.values["rows"])
        made.append((moved, {c: m.copy() for c, m in moved.values.items()}))
        if k == 50:  # the same refresh again, other numbers in its newest bucket only
            again = fresh.assign(rows=fresh["rows"].where(fresh["bucket"] < index[-1], 1e6))
            other = slices.advance(again, index, window.fetch_start)
            assert other is not None
            _assert_same_slices(other, TableSlices(merge(held, again, window), table, index))
        held, slices = merge(held, fresh, window), moved
        for earlier, snapshot in made:
            for column, matrix in snapshot.items():
                np.testing.assert_array_equal(earlier.values[column], matrix)
    assert Slice("country", "leaves") not in slices.slots and "DE" in slices.ranking["country"]
    assert 90 <= shared < 110
