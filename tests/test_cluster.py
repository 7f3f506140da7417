"""The check over a ClickHouse cluster: Distributed tables over two shards give the same verdicts
as one server holding the same rows, with the table SQL unchanged.

`.ci/run` starts the two shards (`.ci/cluster.sh`) and names them in CLICKHOUSE_SHARD_URLS;
in CI (`CI=true`) these tests must run, elsewhere they are skipped without it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from queries import seeding
from queries.sources import ClickHouseSource
from tests.conftest import END
from tests.test_seed_server import cli, http_query

pytestmark = pytest.mark.clickhouse

CLUSTER = "alertbot_cluster"  # the name in .ci/cluster.sh's remote_servers
SHARD_DB = "alertbot_shard"  # on each shard: MergeTree tables with this shard's part of the rows
CLUSTER_DB = "alertbot_dist"  # on each shard: Distributed tables over both; the check reads it
SINGLE_DB = "alertbot_single"  # on shard 1: every row in plain MergeTree tables, one server
DAYS = 2
TABLES = tuple(seeding.TABLE_DDL)


def shard_urls() -> list[str] | None:
    """The shards' HTTP URLs from CLICKHOUSE_SHARD_URLS; a failure in CI when it is missing."""
    text = os.environ.get("CLICKHOUSE_SHARD_URLS", "").strip()
    if text:
        return [u.strip() for u in text.split(",") if u.strip()]
    if os.environ.get("CI"):
        pytest.fail(
            "CI must run the cluster tests: CLICKHOUSE_SHARD_URLS is not set (.ci/run starts "
            "the shards with .ci/cluster.sh and exports it)"
        )
    return None


@dataclass(frozen=True)
class Cluster:
    """Two shards, seeded: the Distributed tables and the single-server copy hold the same rows."""

    urls: list[str]
    rows: dict[str, int]  # rows per table, all shards together


def _drop(urls: list[str]) -> None:
    for url in urls:
        for name in (CLUSTER_DB, SHARD_DB, SINGLE_DB):
            http_query(url, f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Local tables on both shards, Distributed tables over them, and the demo rows written
    through the Distributed tables (synchronously, so every shard has its part on return)."""
    urls = shard_urls()
    if urls is None:
        pytest.skip("CLICKHOUSE_SHARD_URLS is not set (.ci/run starts a cluster and sets it)")
    assert len(urls) == 2, f"CLICKHOUSE_SHARD_URLS names {len(urls)} shards, expected 2"
    for url in urls:
        shards = http_query(url, f"SELECT count() FROM system.clusters WHERE cluster = '{CLUSTER}'")
        assert shards.strip() == "2", f"{url} does not know the 2-shard cluster {CLUSTER}"
    _drop(urls)
    for url in urls:
        http_query(url, f"CREATE DATABASE {SHARD_DB}")
        http_query(url, f"CREATE DATABASE {CLUSTER_DB}")
        for table, ddl in seeding.TABLE_DDL.items():
            http_query(url, ddl, database=SHARD_DB)  # the very schema `alertbot seed` creates
            http_query(
                url,
                f"CREATE TABLE {CLUSTER_DB}.{table} AS {SHARD_DB}.{table} "
                f"ENGINE = Distributed({CLUSTER}, {SHARD_DB}, {table}, user_id)",
            )

    async def seed_single() -> None:
        source = ClickHouseSource(urls[0], database=SINGLE_DB, timeout=120)
        try:
            await seeding.seed(source, days=DAYS, end=END)
        finally:
            await source.close()

    asyncio.run(seed_single())
    rows = {}
    for table in TABLES:
        # Through the Distributed table: it splits the rows by user_id over both shards.
        http_query(
            urls[0],
            f"INSERT INTO {CLUSTER_DB}.{table} SELECT * FROM {SINGLE_DB}.{table}",
            insert_distributed_sync="1",
        )
        rows[table] = int(http_query(urls[0], f"SELECT count() FROM {SINGLE_DB}.{table}"))
    yield Cluster(urls, rows)
    _drop(urls)


def test_seeding_through_the_distributed_table_fills_both_shards(cluster: Cluster) -> None:
    """Rows written through the Distributed table land on both shards (each holds a real share,
    none twice), and the Distributed table on either shard reads all of them."""
    for table, total in cluster.rows.items():
        sql = f"SELECT count() FROM {SHARD_DB}.{table}"
        local = [int(http_query(url, sql)) for url in cluster.urls]
        assert sum(local) == total > 0, (table, local, total)
        assert all(0.3 * total < n < 0.7 * total for n in local), (table, local)
        for url in cluster.urls:
            assert int(http_query(url, f"SELECT count() FROM {CLUSTER_DB}.{table}")) == total


def check(url: str, database: str, folder: Path) -> dict[str, Any]:
    """`python -m bot check --json --at END` against one database, with its own state file."""
    folder.mkdir()
    env = {
        "CLICKHOUSE_URL": url,
        "CLICKHOUSE_DATABASE": database,
        "STATE_PATH": str(folder / "state.sqlite3"),
    }
    done = cli("check", "--json", "--at", END.isoformat(), env=env, cwd=folder)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["source"] == "clickhouse" and not report["errors"], report["errors"]
    return report


FIELDS = ("bucket", "value", "expected", "lower", "upper", "status")


def verdicts(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(metric, slice) -> the fields the comparison covers."""
    return {
        (r["metric"], json.dumps(r["slice"], sort_keys=True)): {f: r[f] for f in FIELDS}
        for r in report["results"]
    }


def test_check_on_the_cluster_equals_check_on_one_server(cluster: Cluster, tmp_path: Path) -> None:
    """`alertbot check` on shard 1 reading the Distributed tables (queries/*.sql unchanged, no
    catalogue setting) gives every metric and slice the same value, expected range and status as
    the check on one server's MergeTree tables holding the same rows."""
    on_cluster = verdicts(check(cluster.urls[0], CLUSTER_DB, tmp_path / "cluster"))
    on_one = verdicts(check(cluster.urls[0], SINGLE_DB, tmp_path / "single"))
    assert on_cluster.keys() == on_one.keys()
    assert len(on_one) >= 30, sorted(on_one)  # totals, os, source and the top countries
    judged = [v for v in on_one.values() if v["expected"] is not None]
    assert len(judged) >= len(on_one) // 2, "too little history for a meaningful comparison"
    assert any(v["status"] == "anomaly" for v in on_one.values())
    differ = {k: (on_cluster[k], on_one[k]) for k in on_one if on_cluster[k] != on_one[k]}
    assert not differ, differ
