"""The catalogue refuses what it would otherwise ignore: each mistake names the file, the entry,
the key and the closest valid name, in the library, at `alertbot check` and at the bot's start."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest

from bot.console import load_checked
from queries.catalogue import CatalogueError, load_catalogue, sql_outputs
from queries.series import off_grid
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, fake, running, settings_for

__all__ = ["fake"]  # the fake Bot API server fixture, shared with test_bot

BUNDLED = Path(__file__).resolve().parents[1] / "queries"


def copy(tmp_path: Path) -> Path:
    """The bundled catalogue and its .sql files in a folder of the test's own."""
    folder = tmp_path / "catalogue"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder / "catalogue.toml"


def edit(toml: Path, old: str, new: str) -> Path:
    text = toml.read_text(encoding="utf-8")
    assert old in text, old
    toml.write_text(text.replace(old, new, 1), encoding="utf-8")
    return toml


VIEWS = '[metrics.views]\ntitle = "Views"\n'
MISTAKES = [
    # (what is replaced, by what, the message the error must hold)
    ('[metrics.views]\n', '[metrics.views]\ndireciton = "down"\n',
     'metric "views": unknown key "direciton" (did you mean "direction"?)'),
    ('[metrics.views]\n', '[metrics.views]\nthreshold = 3\n',
     'metric "views": unknown key "threshold" (valid: title, unit, kind'),
    ("[defaults]\n", "[defaults]\nhistory = 28\n",
     'defaults: unknown key "history" (did you mean "history_days"?)'),
    ("[tables.feed_actions]\n", "[tables.feed_actions]\ntop = 3\n",
     'table "feed_actions": unknown key "top" (did you mean "top_n"?)'),
    ("top_n = { country = 5 }   #", "top_n = { contry = 5 }   #",
     'table "feed_actions": top_n: unknown key "contry" (did you mean "country"?)'),
    ('[metrics.views]\n', '[metrics.views]\ndetector = { min_abs_chnage = 5 }\n',
     'metric "views": detector: unknown key "min_abs_chnage" (did you mean "min_abs_change"?)'),
    ('[metrics.views]\n', '[metrics.views]\ndetector = { method = "seasonl" }\n',
     "unknown detector method 'seasonl'"),
    ('table = "feed_actions"\ncolumn = "views"', 'table = "feed_action"\ncolumn = "views"',
     'metric "views": table: no table "feed_action" in the catalogue '
     '(did you mean "feed_actions"?)'),
    ('column = "views"\ndirection', 'column = "veiws"\ndirection',
     'metric "views": column: "veiws" is not a column of feed_actions'),
    ('kind = "count"\ntable = "feed_actions"\ncolumn = "views"',
     'kind = "counts"\ntable = "feed_actions"\ncolumn = "views"',
     'metric "views": kind: "counts" is not one of count, users, ratio (did you mean "count"?)'),
    ('column = "views"\ndirection = "both"\nslices = ["os", "source", "country"]',
     'column = "views"\ndirection = "both"\nslices = ["os", "sources", "country"]',
     'metric "views": slices: "sources" is not a dim of feed_actions (did you mean "source"?)'),
    ('dims = ["os", "source", "country"]\ntop_n = { country = 5 }   #',
     'dims = ["os", "source", "country", "city"]\ntop_n = { country = 5 }   #',
     "table \"feed_actions\": dims: its SQL never names the dim \"city\" (as 'city' AS dim)"),
    ('columns = ["rows", "users", "views", "likes"]',
     'columns = ["rows", "users", "views", "likes", "shares"]',
     'table "feed_actions": its SQL does not return the column "shares"'),
    ("[metrics.views]\n", '[metric.views]\ntitle = "x"\n[metrics.views]\n',
     'unknown key "metric" (did you mean "metrics"?)'),
    ('title = "Views"', 'title = ""', 'metric "views": title: expected a non-empty string'),
    ("top_n = { country = 5 }   #", "top_n = { country = 2.5 }   #",
     'table "feed_actions": top_n: country: expected a whole number >= 1, got 2.5'),
    ("top_n = { country = 5 }   #", 'top_n = { country = "five" }   #',
     "table \"feed_actions\": top_n: country: expected a whole number >= 1, got 'five'"),
    ("top_n = { country = 5 }   #", "top_n = { country = -1 }   #",
     'table "feed_actions": top_n: country: expected a whole number >= 1, got -1'),
    ("top_n = { country = 5 }   #", "top_n = { country = 0 }   #",
     'table "feed_actions": top_n: country: expected a whole number >= 1, got 0'),
    ("history_days = 28", "history_days = 0", "defaults: history_days: must be 1 to 365, got 0"),
    ("history_days = 28", "history_days = -3", "defaults: history_days: must be 1 to 365"),
    ("history_days = 28", "history_days = 100000", "defaults: history_days: must be 1 to 365"),
    ("history_days = 28", "history_days = 2.5", "defaults: history_days: expected a whole"),
    ('ru = { title = "Просмотры", unit = "просмотры" }', 'ru = { titel = "Просмотры" }',
     'metric "views": ru: unknown key "titel" (did you mean "title"?)'),
    ('ru = { title = "Просмотры", unit = "просмотры" }', 'ru = { title = " " }',
     'metric "views": ru: title: expected a non-empty string'),
    ('ru = { title = "Просмотры", unit = "просмотры" }', 'de = { title = "Aufrufe" }',
     'metric "views": unknown key "de"'),
    ('ru = { title = "Просмотры", unit = "просмотры" }', 'ru = "Просмотры"',
     'metric "views": ru: expected a table of keys'),
    # Names the chat cannot address: two words (/metric views x reads a slice), or "all"
    # (/mute all 1h mutes every metric).
    ("[metrics.views]\n", '[metrics."views x"]\n',
     'metric "views x": a metric\'s name is one word, typed after commands (/metric NAME, '
     "/set NAME k 4): no spaces in it"),
    ("[metrics.views]\n", '[metrics."All"]\n',
     "metric \"All\": the chat reads 'All' as every metric (/mute All 1h): choose another name"),
    ("[metrics.views]\n", '[metrics."всё"]\n', 'metric "всё": the chat reads'),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "message"), MISTAKES)
def test_a_mistake_names_the_file_the_key_and_the_closest_name(
    old: str, new: str, message: str, tmp_path: Path
) -> None:
    """Each misspelled or unknown key, dim or column stops the load with one sentence that
    starts with the file and names the entry, the key and the nearest valid name."""
    toml = edit(copy(tmp_path), old, new)
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    text = str(caught.value)
    assert text.startswith(f"{toml}: "), text
    assert message in text, text
    assert "\n" not in text


def test_the_bundled_catalogue_and_a_faithful_copy_load() -> None:
    """What ships is valid under the checks (and so is every key they accept)."""
    catalogue = load_checked(None)
    assert set(catalogue.metrics) == {"feed_users", "views", "likes", "ctr", "messenger_users",
                                      "messages"}  # fmt: skip
    assert catalogue.metrics["messages"].detector == {"min_abs_change": 20}
    assert all(m.runbook is None and m.owner is None for m in catalogue.metrics.values())


def test_a_metric_names_itself_per_language_with_the_english_fallback(tmp_path: Path) -> None:
    """`ru = { title, unit }` gives the Russian title and unit; without it, or for English or an
    unknown language, title_in/unit_in give the English ones; an empty unit stays allowed."""
    bundled = load_checked(None).metrics
    views = bundled["views"]
    assert (views.title_in("ru"), views.unit_in("ru")) == ("Просмотры", "просмотры")
    assert (bundled["views"].title_in("en"), bundled["views"].unit_in("de")) == ("Views", "views")
    assert bundled["ctr"].unit_in("ru") == "" and bundled["ctr"].title_in("ru").startswith("CTR")
    assert all(m.title_in("ru") != m.title for m in bundled.values() if m.name != "ctr")
    old = 'ru = { title = "Просмотры", unit = "просмотры" }'
    toml = edit(copy(tmp_path), old, 'ru = { title = "Просмотры" }')
    metric = load_catalogue(toml).metrics["views"]
    assert (metric.title_in("ru"), metric.unit_in("ru")) == ("Просмотры", "views")


def test_the_translated_languages_are_the_bots_own() -> None:
    """The catalogue accepts a table for every language the bot speaks besides English, and no
    other (queries does not import the bot, so the two lists are kept equal here)."""
    from bot.core.i18n import LANGUAGES
    from queries.catalogue import TRANSLATED

    assert set(TRANSLATED) == set(LANGUAGES) - {"en"}


def test_a_column_mistake_lists_the_columns_once(tmp_path: Path) -> None:
    """An empty column names the table's columns once, not again as "valid:"."""
    toml = edit(copy(tmp_path), 'column = "views"\ndirection', 'column = ""\ndirection')
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert str(caught.value).endswith(
        'metric "views": column: "" is not a column of feed_actions (rows, users, views, likes)'
    )


def test_a_daily_step_is_refused_saying_checks_judge_15_minutes(tmp_path: Path) -> None:
    """`step = "1d"` with the user's own SQL was refused as unsupported "by the bundled .sql
    files", SQL the user was not using. It says what the limit is and what to count instead."""
    toml = edit(copy(tmp_path), 'step = "15m"', 'step = "1d"')
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    said = str(caught.value)
    assert "bundled" not in said
    assert said.endswith("defaults: step: only 15m is supported: every check judges 15-minute "
                         "buckets (a daily figure is counted per 15 minutes, as users active "
                         "in each quarter-hour are)")  # fmt: skip


def test_a_table_without_the_rows_column_is_refused_at_load(tmp_path: Path) -> None:
    """A table whose columns leave out rows loaded, and every check then stopped in a
    traceback (KeyError: 'Column not found: rows'): each check reads it to tell a bucket the
    table had no row in from a 0. It is refused at load, saying what to select."""
    toml = edit(copy(tmp_path), 'columns = ["rows", "users", "views", "likes"]',
                'columns = ["users", "views", "likes"]')  # fmt: skip
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert str(caught.value).endswith(
        'table "feed_actions": columns must include rows, the number of rows in each bucket and '
        "slice (select count() AS rows): it tells a bucket the table had no row in from a 0; "
        "got users, views, likes"
    )


def test_an_sql_file_mistake_is_refused_at_load_naming_the_file(tmp_path: Path) -> None:
    """A column dropped from the outer SELECT says to add it there (not a near name); an SQL
    file without the {start}/{end} markers is refused at load, naming the file."""
    toml = copy(tmp_path)
    sql = toml.parent / "feed_actions.sql"
    original = sql.read_text(encoding="utf-8")
    sql.write_text(original.replace("views, likes\n", "views\n", 1), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert str(caught.value).endswith(
        'table "feed_actions": its SQL does not return the column "likes": '
        "add likes to the SELECT of feed_actions.sql"
    )
    sql.write_text(original.replace("-- {end}", "", 1).replace("-- {end}", ""), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert 'table "feed_actions": feed_actions.sql: the query has no window marker for end' in (
        str(caught.value))  # fmt: skip


def test_a_cp1251_file_is_refused_and_a_bom_is_accepted(tmp_path: Path) -> None:
    """A catalogue or .sql file in Windows-1251 is refused with the byte and line and what to
    do; a UTF-8 byte-order mark is read as UTF-8; a non-Latin bare name gets a hint."""
    toml = edit(copy(tmp_path), 'title = "Views"', 'title = "Просмотры"')
    text = toml.read_text(encoding="utf-8")
    toml.write_bytes(text.encode("cp1251"))
    first = next(at for at, char in enumerate(text) if not char.isascii())
    line, byte = text[:first].count("\n") + 1, text[first].encode("cp1251")[0]
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert str(caught.value) == (
        f"{toml} is not UTF-8 (byte 0x{byte:02x} at line {line}): save it as UTF-8")
    toml.write_bytes(text.encode("utf-8-sig"))
    assert load_checked(toml).metrics["views"].title == "Просмотры"
    sql = toml.parent / "feed_actions.sql"
    sql.write_bytes(("-- Лента\n" + sql.read_text(encoding="utf-8")).encode("cp1251"))
    with pytest.raises(CatalogueError, match=r"feed_actions.sql is not UTF-8 \(byte 0xcb at "
                       r"line 1\): save it as UTF-8"):  # fmt: skip
        load_checked(toml)
    toml.write_text(text.replace("[metrics.views]", "[metrics.просмотры]"), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r'quote non-Latin names, e.g. \[metrics."просмо'):
        load_checked(toml)
    toml.write_text(text.replace("[metrics.views]", "[metrics.@views]"), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert "non-Latin" not in str(caught.value)


def test_runbook_and_owner_are_read_and_checked(tmp_path: Path) -> None:
    """runbook and owner are optional per-metric text fields; an empty one is refused."""
    toml = edit(copy(tmp_path), '# runbook = "https://wiki.example.com/feed/views-drop"\n'
                '# owner = "@feed-team"', 'runbook = "https://wiki.example.com/views"\n'
                'owner = " @feed-team "')  # fmt: skip
    metric = load_catalogue(toml).metrics["views"]
    assert (metric.runbook, metric.owner) == ("https://wiki.example.com/views", "@feed-team")
    assert load_catalogue(toml).metrics["likes"].owner is None
    edit(toml, 'owner = " @feed-team "', 'owner = ""')
    with pytest.raises(CatalogueError, match='metric "views": owner: expected a non-empty'):
        load_catalogue(toml)


def test_a_metrics_dashboard_is_read_and_checked(tmp_path: Path) -> None:
    """dashboard is an http(s) link template per metric: {metric} and {slice} are filled in,
    any other {name} is refused as DASHBOARD_URL refuses it, and so is a link that is no URL."""
    toml = edit(copy(tmp_path), '# owner = "@feed-team"',
                'dashboard = "https://bi.example/d?m={metric}&s={slice}"')  # fmt: skip
    assert load_catalogue(toml).metrics["views"].dashboard == "https://bi.example/d?m={metric}&s={slice}"
    assert load_catalogue(toml).metrics["likes"].dashboard is None
    edit(toml, "&s={slice}", "&s={slise}")
    with pytest.raises(CatalogueError, match=r'"views": dashboard: .* has \{slise\}, which is'):
        load_catalogue(toml)
    # JSON in a query string (a Grafana Explore link) holds braces that are no placeholders
    edit(toml, "&s={slise}", r'&left={\"datasource\":\"ch\"}')  # escaped, as TOML wants it
    assert load_catalogue(toml).metrics["views"].dashboard.endswith('left={"datasource":"ch"}')
    edit(toml, r'"https://bi.example/d?m={metric}&left={\"datasource\":\"ch\"}"',
         '"https://[::1/d"')  # fmt: skip
    with pytest.raises(CatalogueError, match=r"dashboard: .https://\[::1/d. is not an http"):
        load_catalogue(toml)
    edit(toml, '"https://[::1/d"', '"bi.example/d"')
    with pytest.raises(CatalogueError, match=r'dashboard: .bi.example/d. is not an http\(s\) URL'):
        load_catalogue(toml)


def test_a_bad_detector_value_names_the_metric(tmp_path: Path) -> None:
    """A detector parameter out of its range is refused at load, with the metric's name, not
    at the first check."""
    toml = edit(copy(tmp_path), "detector = { min_abs_change = 20 }", "detector = { k = -1 }")
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert str(caught.value).startswith(f'{toml}: metric "messages": detector: ')
    assert " k must be " in str(caught.value)


def test_sql_outputs_reads_the_outer_select() -> None:
    """The columns a table's SQL returns: aliases and bare names of the outer SELECT only; a
    SELECT * is 'cannot tell' (None), not 'nothing'."""
    sql = """-- a comment, with, commas
    SELECT toStartOfHour(time) AS bucket, t.dim, dim_value, count() AS rows,
           sum(if(a = 'x', 1, 0)) AS views
    FROM (SELECT time, dim, dim_value, a FROM events) AS t"""
    assert sql_outputs(sql) == ("bucket", "dim", "dim_value", "rows", "views")
    assert sql_outputs("SELECT * FROM t") is None
    assert sql_outputs("WITH 1 AS x") is None
    for table in load_catalogue().tables.values():
        outputs = sql_outputs(table.sql)
        assert outputs is not None and set(table.columns) <= set(outputs)


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("command", [["check", "--json"], ["catalogue"], ["run"]])
def test_the_commands_and_the_bot_stop_with_exit_2_on_a_misspelled_key(
    command: list[str], tmp_path: Path
) -> None:
    """`check`, `catalogue` and the bot's start-up (with a token) refuse a misspelled key before
    touching the source: exit 2, one line naming the file, the metric and the closest key."""
    toml = edit(copy(tmp_path), "[metrics.views]\n", '[metrics.views]\ndireciton = "down"\n')
    env = {"CATALOGUE_PATH": str(toml), "EMBEDDED_PATH": str(tmp_path / "never"),
           "STATE_PATH": str(tmp_path / "s.db"), "BOT_TOKEN": "123:never-used",
           "TELEGRAM_API_URL": "http://127.0.0.1:9", "HTTP_PORT": "0",
           "PYTHONPATH": str(BUNDLED.parent)}  # fmt: skip
    done = run(*command, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f'alertbot: {toml}: metric "views": unknown key "direciton" (did you mean "direction"?)'
    )
    assert not (tmp_path / "never").exists()


async def test_reload_answers_a_misspelled_key_and_keeps_the_old_catalogue(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/reload with a misspelled metric key: the admin's answer names the file, the key and the
    closest name; the catalogue in force stays; the corrected file is then taken."""
    toml = copy(tmp_path)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", catalogue_path=toml)
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        app = cast(Any, monitor).app
        app.read_settings = lambda: settings_for(fake.url, embedded_spec, tmp_path / "s.db",
                                                 catalogue_path=toml)  # fmt: skip
        old = monitor.catalogue
        edit(toml, "[metrics.views]\n", '[metrics.views]\ndireciton = "down"\n')
        await fake.send("/reload", user=ADMIN)
        (answer,) = await fake.wait_for(lambda c: c.chat_id == ADMIN)
        assert "Catalogue not reloaded, the old one stays" in answer.text, answer.text
        assert 'unknown key "direciton" (did you mean "direction"?)' in answer.text
        assert monitor.catalogue is old
        edit(toml, 'direciton = "down"\n', "")
        await fake.send("/reload", user=ADMIN)
        second = await fake.wait_for(lambda c: c.chat_id == ADMIN, count=2)
        assert "Catalogue reloaded: 6 metrics" in second[-1].text, second[-1].text
        assert monitor.catalogue is not old


def test_buckets_off_the_steps_grid_are_named_with_what_to_fix() -> None:
    """A query grouping by hour under a 15-minute step leaves three buckets in four empty; one
    grouping by 5 minutes puts buckets between the step's; both are said, with the fix. Data
    with quiet buckets (a whole hour without rows) is on the grid."""
    def frame(times: pd.DatetimeIndex) -> pd.DataFrame:
        return pd.DataFrame({"bucket": times, "dim": "total", "dim_value": ""})

    quarter = timedelta(minutes=15)
    hours = pd.date_range("2026-12-01", periods=24, freq="1h", tz="UTC")
    assert off_grid(frame(hours), quarter, "feed_actions") == (
        "the query for feed_actions made buckets 1h apart, while the catalogue's step is 15m: "
        "the buckets between stay empty; group rows by the step, e.g. "
        "toStartOfFifteenMinutes(time) for 15m")
    assert off_grid(frame(hours + pd.Timedelta(minutes=5)), quarter, "feed_actions") == (
        "the query for feed_actions made a bucket at 2026-12-01 00:05 UTC, off the catalogue's "
        "step (15m): group rows by the step, e.g. toStartOfFifteenMinutes(time) for 15m")
    quarters = pd.date_range("2026-12-01", periods=96, freq="15min", tz="UTC")
    assert off_grid(frame(quarters[::4].append(quarters[1:2])), quarter) is None
    assert off_grid(frame(hours[:23]), quarter) is None  # too few buckets to tell
    assert off_grid(frame(hours), timedelta(hours=1)) is None


async def test_a_query_bucketing_by_hour_under_a_15_minute_step_is_a_table_error(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """feed_actions.sql grouping by hour under the 15-minute step was checked without a word:
    each hour's rows judged as one quarter-hour, bands like 0 - 12,313 from the empty ones.
    Now /check says the feed table was not checked and what to fix; the messenger's metrics,
    from the other table, are still checked."""
    toml = copy(tmp_path)
    sql = toml.parent / "feed_actions.sql"
    sql.write_text(sql.read_text().replace("toStartOfFifteenMinutes(", "toStartOfHour("))
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", catalogue_path=toml)
    async with running(settings, fake, schedule=False, catalogue=load_checked(toml)):
        await fake.send("/check", user=ADMIN)
        answer = (await fake.wait_for(lambda c: c.chat_id == ADMIN))[0]
    said = "not checked: the query for feed_actions made buckets 1h apart, while the catalogue"
    assert said in answer.text, answer.text
    assert "Messages sent" in answer.text and "Views" not in answer.text, answer.text


async def test_an_hourly_query_is_caught_on_the_history_a_bot_already_holds(
    embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A bot that ran an hourly query before holds its rows in the state file, and each check
    then fetches only the last hour again (two buckets at most: too few to tell). The first
    check after a start judges the whole window it holds, and refuses it."""
    from bot.service.history import History
    from bot.state import State, query_key
    from queries.errors import QueryFailed
    from queries.history import plan
    from tests.conftest import END

    toml = copy(tmp_path)
    sql = toml.parent / "feed_actions.sql"
    sql.write_text(sql.read_text().replace("toStartOfFifteenMinutes(", "toStartOfHour("))
    catalogue = load_checked(toml)
    table = catalogue.tables["feed_actions"]
    state, source = State(tmp_path / "s.db"), embedded_spec.open()
    try:
        window = plan(END, step=catalogue.step, delay=timedelta(minutes=2),
                      history=catalogue.history, held_from=None, held_until=None)  # fmt: skip
        rows = await source.fetch(table, window.fetch_start, window.end)  # as a bot before held
        state.history.save(source.key, query_key(table.name, table.sql, table.columns), rows,
                           table.columns, held_from=window.start, replace_from=window.fetch_start,
                           held_until=window.end)  # fmt: skip
        later = END + timedelta(minutes=15)
        with pytest.raises(QueryFailed, match="the query for feed_actions made buckets 1h apart"):
            await History(source, catalogue, state.history).frame(table, later,
                                                                  timedelta(minutes=2))
    finally:
        await source.close()
        state.close()


@pytest.mark.parametrize("method", ["seasonal", "iqr", "stl"])
def test_the_metric_s_kind_says_which_series_count_events_for_any_method(method: str) -> None:
    """The checker's spec says `counts` from the metric's kind for the rule's "no data" alert
    too, whether or not the method has a floor that uses it: views count events, CTR does not;
    a `counts` the method does not take is left to the rule."""
    import dataclasses

    import detectors
    from bot.service.checker import spec_for

    catalogue = load_catalogue()
    for name, counts in (("views", "yes"), ("ctr", "no")):
        metric = dataclasses.replace(catalogue.metrics[name], detector={"method": method})
        spec = spec_for(metric)
        detectors.build(spec)  # iqr has no `counts` of its own: not refused
        assert detectors.build_rule(spec).counts == counts, (name, method)


def test_a_tune_snippet_pasted_next_to_the_inline_detector_says_keep_one(tmp_path: Path) -> None:
    """The bundled catalogue sets messages' guard inline (`detector = { min_abs_change = 20 }`);
    a [metrics.messages.detector] table pasted after it, as `alertbot tune` prints one, is a
    TOML error that now says the metric has its detector twice and to keep one."""
    toml = copy(tmp_path)
    text = toml.read_text(encoding="utf-8")
    assert "detector = { min_abs_change = 20 }" in text
    toml.write_text(text + '\n[metrics.messages.detector]\nmethod = "seasonal"\nk = 4\n',
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(CatalogueError) as caught:
        load_checked(toml)
    assert str(caught.value).endswith(
        ": the metric messages already has a detector (an inline `detector = { ... }` under "
        "[metrics.messages], or a table): keep one, and put what both set in it"), caught.value
    toml.write_text(text.replace("detector = { min_abs_change = 20 }",
                                 'detector = { method = "seasonal", min_abs_change = 20, k = 4 }'),
                    encoding="utf-8")  # fmt: skip
    assert load_checked(toml).metrics["messages"].detector == {
        "method": "seasonal", "min_abs_change": 20, "k": 4}


def test_a_metric_is_found_by_its_name_in_any_case_then_by_a_title_only_it_has() -> None:
    """Catalogue.find: the name as written; the name in any case; with titles, a one-word
    title only one metric has, in any language. A title never shadows another metric's name
    ('DAU' is the metric dau, not the one titled DAU), and a word two metrics answer to names
    neither; a miss suggests the closest name."""
    bundled = load_catalogue()
    likes, views = bundled.metrics["likes"], bundled.metrics["views"]
    dau = dataclasses.replace(likes, name="dau", title="Daily active users", names={})
    users = dataclasses.replace(views, name="users", title="DAU",
                                names={"ru": {"title": "Пользователи"}})  # fmt: skip
    twin = dataclasses.replace(views, name="twin", title="Пользователи", names={})
    catalogue = dataclasses.replace(bundled, metrics={"dau": dau, "users": users, "twin": twin})

    def found(typed: str, titles: bool = True) -> tuple[str | None, str | None]:
        metric, close = catalogue.find(typed, titles=titles)
        return (None if metric is None else metric.name), close

    assert found("dau") == ("dau", None) and found("DAU") == ("dau", None)
    assert found(" Users ", titles=False) == ("users", None)
    assert found("пользователи") == (None, None)  # two metrics' title: neither
    assert found("Daily active users") == ("dau", None)
    assert found("Daily active users", titles=False) == (None, None)
    assert found("usres") == (None, "users")
