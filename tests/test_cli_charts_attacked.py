"""Attacks on `alertbot check --charts DIR` (bot/cli_report.py): a folder whose chart name is
taken by a directory, a folder on a read-only file system, a metric title with $ and a newline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import ROOT, clean_env, demo_env

__all__ = ["demo_env"]


def _check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "check", "--metric", "views", "--at",
                           env["END"], *args], env={**clean_env(), **env}, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


@pytest.mark.slow
def test_a_chart_whose_file_name_is_a_folder_costs_only_that_picture(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    charts = tmp_path / "charts"
    (charts / "views__os_Android.png").mkdir(parents=True)
    done = _check(demo_env, "--json", "--charts", str(charts))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"]
    lines = done.stderr.splitlines()
    assert any(line.startswith("alertbot: the chart of views os=Android could not be written to ")
               and "IsADirectoryError" in line for line in lines), lines  # fmt: skip
    assert "Traceback" not in done.stderr


def test_charts_into_a_read_only_file_system_are_refused_in_one_line(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    done = _check(demo_env, "--charts", "/proc/self/attack_charts")
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("alertbot: --charts /proc/self/attack_charts: cannot create")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_title_with_a_dollar_and_a_newline_is_charted(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    queries = ROOT / "queries"
    for sql in ("feed_actions.sql", "message_actions.sql"):
        shutil.copy(queries / sql, tmp_path / sql)
    toml = (queries / "catalogue.toml").read_text(encoding="utf-8")
    toml = toml.replace('title = "Views"', 'title = "Views $ paid\\n$x <b>"', 1)
    toml = toml.replace('unit = "views"', 'unit = "$"', 1)
    (tmp_path / "catalogue.toml").write_text(toml, encoding="utf-8")
    charts = tmp_path / "charts"
    done = _check({**demo_env, "CATALOGUE_PATH": str(tmp_path / "catalogue.toml")},
                  "--charts", str(charts))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "could not be drawn" not in done.stderr, done.stderr
    assert (charts / "views__os_Android.png").read_bytes().startswith(b"\x89PNG")
