"""How the suite is spread over workers (`-n 2` in README and .ci/run): every test of the
ClickHouse server goes to one worker, so the test that stops and starts the server never does
so under another test's query, and only one worker seeds the server's database; the tests of
`alertbot` on its seeded demo share one worker too, which seeds that demo once."""

from __future__ import annotations

import os

import pytest

from tests.conftest import CLI_DEMO_GROUP, SERVER_GROUP


def _group(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.args[0] if marker.args else marker.kwargs.get("name"))


def test_every_test_of_the_server_shares_one_worker(request: pytest.FixtureRequest) -> None:
    items = request.session.items  # each worker collects the whole suite
    grouped = {item.nodeid for item in items if _group(item) == SERVER_GROUP}
    # The outage test stops the server; the contract suite runs once per source.
    outage = [i.nodeid for i in items if "server_control" in getattr(i, "fixturenames", ())]
    contract = [i for i in items if getattr(i, "callspec", None) is not None
                and "spec" in i.callspec.params]  # fmt: skip
    if not outage or not contract:
        # CI runs the whole suite, so there this is a failure, never a skip.
        if os.environ.get("CI"):
            pytest.fail("CI must collect the whole suite: the outage or contract tests are missing")
        pytest.skip("only part of the suite was collected: run it whole (README's command)")
    assert set(outage) <= grouped
    for item in contract:
        on_server = item.callspec.params["spec"] == "clickhouse"
        assert (item.nodeid in grouped) == on_server, item.nodeid
    # The cluster's tests, marked `clickhouse` for the whole module, too.
    assert all(i.nodeid in grouped for i in items if "test_cluster.py" in i.nodeid)
    # Nothing else is held to one worker: this very test, which needs no server, is free.
    assert request.node.nodeid not in grouped
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # xdist sends a test to the group's worker by this suffix, which its own hook adds
        # from the marker: the marker must be there before that hook runs.
        assert all(nodeid.endswith(f"@{SERVER_GROUP}") for nodeid in grouped)


def test_the_tests_of_the_seeded_cli_demo_share_one_worker(request: pytest.FixtureRequest) -> None:
    """Every test on test_cli.py's seeded demo (demo_env) is in one group, the server's tests
    aside, and nothing else is."""
    items = request.session.items
    on_demo = {i.nodeid for i in items if "demo_env" in getattr(i, "fixturenames", ())}
    grouped = {i.nodeid for i in items if _group(i) == CLI_DEMO_GROUP}
    if not on_demo:
        if os.environ.get("CI"):
            pytest.fail("CI must collect the whole suite: the tests of the CLI demo are missing")
        pytest.skip("only part of the suite was collected: run it whole (README's command)")
    served = {i.nodeid for i in items if _group(i) == SERVER_GROUP}
    assert grouped == on_demo - served
