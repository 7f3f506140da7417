"""examples/ (the Airflow DAG, the systemd timer and its service, the crontab line), checked
statically: no Airflow, systemd or cron needed. What they run is a real `alertbot` command with
real options, every variable they set is a real setting, and the DAG is scheduled as the README
says (every 15 minutes, no catch-up, one active run, no retries)."""

from __future__ import annotations

import argparse
import ast
import configparser
import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.arguments import build_parser
from bot.settings import Settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def parse_alertbot(command: str) -> argparse.Namespace:
    """The arguments after `alertbot` in a shell command line, parsed by the real parser."""
    words = shlex.split(command)
    at = next(i for i, w in enumerate(words) if w == "alertbot" or w.endswith("bin/alertbot"))
    args: list[str] = []
    for word in words[at + 1 :]:
        if word in ("&&", "||", ";", "|") or word.startswith((">", "2>")):
            break
        args.append(word)
    try:
        return build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"not a valid alertbot command line: {command!r}")


def assert_settings(names: object) -> None:
    assert isinstance(names, dict | list | tuple | set)
    unknown = {str(n) for n in names} - {f.upper() for f in Settings.model_fields}
    assert not unknown, f"not settings of alertbot: {sorted(unknown)}"


def dag_call() -> dict[str, Any]:
    """The DAG(...) keywords and the operator's keywords, as literals."""
    tree = ast.parse((EXAMPLES / "airflow_dag.py").read_text(encoding="utf-8"))
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls[node.func.id] = {k.arg: k.value for k in node.keywords if k.arg}
    return calls


def test_the_airflow_dag_calls_check_notify_every_15_minutes_without_catchup() -> None:
    """The DAG runs `alertbot check --notify` every 15 minutes, catchup off, one active run,
    retries 0 (the outbox retries), and sets only real settings."""
    calls = dag_call()
    dag, task = calls["DAG"], calls["BashOperator"]
    schedule = dag["schedule"]
    assert isinstance(schedule, ast.Call) and ast.unparse(schedule) == "timedelta(minutes=15)"
    assert timedelta(**{k.arg: ast.literal_eval(k.value) for k in schedule.keywords
                        if k.arg}) == timedelta(minutes=15)  # fmt: skip
    assert ast.literal_eval(dag["catchup"]) is False
    assert ast.literal_eval(dag["max_active_runs"]) == 1
    assert ast.literal_eval(dag["default_args"])["retries"] == 0
    assert ast.literal_eval(task["retries"]) == 0
    args = parse_alertbot(ast.literal_eval(task["bash_command"]))
    assert args.command == "check" and args.notify
    assert_settings(ast.literal_eval(task["env"]))


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((EXAMPLES / name).read_text(encoding="utf-8"))
    return parser


def test_the_systemd_timer_starts_a_oneshot_check_notify() -> None:
    """The timer fires every 15 minutes and starts the service beside it, a oneshot running
    `alertbot check --notify` with real settings in its Environment= lines."""
    timer = unit("alertbot-check.timer")
    assert timer["Timer"]["OnCalendar"] == "*:0/15"
    service_name = timer["Timer"]["Unit"]
    assert (EXAMPLES / service_name).is_file()
    service = unit(service_name)["Service"]
    assert service["Type"] == "oneshot"
    args = parse_alertbot(service["ExecStart"])
    assert args.command == "check" and args.notify
    assert_settings([line.split("=", 1)[0] for line in service["Environment"].split()])


def test_the_crontab_line_runs_check_notify_every_15_minutes() -> None:
    """Each crontab entry runs every 15 minutes and calls `alertbot check --notify`."""
    lines = [line for line in (EXAMPLES / "crontab").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]  # fmt: skip
    assert lines
    for line in lines:
        fields = line.split(None, 5)
        assert fields[:5] == ["*/15", "*", "*", "*", "*"], line
        args = parse_alertbot(fields[5])
        assert args.command == "check" and args.notify
