"""`alertbot seed` into a ClickHouse server that has never seen the bot: the database and the
tables are created first, and a check then reads them (required in CI, skipped elsewhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import END, server_url

pytestmark = pytest.mark.clickhouse


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` as a user runs it, with only the given settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def http_query(url: str, sql: str, **settings: str) -> str:
    """One statement over ClickHouse's HTTP interface, without any current database; keyword
    arguments are settings for this statement (e.g. insert_distributed_sync="1")."""
    if settings:
        url = f"{url.rstrip('/')}/?{urllib.parse.urlencode(settings)}"
    request = urllib.request.Request(url, data=sql.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.read().decode())


@pytest.fixture
def fresh_database() -> Iterator[tuple[str, str]]:
    """(server URL, name of a database that does not exist yet); dropped afterwards."""
    url = server_url()
    if url is None:
        pytest.skip("CLICKHOUSE_URL is not set (CI sets it and runs these)")
    name = f"alertbot_fresh_{os.getpid()}"
    http_query(url, f"DROP DATABASE IF EXISTS {name}")
    yield url, name
    http_query(url, f"DROP DATABASE IF EXISTS {name}")


def test_seed_creates_the_database_then_check_reads_it(
    fresh_database: tuple[str, str], tmp_path: Path
) -> None:
    """`python -m bot seed --days 2` with CLICKHOUSE_DATABASE naming a database the server does
    not have creates it and its tables and fills them; `python -m bot check` then judges every
    metric from that server."""
    url, name = fresh_database
    assert http_query(url, f"SELECT count() FROM system.databases WHERE name = '{name}'") == "0\n"
    env = {
        "CLICKHOUSE_URL": url,
        "CLICKHOUSE_DATABASE": name,
        "STATE_PATH": str(tmp_path / "state.sqlite3"),
    }
    seeded = cli("seed", "--days", "2", "--end", END.isoformat(), env=env, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    tables = http_query(
        url, f"SELECT name FROM system.tables WHERE database = '{name}' ORDER BY name"
    ).split()
    assert {"feed_actions", "message_actions"} <= set(tables)
    rows = int(http_query(url, f"SELECT count() FROM {name}.feed_actions"))
    assert rows > 100_000

    checked = cli("check", "--json", "--at", END.isoformat(), env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["source"] == "clickhouse" and not report["errors"]
    metrics = {r["metric"] for r in report["results"] if not r["slice"]}
    assert metrics == {"feed_users", "views", "likes", "ctr", "messenger_users", "messages"}
    totals = {r["metric"]: r["value"] for r in report["results"] if not r["slice"]}
    assert all(value is not None and value > 0 for value in totals.values()), totals

