"""The synthetic dataset: deterministic, realistic volumes, incidents where the labels say,
and the same rows whether generated at once or appended live in pieces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from queries import demo

END = datetime(2026, 11, 27, 12, 7, 30, tzinfo=UTC)
CONFIG = demo.DemoConfig(seed=7, start=END - timedelta(days=3), anchor=END)


def _rows(after: datetime, until: datetime, config: demo.DemoConfig = CONFIG) -> demo.Batch:
    parts = [b for _, b in demo.generate(config, after, until)]
    return demo.Batch(
        np.concatenate([p.feed for p in parts]),
        np.concatenate([p.feed_arrival for p in parts]),
        np.concatenate([p.messages for p in parts]),
        np.concatenate([p.message_arrival for p in parts]),
    )


def _canonical(rows: np.ndarray) -> np.ndarray:
    return np.sort(rows, order=list(rows.dtype.names))


def test_same_seed_same_rows() -> None:
    """Two generations of the same hours are byte-identical."""
    a = _rows(END - timedelta(hours=2), END)
    b = _rows(END - timedelta(hours=2), END)
    assert a.feed.tobytes() == b.feed.tobytes()
    assert a.messages.tobytes() == b.messages.tobytes()
    other = _rows(END - timedelta(hours=2), END, demo.DemoConfig(8, CONFIG.start, END))
    assert other.feed.tobytes() != a.feed.tobytes()


def test_live_appends_equal_one_generation() -> None:
    """Appending (a, b] then (b, c] gives exactly the rows of (a, c]: the live demo continues
    the seeded generator without gaps or duplicates, late rows included."""
    a, b, c = END - timedelta(hours=3), END - timedelta(hours=1, minutes=7), END
    whole = _rows(a, c)
    first, second = _rows(a, b), _rows(b, c)
    joined = np.concatenate([first.feed, second.feed])
    np.testing.assert_array_equal(_canonical(joined), _canonical(whole.feed))
    assert first.feed_arrival.max() <= b.timestamp() < second.feed_arrival.min()


def test_daily_volumes_are_realistic() -> None:
    """About 18-19k feed users, 0.5-0.75M views, 0.1-0.16M likes (CTR ~0.2) and 10-15k
    messages a day, with quiet nights: tens of messages per bucket."""
    day_start = datetime(2026, 11, 25, 21, tzinfo=UTC)  # a local (UTC+3) Thursday
    rows = _rows(day_start, day_start + timedelta(days=1))
    feed = pd.DataFrame(rows.feed)
    feed = feed.loc[feed["time"] >= day_start.timestamp()]
    views = int((feed["is_like"] == 0).sum())
    likes = int((feed["is_like"] == 1).sum())
    assert 17_500 <= feed["user_id"].nunique() <= 19_500
    assert 500_000 <= views <= 750_000
    assert 100_000 <= likes <= 160_000
    assert 0.18 <= likes / views <= 0.22
    messages = pd.DataFrame(rows.messages)
    messages = messages.loc[messages["time"] >= day_start.timestamp()]
    assert 10_000 <= len(messages) <= 15_000
    per_bucket = messages.groupby(messages["time"] // 900).size()
    assert 10 <= per_bucket.min() <= 60 < per_bucket.max()


def test_ongoing_incident_halves_android_activity() -> None:
    """The default dataset ends inside an incident: Android activity is about half of normal."""
    ongoing = [i for i in demo.incidents_for(CONFIG) if i.start <= END < i.end]
    assert [i.slice for i in ongoing] == [{"os": "Android"}]
    incident = ongoing[0]
    during = pd.DataFrame(_rows(incident.start, END).feed)
    before = pd.DataFrame(_rows(incident.start - timedelta(days=1),
                                END - timedelta(days=1)).feed)  # fmt: skip
    share = lambda f: (f["os"] == 0).mean()  # noqa: E731 - 0 = Android
    assert share(during) == pytest.approx(share(before) * 0.5 / (1 - share(before) * 0.5),
                                          rel=0.15)  # fmt: skip


def test_labels_round_trip_and_describe_each_incident() -> None:
    """Labels are JSON the backtest can read back: kind, time span, effect, slice, metrics."""
    incidents = demo.incidents_for(
        demo.DemoConfig(seed=7, start=END - timedelta(days=28), anchor=END)
    )
    kinds = {i.kind for i in incidents if i.start < END}
    assert kinds == set(demo.IncidentKind)
    for incident in incidents:
        again = demo.Incident.from_json(incident.to_json())
        assert again == incident
        assert incident.end > incident.start
    assert all(i.metrics for i in incidents if i.kind is not demo.IncidentKind.LATE_DATA)


def test_a_hand_written_label_without_an_offset_is_refused_with_what_to_write(tmp_path) -> None:
    """Labels written by hand often give times without an offset: compared with the data's UTC
    times they crashed backtest and tune with a traceback; now the file is refused saying which
    incident and how to write the time."""
    from bot.service.labels import labels_from_file

    item = {"id": "mine", "kind": "slice_drop", "start": "2026-12-06T00:30:00",
            "end": "2026-12-06T01:30:00+00:00", "effect": -0.3, "slice": {"os": "Android"}}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([item]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"'mine': 2026-12-06T00:30:00 has no UTC offset; "
                                         r"write it as 2026-12-06T00:30:00\+00:00"):
        labels_from_file(path)
    item["start"] = "2026-12-06T00:30:00+00:00"
    path.write_text(json.dumps({"incidents": [item]}), encoding="utf-8")
    assert [label.id for label in labels_from_file(path)] == ["mine"]


def test_a_labels_file_of_ones_own_is_read_and_its_mistakes_named(tmp_path) -> None:
    """Hand-written labels: start, end and the metrics they moved are enough (kind, slice and
    effect are optional); an end before the start (counted as a missed incident before), no
    metrics, two slices, a bad time or two incidents with one id are each refused, naming the
    incident. The seed's own file, late data with no metrics included, still loads."""
    from bot.service.labels import labels_from_file

    path = tmp_path / "labels.json"
    own = {"start": "2026-12-06T00:30:00+00:00", "end": "2026-12-06T04:30:00+03:00",
           "metrics": ["views", "likes"]}  # fmt: skip
    path.write_text(json.dumps([own, {**own, "id": "ios", "slice": {"os": "iOS"},
                                      "effect": -0.3}]), encoding="utf-8")  # fmt: skip
    first, second = labels_from_file(path)
    assert (first.id, first.kind, first.metrics, dict(first.slice)) == (
        "#1", "incident", ("views", "likes"), {})
    assert first.end - first.start == pd.Timedelta(hours=1)  # the offsets count
    assert (second.id, dict(second.slice), second.effect) == ("ios", {"os": "iOS"}, -0.3)
    assert second.targets()[0].label() == "views os=iOS"
    wrong = [
        ({**own, "id": "x", "end": "2026-12-05T23:00:00+00:00"},
         r"'x' ends \(2026-12-05T23:00:00\+00:00\) before it starts \(2026-12-06T00:30:00"),
        ({**own, "metrics": []}, r"'#1' names no metrics: add e.g. \"metrics\": \[\"views\"\]"),
        ({**own, "kind": "spike", "metrics": []}, r"'#1' names no metrics"),
        ({**own, "end": own["start"]}, r"'#1' ends when it starts \(2026-12-06T00:30:00\+00:00\)"),
        ({**own, "metrics": [1]}, r"metrics must be a list of metric names"),
        ({**own, "slice": {"os": "iOS", "source": "ads"}}, r"slice must be one dimension"),
        ({**own, "start": "yesterday"}, r"start 'yesterday' is not an ISO 8601 time"),
        ({**own, "effect": "big"}, r"effect must be a number"),
    ]  # fmt: skip
    for item, said in wrong:
        path.write_text(json.dumps([item]), encoding="utf-8")
        with pytest.raises(ValueError, match=said):
            labels_from_file(path)
    path.write_text(json.dumps([{**own, "id": "a"}, {**own, "id": "a"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="two incidents are called 'a'"):
        labels_from_file(path)
    config = demo.DemoConfig(seed=7, start=datetime(2026, 11, 1, tzinfo=UTC),
                             anchor=datetime(2026, 11, 29, tzinfo=UTC))  # fmt: skip
    incidents = demo.incidents_for(config)
    assert any(i.kind is demo.IncidentKind.LATE_DATA for i in incidents)
    path.write_text(demo.labels_json(config, incidents), encoding="utf-8")
    assert [lb.id for lb in labels_from_file(path)] == [i.id for i in incidents]


def test_late_data_incident_delays_arrival_not_values() -> None:
    """During a late-data incident rows arrive minutes late; the rows themselves are normal."""
    config = demo.DemoConfig(seed=7, start=END - timedelta(days=28), anchor=END)
    late = next(i for i in demo.incidents_for(config) if i.kind is demo.IncidentKind.LATE_DATA)
    batch = _rows(late.start, late.start + timedelta(minutes=30), config)
    lag = batch.feed_arrival - batch.feed["time"]
    inside = batch.feed["time"] >= late.start.timestamp()
    assert np.median(lag[inside]) > 300
    assert np.median(lag[~inside]) < 60
