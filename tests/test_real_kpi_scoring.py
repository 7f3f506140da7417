"""How benchmarks/real_kpi.py counts: a segment is 'longer than 15 minutes' by its length at
the series' own step, in the 15-minute view too, where a short anomaly across a bucket
boundary labels two buckets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.benchmark_modules import load_benchmark


def labels(segments: list[tuple[int, int]]) -> pd.Series:
    """15 days of 1-minute labels, 1 on each [first, last] minute of the last day (past the
    warm-up, the first half of a series spanning under 28 days)."""
    index = pd.date_range("2026-10-01", periods=15 * 1440, freq="1min", tz="UTC")
    flags = np.zeros(index.size)
    base = 14 * 1440
    for first, last in segments:
        flags[base + first : base + last + 1] = 1.0
    return pd.Series(flags, index=index)


def test_a_short_anomaly_across_a_bucket_boundary_is_not_a_long_segment_at_15_minutes() -> None:
    rk = load_benchmark("real_kpi")
    # 10:13-10:16 (4 minutes, two buckets) and 12:00-12:39 (40 minutes, three buckets).
    label = labels([(613, 616), (720, 759)])
    value = pd.Series(1.0, index=label.index)
    fire_native = np.zeros(label.size, dtype=bool)
    fire_native[14 * 1440 + 614] = True  # the short one caught, the long one missed

    native = rk.score("s", fire_native, label, delay_limit=7, long=rk.long_marks(label))
    assert (native.segments, native.long_segments) == (2, 1)
    assert (native.caught, native.long_caught) == (1, 0)

    _, bucket_label = rk.to_buckets(value, label)
    bucket_long = rk.long_marks(label).resample(rk.BUCKET).max().fillna(0.0)
    fire = bucket_label.to_numpy() > 0
    fire[14 * 96 + 48 :] = False  # only the 4-minute one (10:00 and 10:15 buckets) fires
    with_native = rk.score("s", fire, bucket_label, delay_limit=2, long=bucket_long)
    assert (with_native.segments, with_native.long_segments) == (2, 1)
    assert (with_native.caught, with_native.long_caught) == (1, 0)
    # Counted by buckets alone, the 4-minute anomaly would pass for a long segment caught.
    by_buckets = rk.score("s", fire, bucket_label, delay_limit=2)
    assert (by_buckets.long_segments, by_buckets.long_caught) == (2, 1)


def test_run_one_scores_both_views_from_a_csv(tmp_path: Path) -> None:
    rk = load_benchmark("real_kpi")
    label = labels([(613, 616), (720, 759)])
    rng = np.random.default_rng(3)
    minute = np.arange(label.size) % 1440
    value = 100 + 30 * np.sin(2 * np.pi * minute / 1440) + rng.normal(0, 2, label.size)
    value[14 * 1440 + 720 : 14 * 1440 + 760] *= 0.2  # the long one is an outage
    stamps = label.index.as_unit("s").asi8
    csv = tmp_path / "kpi.csv"
    pd.DataFrame({"timestamp": stamps, "value": value, "label": label.to_numpy()}).to_csv(
        csv, index=False
    )
    out = rk.run_one(csv, ("default",), {})
    for view in ("native", "15min"):
        tally = out[(view, "default")]
        assert (tally.segments, tally.long_segments) == (2, 1), view
        assert tally.long_caught == 1, view  # an 80% outage for 40 minutes is caught


def test_the_coarser_view_can_be_hourly(tmp_path: Path) -> None:
    """`--bucket 1h`: the same CSV as hourly means; a 2-hour outage labels the 3 hours it
    touches, one long segment, caught; a 4-minute blip is still a short one."""
    rk = load_benchmark("real_kpi")
    label = labels([(433, 436), (690, 809)])
    rng = np.random.default_rng(3)
    minute = np.arange(label.size) % 1440
    value = 100 + 30 * np.sin(2 * np.pi * minute / 1440) + rng.normal(0, 2, label.size)
    value[14 * 1440 + 690 : 14 * 1440 + 810] *= 0.2
    csv = tmp_path / "kpi.csv"
    pd.DataFrame({"timestamp": label.index.as_unit("s").asi8, "value": value,
                  "label": label.to_numpy()}).to_csv(csv, index=False)  # fmt: skip
    out = rk.run_one(csv, ("default",), {}, bucket="1h")
    assert set(out) == {("native", "default"), ("1h", "default")}
    hourly = out[("1h", "default")]
    assert (hourly.segments, hourly.long_segments, hourly.long_caught) == (2, 1, 1)
    value_h, label_h = rk.to_buckets(pd.Series(value, index=label.index), label,
                                     pd.Timedelta("1h"))  # fmt: skip
    assert value_h.index.freq == "h" and int(label_h.sum()) == 4  # 07:00, and 11:00 - 13:00


def test_an_alert_that_catches_a_segment_is_never_also_false() -> None:
    """By the hour "the hour after" a segment is one bucket, while an alert up to 2 buckets
    after its start still catches it: such an alert is a catch, not a false one too."""
    rk = load_benchmark("real_kpi")
    for step in ("15min", "1h"):
        index = pd.date_range("2026-01-01", periods=int(pd.Timedelta(days=20) / pd.Timedelta(step)),
                              freq=step, tz="UTC")  # fmt: skip
        label = pd.Series(0.0, index=index)
        start = int(pd.Timedelta(days=16) / pd.Timedelta(step))
        label.iloc[start] = 1.0
        fire = np.zeros(index.size, dtype=bool)
        fire[start + 2] = True
        tally = rk.score("x", fire, label, delay_limit=rk.DELAY_BUCKETS)
        assert (tally.segments, tally.caught, tally.false) == (1, 1, 0), step


def test_timestamps_in_seconds_milliseconds_or_iso_text_read_alike(tmp_path: Path) -> None:
    """The same KPI (16 days a minute, one minute absent) written with Unix seconds,
    milliseconds, microseconds, ISO 8601 text in UTC, with a +03:00 offset and with
    sub-second jitter, and naive ISO text (read as UTC) comes back as the same grid, values
    and labels."""
    rk = load_benchmark("real_kpi")
    n = 16 * 1440
    index = pd.date_range("2026-10-01", periods=n, freq="1min", tz="UTC")
    seconds = index.as_unit("s").asi8
    jitter = pd.to_timedelta(np.arange(n) % 7 * 100, unit="ms")
    forms = {"s": seconds, "ms": seconds * 1000, "us": seconds * 1_000_000,
             "iso": index.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "offset": index.tz_convert("Europe/Moscow").strftime("%Y-%m-%dT%H:%M:%S+03:00"),
             "jitter": (index + jitter).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             "naive": index.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
    keep = np.arange(n) != 250  # an absent minute: a gap on the grid
    value = np.arange(n, dtype=float)
    label = (np.arange(n) % 97 == 0).astype(float)
    read = {}
    for name, stamps in forms.items():
        csv = tmp_path / f"{name}.csv"
        pd.DataFrame({"timestamp": np.asarray(stamps)[keep], "value": value[keep],
                      "label": label[keep]}).to_csv(csv, index=False)  # fmt: skip
        read[name] = rk.read(csv)
    want_value, want_label = read["s"]
    assert want_value.index.equals(index) and np.isnan(want_value.iloc[250])
    for name, (got_value, got_label) in read.items():
        assert got_value.equals(want_value) and got_label.equals(want_label), name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ts,v\n1,2\n", r"no column label, timestamp, value"),
        ("", r"No columns to parse"),
        ("timestamp,value,label\n", r"0 distinct timestamp\(s\) over 0.0 hours: too short"),
        ("timestamp,value,label\n1700000000,1,0\n", r"1 distinct timestamp\(s\)"),
        ("timestamp,value,label\n1700000000,1,0\n1700000060,2,0\n", r"too short to score"),
        ("timestamp,value,label\n1700000000,1,0\nsoon,2,0\n", r"'soon' is neither"),
        ("timestamp,value,label\n1700000000,1,0\n2023-11-14T22:14:20Z,2,0\n",
         r"timestamps mix numbers and text"),
        ("timestamp,value,label\n1700000000,1,0\n1700000060000,2,0\n",
         r"timestamps mix units \(ms and s"),
        ("timestamp,value,label\n1700000000,abc,0\n1700000060,2,0\n", r"value: Unable to parse"),
    ],
)
def test_a_file_that_is_no_labelled_series_says_which_and_why(
    tmp_path: Path, text: str, message: str
) -> None:
    """Missing columns, an empty file, too few timestamps to score, unreadable or mixed
    timestamps, text among the values: a ValueError naming the file, never a traceback from
    deep inside pandas (the command prints it and exits 1)."""
    rk = load_benchmark("real_kpi")
    csv = tmp_path / "kpi.csv"
    csv.write_text(text)
    with pytest.raises(ValueError, match=r"^kpi\.csv: .*" + message):
        rk.read(csv)


def test_gaps_can_be_judged_as_the_contract_api_returns_them(tmp_path: Path) -> None:
    """`--gaps judge` scores `firing` as Rule.evaluate returns it. An hour absent from a count
    of about 100 a minute is the rule's "no data" alert there, a false episode at the native
    step; from a mean (decimals, and so the 15-minute means of the count too) it is a gap with
    no verdict either way; by default gaps are never scored."""
    rk = load_benchmark("real_kpi")
    label = labels([])
    rng = np.random.default_rng(4)
    minute = np.arange(label.size) % 1440
    mean = 100 + 30 * np.sin(2 * np.pi * minute / 1440) + rng.normal(0, 2, label.size)
    keep = (np.arange(label.size) < 14 * 1440 + 600) | (np.arange(label.size) >= 14 * 1440 + 660)
    false = {}
    for name, value in (("mean", mean), ("count", np.round(mean))):
        csv = tmp_path / f"{name}.csv"
        pd.DataFrame({"timestamp": label.index.as_unit("s").asi8[keep], "value": value[keep],
                      "label": label.to_numpy()[keep]}).to_csv(csv, index=False)  # fmt: skip
        for mask in (True, False):
            out = rk.run_one(csv, ("default",), {}, mask_gaps=mask)
            false[name, mask] = {v: out[(v, "default")].false for v in ("native", "15min")}
    assert false["count", True] == false["mean", True] == {"native": 0, "15min": 0}
    assert false["count", False] == {"native": 1, "15min": 0}  # 15-minute means: decimals
    assert false["mean", False] == {"native": 0, "15min": 0}


def test_a_corrupt_gzip_file_says_which(tmp_path: Path) -> None:
    """A .csv.gz damaged in transit: a ValueError naming the file, not zlib's traceback."""
    import gzip

    rk = load_benchmark("real_kpi")
    rows = b"".join(b"%d,1,0\n" % (1_700_000_000 + 60 * i) for i in range(30_000))
    data = bytearray(gzip.compress(b"timestamp,value,label\n" + rows))
    data[12] ^= 0x5A
    (tmp_path / "kpi.csv.gz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"^kpi\.csv\.gz: "):
        rk.read(tmp_path / "kpi.csv.gz")


def frame(days: float, step: str = "1min", seed: int = 5) -> pd.DataFrame:
    """A daily-shaped mean at `step` for `days`, Unix seconds, no label."""
    index = pd.date_range("2026-10-01", periods=int(pd.Timedelta(days=days) / pd.Timedelta(step)),
                          freq=step, tz="UTC")  # fmt: skip
    rng = np.random.default_rng(seed)
    minute = (index.hour * 60 + index.minute).to_numpy()
    value = 100 + 30 * np.sin(2 * np.pi * minute / 1440) + rng.normal(0, 2, index.size)
    return pd.DataFrame({"timestamp": index.as_unit("s").asi8, "value": value,
                         "label": np.zeros(index.size)})  # fmt: skip


def test_a_short_series_is_scored_from_a_cold_start(tmp_path: Path) -> None:
    """Three days of history: the first half is its warm-up (14 days would leave nothing to
    score), and an outage on the last day is caught by the cold-start band; 28 days or more
    keep the 14-day warm-up."""
    rk = load_benchmark("real_kpi")
    data = frame(3)
    outage = slice(2 * 1440 + 600, 2 * 1440 + 640)
    data.loc[data.index[outage], "value"] *= 0.2
    data.loc[data.index[outage], "label"] = 1.0
    data.to_csv(tmp_path / "short.csv", index=False)
    out = rk.run_one(tmp_path / "short.csv", ("default",), {})
    native = out[("native", "default")]
    assert native.short == 1 and native.points == 1.5 * 1440
    assert (native.segments, native.caught, native.false) == (1, 1, 0)
    assert (out[("15min", "default")].segments, out[("15min", "default")].caught) == (1, 1)
    index = pd.date_range("2026-10-01", periods=30 * 96, freq="15min", tz="UTC")
    assert rk.warmup_of(index) == pd.Timedelta(days=14)
    assert rk.warmup_of(index[: 20 * 96]) == (index[20 * 96 - 1] - index[0]) / 2


def test_a_file_of_several_kpis_and_the_is_anomaly_label_are_read(tmp_path: Path) -> None:
    """The AIOps challenge's own files hold many KPIs told apart by a `KPI ID` column; Yahoo's
    call the label `is_anomaly`. Each KPI is a series of its own (file:id), never one series
    of their mixed rows."""
    rk = load_benchmark("real_kpi")
    one, two = frame(2, seed=1), frame(3, seed=2)
    two["value"] *= 50
    pd.concat([one.assign(**{"KPI ID": "b"}), two.assign(**{"KPI ID": "a"})]).to_csv(
        tmp_path / "kpis.csv.gz", index=False
    )
    found = rk.read_all(tmp_path / "kpis.csv.gz")
    assert [name for name, _, _ in found] == ["kpis:a", "kpis:b"]
    assert found[0][1].size == 3 * 1440 and found[0][1].mean() > 1000
    assert found[1][1].size == 2 * 1440 and found[1][1].mean() < 200
    with pytest.raises(ValueError, match=r"^kpis\.csv\.gz: 2 series"):
        rk.read(tmp_path / "kpis.csv.gz")
    out = rk.run_one(tmp_path / "kpis.csv.gz", ("default",), {})
    assert out[("native", "default")].series == 2
    assert set(out[("native", "default")].per_series) == {"kpis:a", "kpis:b"}
    # One id too short to score: noted, and the other still scored (without a list to note it
    # in, the file is refused with the reason).
    pd.concat([one.assign(**{"KPI ID": "b"}), two.iloc[:5].assign(**{"KPI ID": "a"})]).to_csv(
        tmp_path / "mixed.csv", index=False
    )
    problems: list[str] = []
    found = rk.read_all(tmp_path / "mixed.csv", problems)
    assert [name for name, _, _ in found] == ["mixed:b"]
    assert problems == [problems[0]] and problems[0].startswith("mixed.csv: KPI ID a: 5 distinct")
    with pytest.raises(ValueError, match=r"^mixed\.csv: KPI ID a: 5 distinct"):
        rk.read_all(tmp_path / "mixed.csv")
    one.rename(columns={"label": "is_anomaly"}).to_csv(tmp_path / "yahoo.csv", index=False)
    value, label = rk.read(tmp_path / "yahoo.csv")
    assert value.size == 2 * 1440 and label.sum() == 0
    # Yahoo's A3 and A4 files: `timestamps,value,anomaly,changepoint,...`.
    marked = one.assign(label=(np.arange(len(one)) % 1000 == 7).astype(int), changepoint=0)
    marked.rename(columns={"timestamp": "timestamps", "label": "anomaly"}).to_csv(
        tmp_path / "A3Benchmark-TS1.csv", index=False
    )
    value, label = rk.read(tmp_path / "A3Benchmark-TS1.csv")
    assert value.size == 2 * 1440 and label.sum() == 3


def test_a_bad_file_is_named_and_the_others_still_scored(tmp_path: Path) -> None:
    """One file that is no labelled series does not stop the run: the table covers the rest
    and the file is listed with the reason (exit 0); with nothing scorable, exit 1."""
    frame(2).to_csv(tmp_path / "good.csv", index=False)
    (tmp_path / "bad.csv").write_text("ts,v\n1,2\n")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "real_kpi.py"

    def run(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "--data", str(folder), "--only",
                               "default", "--jobs", "1"], capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip

    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 series from 1 files" in done.stdout and "native  default" in done.stdout
    assert "not scored (1 of 2 files, 1 problems in all" in done.stdout
    assert "bad.csv: no column label, timestamp, value" in done.stdout
    (tmp_path / "good.csv").unlink()
    done = run(tmp_path)
    assert done.returncode == 1 and "no file could be scored" in done.stderr
    assert "Traceback" not in done.stderr


def test_row_numbers_are_read_a_row_step_apart(tmp_path: Path) -> None:
    """Yahoo's A1 files number their rows (1, 2, 3, ...) instead of giving times, an hour
    apart: they are read so (or `--row-step` apart) and scored, and the output says so; Unix
    times and fractions are still times, and a bad --row-step is a usage error."""
    rk = load_benchmark("real_kpi")
    hours = 30 * 24
    rng = np.random.default_rng(5)
    rows = np.arange(1, hours + 1)
    value = 500 + 100 * np.sin(2 * np.pi * rows / 24) + rng.normal(0, 10, hours)
    flags = np.zeros(hours, dtype=int)
    flags[600:603] = 1
    value[600:603] += 400
    pd.DataFrame({"timestamp": rows, "value": value, "is_anomaly": flags}).to_csv(
        tmp_path / "real_1.csv", index=False
    )
    series, label = rk.read(tmp_path / "real_1.csv")
    assert series.index[0] == pd.Timestamp("1970-01-01 01:00", tz="UTC")
    assert series.index.freq == pd.Timedelta(hours=1) and series.size == hours
    assert series.attrs["rows"] and label.sum() == 3
    fine, _ = rk.read(tmp_path / "real_1.csv", row_step=pd.Timedelta(minutes=5))
    assert fine.index.freq == pd.Timedelta(minutes=5)
    assert not rk.stamps_of(pd.Series([1_700_000_000, 1_700_000_060])).attrs.get("rows")
    assert not rk.stamps_of(pd.Series([1.5, 2.5])).attrs.get("rows")
    with pytest.raises(ValueError, match="run past the year 2262"):
        rk.stamps_of(pd.Series([1, 99_999_999]), pd.Timedelta(days=10))

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "real_kpi.py"

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "--data", str(tmp_path), "--only",
                               "default", "--jobs", "1", *extra], capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip

    done = run()
    assert done.returncode == 0, done.stderr
    assert "1 of them number their rows instead of giving times: read as 1h apart" in done.stdout
    table = next(line for line in done.stdout.splitlines() if line.startswith("native  default"))
    assert table.split()[3] == "1.000"  # the 3-hour spike caught
    done = run("--row-step", "soon")
    assert done.returncode == 2 and "--row-step takes a positive duration" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_header_in_any_case_and_other_separators_are_read(tmp_path: Path) -> None:
    """`Timestamp, Value, Label` (capitals, spaces), a `time` column, and files separated by
    semicolons or tabs are read as the plain `timestamp,value,label` file is; a file with no
    value column still says what it lacks."""
    rk = load_benchmark("real_kpi")
    plain = frame(2, seed=3)
    plain.to_csv(tmp_path / "plain.csv", index=False)
    want_value, want_label = rk.read(tmp_path / "plain.csv")
    plain.set_axis(["Timestamp", " Value", "LABEL "], axis=1).to_csv(tmp_path / "caps.csv",
                                                                      index=False)  # fmt: skip
    plain.rename(columns={"timestamp": "time"}).to_csv(tmp_path / "time.csv", index=False)
    plain.to_csv(tmp_path / "semi.csv.gz", index=False, sep=";")
    plain.to_csv(tmp_path / "tabs.csv", index=False, sep="\t")
    for name in ("caps.csv", "time.csv", "semi.csv.gz", "tabs.csv"):
        value, label = rk.read(tmp_path / name)
        pd.testing.assert_series_equal(value, want_value, check_names=False)
        pd.testing.assert_series_equal(label, want_label, check_names=False)
    # A tab file with a ';' in a column's name is still a tab file; a semicolon file's decimal
    # commas are numbers; an exact name wins over one that differs only in case.
    plain.assign(**{"note;x": "a"}).to_csv(tmp_path / "tabnote.csv", index=False, sep="\t")
    plain.to_csv(tmp_path / "decimal.csv", index=False, sep=";", decimal=",")
    plain.assign(Value=0.0).to_csv(tmp_path / "exact.csv", index=False)
    for name in ("tabnote.csv", "decimal.csv", "exact.csv"):
        value, label = rk.read(tmp_path / name)
        pd.testing.assert_series_equal(value, want_value, check_names=False, rtol=1e-12)
    plain.drop(columns="value").to_csv(tmp_path / "novalue.csv", index=False, sep=";")
    with pytest.raises(ValueError, match=r"^novalue\.csv: no column value"):
        rk.read(tmp_path / "novalue.csv")
    plain.assign(**{"KPI ID": "a", "Kpi Id": "z"}).to_csv(tmp_path / "twoids.csv", index=False)
    with pytest.raises(ValueError, match=r"^twoids\.csv: columns 'KPI ID', 'Kpi Id' could each"):
        rk.read_all(tmp_path / "twoids.csv")


def test_level_shift_series_hold_one_lasting_change_labelled_for_two_hours(tmp_path: Path) -> None:
    """benchmarks/level_shifts.py: 16 series, each with its one change labelled for its first
    two hours, read by real_kpi.py as it reads any folder; the level after it is the new one."""
    shifts = load_benchmark("level_shifts")
    paths = shifts.write(tmp_path)
    assert len(paths) == 16
    for path in paths:
        frame = pd.read_csv(path)
        label = frame["label"].to_numpy()
        step = int(frame["timestamp"].diff().iloc[1])
        assert step in (300, 900), path
        starts = np.flatnonzero(np.diff(np.concatenate([[0], label])) == 1)
        assert starts.size == 1 and label.sum() == 7200 // step, (path, starts, label.sum())
        size = shifts.CHANGES[int(path.stem.split("_")[1])][0]
        at = starts[0]
        day = 86400 // step
        before = frame["value"].iloc[at - day : at].sum()
        after = frame["value"].iloc[at + 7 * day : at + 8 * day].sum()  # the same hours later
        assert after / before == pytest.approx(size, rel=0.05), (path, after / before)
