"""A source's errors read in the chat's language: every sentence the sources build, said in
Russian with what the server said kept as written, and given back unchanged in English."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.i18n import translator
from bot.core.problems import problem_text
from bot.service.monitor import SourceNotAnswering
from queries import sources
from queries.errors import SourceError, SourceMisconfigured
from queries.series import frame_from_rows
from queries.sources import ClickHouseSource, EmbeddedSource, classify_server_error

ROOT = Path(__file__).parents[1]
EN, RU = translator("en"), translator("ru")
EMBEDDED = EmbeddedSource("/data/chdb").describe()
SERVER = ClickHouseSource("http://user:secret@ch.local:8123").describe()
WHERES = (EMBEDDED, SERVER)
PLACE = {EMBEDDED: "/data/chdb", SERVER: "http://ch.local:8123"}  # kept; the rest translated
# What may stay in Latin letters in a Russian sentence: names of settings, products, formats.
LATIN = {"ClickHouse", "CLICKHOUSE_URL", "CLICKHOUSE_DATABASE", "CLICKHOUSE_USER",
         "CLICKHOUSE_PASSWORD", "CLICKHOUSE_TIMEOUT", "HTTP", "URL", "README", "receiver_id",
         "reciever_id", "CATALOGUE_PATH", "SELECT", "allow_databases", "users", "xml"}  # fmt: skip


def _error(frame: list[dict[str, object]]) -> str:
    with pytest.raises(SourceError) as caught:
        frame_from_rows(frame, ["views"])
    return str(caught.value)


def _server(where: str) -> list[tuple[str, list[str]]]:
    """What classify_server_error says for every kind of server answer, and its verbatim parts."""
    said = "Table simulator.feed_actions does not exist. Maybe you meant x?"
    cases = [(str(classify_server_error(f"Code: {code}. DB::Exception: {said}", where=where)),
              [where, said])
             for code in sources._MISCONFIGURED]  # fmt: skip
    busy = "Too many simultaneous queries. Maximum: 100"
    cases.append((str(classify_server_error(f"Code: 202. DB::Exception: {busy}", where=where)),
                  [where, busy]))  # fmt: skip
    cases.append((str(classify_server_error("502 Bad Gateway", where=where)),
                  [where, "'502 Bad Gateway'"]))  # fmt: skip
    page = "<html><head><title>401 Authorization Required</title></head></html>"
    cases.append((str(classify_server_error(page, where=where)),
                  [where, "'401 Authorization Required'"]))  # fmt: skip
    cases.append((str(classify_server_error("<html>Welcome to nginx!</html>", where=where)),
                  [where, "'<html>Welcome to nginx!</html>'"]))  # fmt: skip
    syntax = "Syntax error: failed at position 8 ('FROMM'); expected FROM"
    cases.append((str(classify_server_error(f"Code: 62. DB::Exception: {syntax}", where=where)),
                  [where, syntax]))  # fmt: skip
    return cases


def _cases() -> list[tuple[str, list[str]]]:
    """(the English message exactly as built, the parts a translation keeps as written)."""
    cases = [case for where in WHERES for case in _server(where)]
    cases += [
        ("not asked after a query for feed_actions got no answer", ["feed_actions"]),
        ("the query for feed_actions made buckets 1h apart, while the catalogue's step is 15m: "
         "the buckets between stay empty; group rows by the step, e.g. "
         "toStartOfFifteenMinutes(time) for 15m",
         ["feed_actions", "toStartOfFifteenMinutes(time)"]),
        ("the query for feed_actions made a bucket at 2026-12-01 00:05 UTC, off the catalogue's "
         "step (15m): group rows by the step, e.g. toStartOfFifteenMinutes(time) for 15m",
         ["feed_actions", "2026-12-01 00:05 UTC", "toStartOfFifteenMinutes(time)"]),
        (_error([{"bucket": 1, "dim": "total"}]), ["dim_value, views"]),
        (_error([{"bucket": "noon", "dim": "total", "dim_value": "", "views": 1}]),
         ["bucket", "'noon'", "dim, dim_value"]),
        (_error([{"bucket": datetime(2026, 12, 1, tzinfo=UTC), "dim": "total", "dim_value": "",
                  "views": 1}]), ["toUInt32(toStartOfFifteenMinutes(time)) AS bucket"]),
        ("the query for events: " + _error([{"bucket": 1, "dim": "total", "dim_value": "",
                                             "views": "RUB 273"}]),
         ["events", "views", "'RUB 273'", "dim, dim_value"]),
        (str(SourceNotAnswering(SERVER, "no answer within 25 s")), [SERVER]),
        ("no answer within 25 s", []),
        ("no history of feed_actions yet", ["feed_actions"]),
    ]
    for where in WHERES:  # copied from queries/ (test_every_source_error_template_is_known)
        cases += [
            (f"{where}: table simulator.feed_actions does not exist; check "
             "CLICKHOUSE_DATABASE, or seed it with `alertbot seed`",
             [where, "simulator.feed_actions", "`alertbot seed`"]),
            (f"{where}: simulator.message_actions has neither receiver_id nor reciever_id; the "
             "messenger queries need one of them", [where, "simulator.message_actions"]),
            (f"cannot connect to {where} (ClientConnectorError): is the server running, and is "
             "CLICKHOUSE_URL right?", [where, "ClientConnectorError"]),
            (f"the TLS handshake with {where} failed (ClientConnectorSSLError): if that port "
             "serves plain HTTP, as ClickHouse's 8123 does, set CLICKHOUSE_URL to "
             "http://ch.local:8123; else check the server's certificate",
             [where, "ClientConnectorSSLError", "http://ch.local:8123"]),
            (f"{where} did not answer within 2.5 s", [where]),
            (f"{where} did not answer within 2.5 s, 3 times", [where]),
            (f"{where} did not answer within 2.5 s, 3 times, yet answers a SELECT 1: this query "
             "takes longer than CLICKHOUSE_TIMEOUT allows, so raise it", [where, "SELECT 1"]),
            (f"{where} did not answer within 2.5 s, yet answers a SELECT 1: this query takes "
             "longer than CLICKHOUSE_TIMEOUT allows, so raise it", [where, "SELECT 1"]),
            (f"lost the connection to {where} (ServerDisconnectedError)",
             [where, "ServerDisconnectedError"]),
            (f"{where} sent an empty answer (is a proxy in front of it?)", [where]),
            (f"{where} sent an answer that is not ClickHouse's (UnicodeDecodeError); is "
             "CLICKHOUSE_URL the HTTP interface of a ClickHouse server (usually port 8123)?",
             [where, "UnicodeDecodeError"]),
            (f"{where} is open in another process (pid 4242), such as a running `alertbot "
             "run`: one process at a time can use it; stop that one first, or point both at a "
             "ClickHouse server (CLICKHOUSE_URL)", [where, "4242", "`alertbot run`"]),
            (f"{where} is open in another process, such as a running `alertbot run`: one "
             "process at a time can use it; stop that one first, or point both at a ClickHouse "
             "server (CLICKHOUSE_URL)", [where, "`alertbot run`"]),
            (f"cannot open {where}: Session already exists with another path",
             [where, "Session already exists with another path"]),
            (f"cannot create {where}: Not a directory; set EMBEDDED_PATH to a folder this user "
             "can write to", [where, "Not a directory", "EMBEDDED_PATH"]),
            (f"{where}: database simulator already has feed_actions, message_actions that "
             "`alertbot seed` did not create; seeding would replace real data. Point "
             "CLICKHOUSE_DATABASE at an empty database.",
             [where, "simulator", "feed_actions, message_actions", "`alertbot seed`"]),
            (f"{where} holds no demo dataset; run `alertbot seed`", [where, "`alertbot seed`"]),
        ]  # fmt: skip
    cases.append(("CLICKHOUSE_URL 'http://ch.local:81:23' is not a valid URL; expected e.g. "
                  "http://localhost:8123", ["'http://ch.local:81:23'", "http://localhost:8123"]))
    return cases


CASES = _cases()


def _latin_left(russian: str, verbatim: list[str]) -> set[str]:
    for part in sorted(verbatim, key=len, reverse=True):
        russian = russian.replace(part, " ")
    for kept in ("'Data the queries expect'", "'Pointing it at your own ClickHouse'",
                 "`alertbot seed`", "CAST(x AS String) AS dim_value",
                 "toString(LowCardinality)", "LowCardinality"):  # sections, a command, SQL
        russian = russian.replace(kept, " ")
    return set(re.findall(r"[A-Za-z_]{2,}", russian)) - LATIN


@pytest.mark.parametrize(("english", "verbatim"), CASES, ids=[c[0][:60] for c in CASES])
def test_every_source_error_reads_in_russian_and_is_unchanged_in_english(
    english: str, verbatim: list[str]
) -> None:
    assert problem_text(english, EN) == english
    russian = problem_text(english, RU)
    assert russian != english
    verbatim = [PLACE.get(part, part) for part in verbatim]
    for part in verbatim:
        assert part in russian, (part, russian)
    assert not _latin_left(russian, verbatim), russian
    assert "secret" not in russian


def test_a_source_error_in_russian_reads_as_an_operator_would_say_it() -> None:
    dropped = str(classify_server_error(
        "Code: 60. DB::Exception: Table simulator.feed_actions does not exist. (UNKNOWN_TABLE)",
        where=EMBEDDED))  # fmt: skip
    assert problem_text(dropped, RU) == (
        "встроенная база в /data/chdb: нет таблицы (Table simulator.feed_actions does not "
        "exist. (UNKNOWN_TABLE)); проверьте CLICKHOUSE_DATABASE и имена таблиц в запросах "
        "каталога (CATALOGUE_PATH) или заполните базу демо-таблицами командой `alertbot seed`"
    )
    assert problem_text(f"{SERVER} did not answer within 2.5 s", RU) == (
        "ClickHouse по адресу http://ch.local:8123: нет ответа за 2,5 с"
    )


def test_errors_joined_and_named_by_table_are_said_one_by_one() -> None:
    """/status joins a check's errors with "; ", a notice puts each after its table's name;
    what the server said may hold "; " itself, and an error of no known shape stays as it is."""
    first = str(classify_server_error(
        "Code: 60. DB::Exception: Table x.feed_actions does not exist; maybe x.feeds",
        where=SERVER))  # fmt: skip
    second = f"{EMBEDDED} holds no demo dataset; run `alertbot seed`"
    joined = f"{first}; {second}; something new went wrong"
    assert problem_text(joined, EN) == joined
    assert problem_text(joined, RU) == (
        f"{problem_text(first, RU)}; {problem_text(second, RU)}; something new went wrong"
    )
    named = f"feed_actions: {first}; message_actions: {second}"
    assert problem_text(named, EN) == named
    assert problem_text(named, RU) == (
        f"feed_actions: {problem_text(first, RU)}; message_actions: {problem_text(second, RU)}"
    )
    assert problem_text(f"something new; {second}", RU) == (
        f"something new; {problem_text(second, RU)}"
    )


def test_a_refused_connection_reads_in_russian() -> None:
    """The real sentence of a server that is not there (nothing listens on port 9)."""
    import asyncio

    async def ask() -> str:
        source = ClickHouseSource("http://127.0.0.1:9", retries=1, timeout=5)
        try:
            with pytest.raises(SourceError) as caught:
                await source.query("SELECT 1")
        finally:
            await source.close()
        return str(caught.value)

    english = asyncio.run(ask())
    assert problem_text(english, EN) == english
    russian = problem_text(english, RU)
    assert russian.startswith("ClickHouse по адресу http://127.0.0.1:9: не удаётся подключиться"), (
        russian
    )
    assert "is the server running" not in russian


# -- coverage that cannot rot: every message template a source error is built from ----------
ERRORS = {"SourceError", "SourceUnavailable", "SourceMisconfigured", "QueryFailed"}


def _text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    assert isinstance(node, ast.JoinedStr)
    out = []
    for part in node.values:
        if isinstance(part, ast.FormattedValue):
            conversion = "" if part.conversion == -1 else f"!{chr(part.conversion)}"
            spec = "" if part.format_spec is None else f":{_text(part.format_spec)}"
            out.append(f"{{{ast.unparse(part.value)}{conversion}{spec}}}")
        else:
            out.append(_text(part))
    return "".join(out)


def _strings(node: ast.AST) -> list[str]:
    """The outermost string literals (f-strings as templates) in an expression."""
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant)
                                           and isinstance(node.value, str)):  # fmt: skip
        return [_text(node)]  # type: ignore[arg-type]
    return [s for child in ast.iter_child_nodes(node) for s in _strings(child)]


def templates() -> set[str]:
    """Every message a SourceError (or a subclass) is built from in queries/ and bot/, and every
    `problem = ...` a command is told instead."""
    files = sorted([*ROOT.glob("queries/*.py"), *ROOT.glob("bot/**/*.py")])
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in files]
    errors = set(ERRORS)
    for _ in range(3):  # subclasses of subclasses
        errors |= {node.name for tree in trees for node in ast.walk(tree)
                   if isinstance(node, ast.ClassDef)
                   and any(isinstance(b, ast.Name) and b.id in errors for b in node.bases)}
    found: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                if getattr(node.func, "id", getattr(node.func, "attr", None)) in errors:
                    found.update(_strings(node.args[0]))
            elif isinstance(node, ast.ClassDef) and node.name in errors:
                found.update(s for call in ast.walk(node) if isinstance(call, ast.Call)
                             and ast.unparse(call.func) == "super().__init__" and call.args
                             for s in _strings(call.args[0]))  # fmt: skip
            elif (isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "problem"
                  and isinstance(node.value, ast.JoinedStr | ast.Constant)):  # fmt: skip
                found.update(_strings(node.value))
    return found


def _fits(template: str) -> re.Pattern[str]:
    literal = re.split(r"\{[^{}]*\}", template)
    return re.compile(".+".join(re.escape(part) for part in literal), re.DOTALL)


def test_every_source_error_template_is_known() -> None:
    """A new sentence in queries/ or bot/ fails here until bot/core/problems.py knows it
    (or knowingly leaves it as written) and a case above shows it."""
    found = templates()
    assert len(found) >= 19, found
    unknown = sorted(tm for tm in found if not any(_fits(tm).fullmatch(c[0]) for c in CASES))
    assert not unknown, f"add these to bot/core/problems.py and to CASES: {unknown}"


def test_the_operators_notice_and_check_say_each_tables_error_in_russian() -> None:
    """The notice that the source cannot be read names each table's error after the table,
    /check lists them: in Russian both, HTML-escaped once."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from bot.core.check_text import check_summary
    from bot.core.plan import Notice
    from bot.core.render import Style, render_notice
    from tests.test_plan import planned, report

    where = EmbeddedSource("/data/<chdb>").describe()
    errors = {
        "feed_actions": str(classify_server_error(
            "Code: 60. DB::Exception: Table simulator.feed_actions does not exist", where=where)),
        "message_actions": f"{where} did not answer within 5 s",
    }  # fmt: skip
    down = report(errors=errors)
    notice = next(i for i in planned(down) if isinstance(i, Notice))
    style = Style(ZoneInfo("UTC"), timedelta(minutes=15))
    english = render_notice(notice, style).text
    russian = render_notice(notice, style.speaking("ru")).text
    assert "feed_actions: the embedded database at /data/&lt;chdb&gt;: missing table" in english
    assert "feed_actions: встроенная база в /data/&lt;chdb&gt;: нет таблицы (Table " in russian
    assert "message_actions: встроенная база в /data/&lt;chdb&gt;: нет ответа за 5 с" in russian
    assert "&amp;lt;" not in russian and "missing table" not in russian
    summary = check_summary(down, zone=ZoneInfo("UTC"), t=RU)
    assert "⚠️ не проверено: встроенная база в /data/&lt;chdb&gt;: нет таблицы (" in summary
    assert "did not answer" not in summary and "check CLICKHOUSE" not in summary


def test_the_notice_names_its_source_once_in_the_chat_s_words() -> None:
    """The notice says which source it cannot read in its first words; the errors after it
    (which begin with the source's own description) do not name it again, in English or in
    Russian."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from bot.core.plan import Notice
    from bot.core.render import Style, render_notice
    from tests.test_plan import planned, report

    error = str(classify_server_error("Code: 60. DB::Exception: Table s.feed_actions does not "
                                      "exist", where=EMBEDDED))  # fmt: skip
    notice = next(i for i in planned(report(errors={"feed_actions": error}))
                  if isinstance(i, Notice))  # fmt: skip
    style = Style(ZoneInfo("UTC"), timedelta(minutes=15), source=EMBEDDED)
    english = render_notice(notice, style).text
    russian = render_notice(notice, style.speaking("ru")).text
    assert english.count("/data/chdb") == 1 and "feed_actions: missing table (" in english, english
    assert russian.count("/data/chdb") == 1 and "встроенная база в /data/chdb" in russian, russian
    assert "the embedded database" not in russian and "feed_actions: нет таблицы (" in russian


def test_a_server_s_words_like_not_answering_are_not_taken_for_a_source_that_hangs() -> None:
    """"replica r1 is not answering: timeout" inside a rejected query is what the server said:
    kept as written, the sentence around it translated."""
    error = str(classify_server_error("Code: 62. DB::Exception: replica r1 is not answering: "
                                      "timeout", where=EMBEDDED))  # fmt: skip
    said = problem_text(error, RU)
    assert said == "встроенная база в /data/chdb: ClickHouse отклонил запрос (replica r1 is not " \
                   "answering: timeout)", said  # fmt: skip


def test_a_long_error_is_said_in_part_and_in_linear_time() -> None:
    """A 10 KB error (a server's long message, of a shape the bot does not know, full of "; ")
    is cut to its first LONGEST characters in Russian, the known sentence before it said;
    English gives it back whole. (Each run of pieces is at most RUN long: without that bound
    this input took about a minute.)"""
    from bot.core.problems import LONGEST

    known = f"{EMBEDDED} did not answer within 5 s"
    text = known + "; " + "a; " * 3333
    assert problem_text(text, EN) == text
    said = problem_text(text, RU)
    assert said.startswith("встроенная база в /data/chdb: нет ответа за 5 с; a; a; ")
    assert said.endswith("…") and len(said) < LONGEST + 20, len(said)


def test_a_user_without_rights_to_the_database_is_told_to_grant_them() -> None:
    """ClickHouse 18.16 refuses a user its users.xml keeps out of the database with code 291:
    that was "ClickHouse rejected the query" (a passing failure: exit 1, tried again for ever)
    with no advice. It is a setting to fix (exit 2), and the sentence says how."""
    error = classify_server_error(
        "Code: 291, e.displayText() = DB::Exception: Access denied to database alertbot_demo "
        "for user norights, e.what() = DB::Exception", where=SERVER)  # fmt: skip
    assert isinstance(error, SourceMisconfigured), error
    assert str(error) == (
        f"{SERVER}: access denied (Access denied to database alertbot_demo for user norights); "
        "CLICKHOUSE_USER may not read CLICKHOUSE_DATABASE: grant it SELECT there (on 18.16, "
        "allow_databases in users.xml) or name a database it may read")
    assert problem_text(str(error), RU).endswith(
        "CLICKHOUSE_USER не может читать CLICKHOUSE_DATABASE: выдайте ему SELECT в этой базе "
        "(в 18.16 — allow_databases в users.xml) или укажите базу, которую он может читать")
