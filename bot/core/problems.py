"""A source's error (queries/ writes it in English, for logs and the command line) in the
chat's language. Pure.

The sources' errors are a few fixed sentences ("<source>: missing table (<what the server
said>); check CLICKHOUSE_DATABASE, or seed it with `alertbot seed`"); each known one is said
again through the translator. What the server said, paths, URLs, table and column names, class
names, settings and commands stay as written. Several errors joined with "; " (a check whose
tables failed each in its way), each perhaps after its table's name ("feed_actions: ..."), are
said one by one. A sentence this module does not know is kept as written, so a new error is
never lost, only untranslated.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.formatting import localized
from bot.core.i18n import Translator
from bot.core.reasons import source_text

__all__ = ["problem_of", "problem_text"]

Say = Callable[[Translator, re.Match[str]], str]


def _kind(t: Translator, kind: str) -> str:
    """What ClickHouse's error code means (queries.sources._MISCONFIGURED)."""
    return {
        "unknown database": lambda: t._("unknown database"),
        "missing table": lambda: t._("missing table"),
        "missing column": lambda: t._("missing column"),
        "unknown user": lambda: t._("unknown user"),
        "wrong password": lambda: t._("wrong password"),
        "a password is required": lambda: t._("a password is required"),
        "authentication failed": lambda: t._("authentication failed"),
        "access denied": lambda: t._("access denied"),
        "mixed types": lambda: t._("mixed types"),
    }[kind]()


SEED = "check CLICKHOUSE_DATABASE, or seed it with `alertbot seed`"
MIXED_TYPES = ("give each column one type in every part of the catalogue's SQL (CATALOGUE_PATH): "
               "write a slice's value as CAST(x AS String) AS dim_value (on ClickHouse 18.16 "
               "toString(LowCardinality) stays LowCardinality)")  # fmt: skip
HINTS: dict[str, Callable[[Translator], str]] = {
    SEED: lambda t: t._("check CLICKHOUSE_DATABASE, or seed it with {command}",
                        command="`alertbot seed`"),
    "check CLICKHOUSE_DATABASE": lambda t: t._("check CLICKHOUSE_DATABASE"),
    "the table's schema differs from the one the queries expect (see README, 'Data the queries "
    "expect')": lambda t: t._("the table's schema differs from the one the queries expect (see "
                              "README, {section})", section="'Data the queries expect'"),
    "check CLICKHOUSE_DATABASE and the table names in the catalogue's SQL (CATALOGUE_PATH), or "
    "seed the demo's with `alertbot seed`":
        lambda t: t._("check CLICKHOUSE_DATABASE and the table names in the catalogue's SQL "
                      "({setting}), or seed the demo's with {command}",
                      setting="CATALOGUE_PATH", command="`alertbot seed`"),
    "the query names a column its table lacks: fix the catalogue's SQL (CATALOGUE_PATH) or the "
    "table (see README, 'Pointing it at your own ClickHouse')":
        lambda t: t._("the query names a column its table lacks: fix the catalogue's SQL "
                      "({setting}) or the table (see README, {section})",
                      setting="CATALOGUE_PATH", section="'Pointing it at your own ClickHouse'"),
    "check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD":
        lambda t: t._("check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD"),
    MIXED_TYPES: lambda t: t._("give each column one type in every part of the catalogue's SQL "
                               "({setting}): write a slice's value as {cast} (on ClickHouse "
                               "18.16 {function} stays {type})", setting="CATALOGUE_PATH",
                               cast="CAST(x AS String) AS dim_value",
                               function="toString(LowCardinality)", type="LowCardinality"),
}
ACCESS_DENIED = ("CLICKHOUSE_USER may not read CLICKHOUSE_DATABASE: grant it SELECT there (on "
                 "18.16, allow_databases in users.xml) or name a database it may read")  # fmt: skip
HINTS[ACCESS_DENIED] = lambda t: t._(
    "{user} may not read {database}: grant it SELECT there (on 18.16, {setting} in users.xml) "
    "or name a database it may read", user="CLICKHOUSE_USER", database="CLICKHOUSE_DATABASE",
    setting="allow_databases")  # fmt: skip
KINDS = ("unknown database|missing table|missing column|unknown user|wrong password"
         "|a password is required|authentication failed|access denied|mixed types")  # fmt: skip
NOT_CLICKHOUSE = ("; is CLICKHOUSE_URL the HTTP interface of a ClickHouse server (usually port "
                  "8123)?")  # fmt: skip


def _where(t: Translator, m: re.Match[str]) -> str:
    return source_text(m["where"], t)


def _misconfigured(t: Translator, m: re.Match[str]) -> str:
    return f"{_where(t, m)}: {_kind(t, m['kind'])} ({m['said']}); {HINTS[m['hint']](t)}"


def _not_clickhouse(t: Translator, m: re.Match[str]) -> str:
    return t._("{where}: the server did not answer like ClickHouse ({said}); is CLICKHOUSE_URL "
               "the HTTP interface of a ClickHouse server (usually port 8123)?",
               where=_where(t, m), said=m["said"])  # fmt: skip


def _not_its_answer(t: Translator, m: re.Match[str]) -> str:
    return t._("{where} sent an answer that is not ClickHouse's ({error}); is CLICKHOUSE_URL the "
               "HTTP interface of a ClickHouse server (usually port 8123)?",
               where=_where(t, m), error=m["error"])  # fmt: skip


def _cannot_connect(t: Translator, m: re.Match[str]) -> str:
    return t._("cannot connect to {where} ({error}): is the server running, and is "
               "CLICKHOUSE_URL right?", where=_where(t, m), error=m["error"])  # fmt: skip


def _too_slow(t: Translator, m: re.Match[str]) -> str:
    seconds = localized(m["seconds"], t)
    waited = (t.ngettext("{where} did not answer within {seconds} s, {n} time",
                         "{where} did not answer within {seconds} s, {n} times", int(m["n"]),
                         where=_where(t, m), seconds=seconds) if m["n"]
              else t._("{where} did not answer within {seconds} s", where=_where(t, m),
                       seconds=seconds))  # fmt: skip
    return waited + t._(", yet answers a {query}: this query takes longer than {setting} "
                        "allows, so raise it", query="SELECT 1", setting="CLICKHOUSE_TIMEOUT")


def _held(t: Translator, m: re.Match[str]) -> str:
    who = (t._("another process (pid {pid})", pid=m["pid"]) if m["pid"]
           else t._("another process"))  # fmt: skip
    return t._("{where} is open in {who}, such as a running {command}: one process at a time "
               "can use it; stop that one first, or point both at a ClickHouse server "
               "(CLICKHOUSE_URL)", where=_where(t, m), who=who, command="`alertbot run`")


def _already_has(t: Translator, m: re.Match[str]) -> str:
    return t._("{where}: database {database} already has {tables} that {command} did not "
               "create; seeding would replace real data. Point CLICKHOUSE_DATABASE at an empty "
               "database.", where=_where(t, m), database=m["database"], tables=m["tables"],
               command="`alertbot seed`")  # fmt: skip


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)  # what the server said may span lines


# A source's description; never across "; ", which may end an error before it.
WHERE = r"(?P<where>(?:(?!; ).)+?)"
QUOTED = r"""(?P<said>'.*'|".*")"""
SHAPES: list[tuple[re.Pattern[str], Say]] = [
    (_re(rf"{WHERE}: (?P<kind>{KINDS}) \((?P<said>.*)\); "
                rf"(?P<hint>{'|'.join(re.escape(h) for h in HINTS)})"), _misconfigured),
    (_re(rf"{WHERE}: the server is overloaded or timed out \((?P<said>.*)\)"),
     lambda t, m: t._("{where}: the server is overloaded or timed out ({said})",
                      where=_where(t, m), said=m["said"])),
    (_re(rf"{WHERE}: a proxy in front of it answered {QUOTED}"),
     lambda t, m: t._("{where}: a proxy in front of it answered {said}", where=_where(t, m),
                      said=m["said"])),
    (_re(rf"{WHERE}: a proxy in front of it refused the request \({QUOTED}\); check "
         r"CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, or the proxy's own access rules"),
     lambda t, m: t._("{where}: a proxy in front of it refused the request ({said}); check "
                      "CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, or the proxy's own access rules",
                      where=_where(t, m), said=m["said"])),
    (_re(rf"{WHERE}: the server did not answer like ClickHouse \({QUOTED}\)"
                + re.escape(NOT_CLICKHOUSE)), _not_clickhouse),
    (_re(rf"{WHERE}: ClickHouse rejected the query \((?P<said>.*)\)"),
     lambda t, m: t._("{where}: ClickHouse rejected the query ({said})", where=_where(t, m),
                      said=m["said"])),
    (_re(rf"{WHERE}: table (?P<table>\S+) does not exist; {re.escape(SEED)}"),
     lambda t, m: t._("{where}: table {table} does not exist; check CLICKHOUSE_DATABASE, or "
                      "seed it with {command}", where=_where(t, m), table=m["table"],
                      command="`alertbot seed`")),
    (_re(rf"{WHERE}: (?P<table>\S+) has neither receiver_id nor reciever_id; the "
                r"messenger queries need one of them"),
     lambda t, m: t._("{where}: {table} has neither receiver_id nor reciever_id; the messenger "
                      "queries need one of them", where=_where(t, m), table=m["table"])),
    (_re(rf"cannot connect to {WHERE} \((?P<error>\w+)\): is the server running, and is "
                r"CLICKHOUSE_URL right\?"), _cannot_connect),
    (_re(rf"the TLS handshake with {WHERE} failed \((?P<error>\w+)\): if that port serves "
         r"plain HTTP, as ClickHouse's 8123 does, set CLICKHOUSE_URL to (?P<url>\S+); else "
         r"check the server's certificate"),
     lambda t, m: t._("the TLS handshake with {where} failed ({error}): if that port serves "
                      "plain HTTP, as ClickHouse's {port} does, set CLICKHOUSE_URL to {url}; "
                      "else check the server's certificate", where=_where(t, m),
                      error=m["error"], port="8123", url=m["url"])),
    (_re(rf"{WHERE} did not answer within (?P<seconds>[\d.e+-]+) s(?:, (?P<n>\d+) times)?, "
         r"yet answers a SELECT 1: this query takes longer than CLICKHOUSE_TIMEOUT allows, so "
         r"raise it"), _too_slow),
    (_re(rf"{WHERE} did not answer within (?P<seconds>[\d.e+-]+) s, (?P<n>\d+) times"),
     lambda t, m: t.ngettext("{where} did not answer within {seconds} s, {n} time",
                             "{where} did not answer within {seconds} s, {n} times",
                             int(m["n"]), where=_where(t, m),
                             seconds=localized(m["seconds"], t))),
    (_re(rf"{WHERE} did not answer within (?P<seconds>[\d.e+-]+) s"),
     lambda t, m: t._("{where} did not answer within {seconds} s", where=_where(t, m),
                      seconds=localized(m["seconds"], t))),
    (_re(r"CLICKHOUSE_URL (?P<url>'.*'|\".*\") is not a valid URL; expected e\.g\. "
                r"http://localhost:8123"),
     lambda t, m: t._("CLICKHOUSE_URL {url} is not a valid URL; expected e.g. {example}",
                      url=m["url"], example="http://localhost:8123")),
    (_re(rf"lost the connection to {WHERE} \((?P<error>\w+)\)"),
     lambda t, m: t._("lost the connection to {where} ({error})", where=_where(t, m),
                      error=m["error"])),
    (_re(rf"{WHERE} sent an answer that is not ClickHouse's \((?P<error>\w+)\)"
                + re.escape(NOT_CLICKHOUSE)), _not_its_answer),
    (_re(rf"{WHERE} sent an empty answer \(is a proxy in front of it\?\)"),
     lambda t, m: t._("{where} sent an empty answer (is a proxy in front of it?)",
                      where=_where(t, m))),
    (_re(rf"{WHERE} is open in another process(?: \(pid (?P<pid>\d+)\))?, such as a running "
                r"`alertbot run`: one process at a time can use it; stop that one first, or "
                r"point both at a ClickHouse server \(CLICKHOUSE_URL\)"), _held),
    (_re(rf"cannot create {WHERE}: (?P<said>.*); set EMBEDDED_PATH to a folder this user can "
         r"write to"),
     lambda t, m: t._("cannot create {where}: {said}; set EMBEDDED_PATH to a folder this user "
                      "can write to", where=_where(t, m), said=m["said"])),
    (_re(rf"cannot open {WHERE}: (?P<said>.*)"),
     lambda t, m: t._("cannot open {where}: {said}", where=_where(t, m), said=m["said"])),
    (_re(rf"{WHERE}: database (?P<database>\S+) already has (?P<tables>.+) that "
                r"`alertbot seed` did not create; seeding would replace real data\. Point "
                r"CLICKHOUSE_DATABASE at an empty database\."), _already_has),
    (_re(rf"{WHERE} holds no demo dataset; run `alertbot seed`"),
     lambda t, m: t._("{where} holds no demo dataset; run {command}", where=_where(t, m),
                      command="`alertbot seed`")),
    (_re(r"the query result lacks column\(s\) (?P<columns>.+)"),
     lambda t, m: t._("the query result lacks column(s) {columns}", columns=m["columns"])),
    (_re(r"bucket is a date and time, not a unix time: write (?P<line>.+) AS bucket"),
     lambda t, m: t._("bucket is a date and time, not a unix time: write {line}",
                      line=m["line"] + " AS bucket")),
    (_re(r"the column (?P<column>\S+) holds (?P<value>.*), not a number: the catalogue's SQL "
         r"\(CATALOGUE_PATH\) must return every column besides dim and dim_value as a number"),
     lambda t, m: t._("the column {column} holds {value}, not a number: the catalogue's SQL "
                      "({setting}) must return every column besides {dims} as a number",
                      column=m["column"], value=m["value"], dims="dim, dim_value",
                      setting="CATALOGUE_PATH")),
    (_re(r"the query for (?P<table>\S+): (?P<said>.+)"),
     lambda t, m: t._("the query for {table}: {said}", table=m["table"],
                      said=_sentence(m["said"], t) or m["said"])),
    (_re(r"no answer within (?P<seconds>\d+) s"),
     lambda t, m: t._("no answer within {seconds} s", seconds=m["seconds"])),
    (_re(r"no history of (?P<table>\S+) yet"),
     lambda t, m: t._("no history of {table} yet", table=m["table"])),
    (_re(r"the query for (?P<table>\S+) made buckets (?P<apart>\w+) apart, while the "
                r"catalogue's step is (?P<step>\w+): the buckets between stay empty; group rows "
                r"by the step, e\.g\. toStartOfFifteenMinutes\(time\) for 15m"),
     lambda t, m: t._("the query for {table} made buckets {apart} apart, while the catalogue's "
                      "step is {step}: the buckets between stay empty; group rows by the step, "
                      "e.g. {function} for 15m", table=m["table"], apart=m["apart"],
                      step=m["step"], function="toStartOfFifteenMinutes(time)")),
    (_re(r"the query for (?P<table>\S+) made a bucket at (?P<time>[\d-]+ [\d:]+) UTC, off the "
                r"catalogue's step \((?P<step>\w+)\): group rows by the step, e\.g\. "
                r"toStartOfFifteenMinutes\(time\) for 15m"),
     lambda t, m: t._("the query for {table} made a bucket at {time} UTC, off the catalogue's "
                      "step ({step}): group rows by the step, e.g. {function} for 15m",
                      table=m["table"], time=m["time"], step=m["step"],
                      function="toStartOfFifteenMinutes(time)")),
    (_re(r"not asked after a query for (?P<table>\S+) got no answer"),
     lambda t, m: t._("not asked after a query for {table} got no answer", table=m["table"])),
]
# SourceNotAnswering's own sentence: only after a source's description (a server's words
# "replica r1 is not answering: ..." inside another error are not it).
NOT_ANSWERING = re.compile(r"(?P<where>(?:the embedded database at |ClickHouse at )(?:(?!; |: ).)+)"
                           r" is not answering: (?P<problem>.+)", re.DOTALL)  # fmt: skip
LONGEST = 2000  # characters translated: every chat shows at most 600 of an error
RUN = 8  # most "; " pieces one sentence may span (what the server said can hold a few)
TABLE = re.compile(r"(?P<table>[\w.]+): (?P<rest>.+)", re.DOTALL)


def _sentence(text: str, t: Translator) -> str | None:
    """One known sentence in `t`'s language, or None."""
    for pattern, say in SHAPES:
        match = pattern.fullmatch(text)
        if match is not None:
            return say(t, match)
    return None


def _known(text: str, t: Translator) -> str | None:
    """One error, perhaps after its table's name ("feed_actions: ..."), or None."""
    if (m := TABLE.fullmatch(text)) is not None and (said := _sentence(m["rest"], t)):
        return f"{m['table']}: {said}"
    return _sentence(text, t)


def problem_text(problem: str, t: Translator) -> str:
    """A source's error, or several joined with "; ", in `t`'s language (plain text: the
    caller escapes it). English gives back `problem` as it is; of a longer one, the first
    LONGEST characters are said (its pieces matched in runs of at most RUN: linear time)."""
    if t.lang == "en":
        return problem
    if len(problem) > LONGEST:
        problem = problem[:LONGEST] + "…"
    if (m := NOT_ANSWERING.fullmatch(problem)) is not None:  # SourceNotAnswering: one wraps one
        return t._("{where} is not answering: {problem}", where=_where(t, m),
                   problem=problem_text(m["problem"], t))  # fmt: skip
    # A sentence may hold "; " itself: from each place the shortest run of pieces that is one
    # known sentence (a longer one could swallow the next error into what the server said).
    pieces = problem.split("; ")
    out: list[str] = []
    i = 0
    while i < len(pieces):
        for j in range(i + 1, min(len(pieces), i + RUN) + 1):
            said = _known("; ".join(pieces[i:j]), t)
            if said is not None:
                out.append(said)
                i = j
                break
        else:
            out.append(pieces[i])
            i += 1
    return "; ".join(out)


def problem_of(source: str, problem: str, t: Translator) -> str:
    """`problem` (the error of `source`, its `describe()`) in `t`'s language, for a text that
    names the source already: the source's own sentences begin with its description, which is
    not said again."""
    named = source_text(source, t)
    said = problem_text(problem, t)
    if not named:
        return said
    # "<source>: missing table ...", or "<source> did not answer within 5 s" at the start
    return said.replace(f"{named}: ", "").removeprefix(f"{named} ")
