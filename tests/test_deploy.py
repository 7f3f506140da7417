"""The deployment files (Dockerfile, docker-compose.yml, deploy/alertbot.service), checked
statically: no container engine is needed. Every variable they set is a real setting, every
command they run is a real `alertbot` command, every path they copy or use exists in the repo."""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.arguments import build_parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
UNIT = ROOT / "deploy" / "alertbot.service"

# The environment variables CONTRACT.md promises that exist up to issue 14 (running it in
# production); each must be a field of bot.settings.Settings. LANGUAGE is left out: it belongs
# to the i18n issue, which is not built yet.
CONTRACT_ENV = (
    "BOT_TOKEN", "TELEGRAM_API_URL", "CLICKHOUSE_URL", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD",
    "CLICKHOUSE_DATABASE", "ADMIN_IDS", "ALERT_CHAT_IDS", "CHECK_INTERVAL", "DATA_DELAY",
    "REPEAT_INTERVAL", "STATE_PATH", "DASHBOARD_URL", "TIMEZONE", "CATALOGUE_PATH",
    "LOG_LEVEL", "LOG_FORMAT", "HTTP_HOST", "HTTP_PORT", "WEBHOOK_URL", "WEBHOOK_SECRET",
)  # fmt: skip
# Variables for the interpreter and pip while the image is built, not for the bot.
TOOL_ENV = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR",
            "PIP_DISABLE_PIP_VERSION_CHECK"}  # fmt: skip
HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/healthz")


def setting_names() -> set[str]:
    """The environment names Settings reads: its field names in upper case."""
    return {name.upper() for name in Settings.model_fields}


def unknown_settings(names: set[str]) -> list[str]:
    return sorted(names - setting_names())


def check_command(argv: list[str]) -> None:
    """Fails unless argv is `alertbot SUBCOMMAND [options]` that the real CLI accepts, with every
    option spelled out in full (argparse would also take an abbreviation)."""
    assert argv and Path(argv[0]).name == "alertbot", f"not an alertbot command: {argv}"
    parser = build_parser()
    try:
        parsed = parser.parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"`{shlex.join(argv)}` is not a valid alertbot command line")
    assert parsed.command, f"`{shlex.join(argv)}` names no subcommand"
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    sub = commands.choices[parsed.command]
    known = {o for a in [*parser._actions, *sub._actions] for o in a.option_strings}
    spelled = {arg.split("=", 1)[0] for arg in argv[1:] if arg.startswith("-")}
    unknown = spelled - known
    assert not unknown, f"`{shlex.join(argv)}`: not options of {parsed.command}: {unknown}"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    text: str


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    lines = [ln for ln in DOCKERFILE.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, text = line.strip().partition(" ")
            out.append(Instruction(keyword.upper(), text.strip()))
    return out


def dockerfile_env() -> dict[str, str]:
    env = {}
    for ins in dockerfile():
        if ins.keyword == "ENV":
            for pair in shlex.split(ins.text):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def our_services() -> dict[str, dict[str, Any]]:
    """The compose services that run this project's image (built from the repo)."""
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def unit() -> list[tuple[str, str, str]]:
    """deploy/alertbot.service as (section, key, value), repeated keys kept in order."""
    section, out = "", []
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def unit_values(key: str) -> list[str]:
    return [v for _, k, v in unit() if k == key]


def test_the_contract_variables_are_all_settings() -> None:
    """Every environment variable of CONTRACT.md up to issue 14 (CONTRACT_ENV above: LANGUAGE
    belongs to the i18n issue, not built yet) is a field of Settings; a failure lists the
    ones that are not."""
    missing = unknown_settings(set(CONTRACT_ENV))
    assert not missing, f"CONTRACT variables that bot.settings.Settings does not read: {missing}"


def test_dockerfile_sets_only_real_settings() -> None:
    """Each ENV of the Dockerfile is a setting (or one of the few build-time variables for
    Python and pip), and the state goes to the /data volume."""
    env = dockerfile_env()
    assert unknown_settings(set(env) - TOOL_ENV) == []
    assert env["STATE_PATH"] == "/data/alertbot.sqlite3"
    volumes = [json.loads(i.text) if i.text.startswith("[") else i.text.split()
               for i in dockerfile() if i.keyword == "VOLUME"]  # fmt: skip
    assert any("/data" in v for v in volumes)


def test_dockerfile_runs_the_bot_as_a_user_from_the_slim_image() -> None:
    """Python 3.11 slim base, installed with the constraints, a non-root USER before the
    command, and the command is `alertbot run`."""
    steps = dockerfile()
    assert steps[0].keyword == "FROM" and steps[0].text == "python:3.11-slim"
    runs = " ".join(i.text for i in steps if i.keyword == "RUN")
    assert re.search(r"pip install -c constraints\.txt \.(\s|$)", runs)
    users = [i.text for i in steps if i.keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    (cmd,) = [json.loads(i.text) for i in steps if i.keyword == "CMD"]
    assert cmd == ["alertbot", "run"]
    check_command(cmd)


def test_dockerfile_copies_only_what_exists() -> None:
    """Every COPY source is a file or folder of the repo, and together they hold what `pip
    install .` needs: the packages in pyproject.toml, the readme and constraints.txt."""
    sources = []
    for ins in dockerfile():
        if ins.keyword == "COPY":
            parts = [p for p in shlex.split(ins.text) if not p.startswith("--")]
            sources += parts[:-1]
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert not missing, f"COPY sources that are not in the repo: {missing}"
    assert {"pyproject.toml", "README.md", "constraints.txt", "bot", "detectors",
            "queries"} <= set(sources)  # fmt: skip


def test_healthcheck_asks_the_port_the_bot_listens_on_by_default() -> None:
    """The HEALTHCHECK requests /healthz on 127.0.0.1 at the default HTTP_PORT of Settings
    (CONTRACT: 9321), the port the bot serves it on when nothing is configured."""
    (check,) = [i.text for i in dockerfile() if i.keyword == "HEALTHCHECK"]
    match = HEALTH_URL.search(check)
    assert match, check
    fields = Settings.model_fields
    assert "http_port" in fields, (
        "Settings has no http_port yet: the HEALTHCHECK relies on the health endpoint "
        "(HTTP_HOST, HTTP_PORT; CONTRACT default 127.0.0.1:9321)"
    )
    assert int(match.group(1)) == fields["http_port"].default == 9321
    if "http_host" in fields:
        assert fields["http_host"].default in ("127.0.0.1", "0.0.0.0", "")


def test_compose_services_set_only_real_settings() -> None:
    """The bot and seed services set only settings, read .env (made from .env.example), and
    the seed fills the very server and database the bot reads."""
    ours = our_services()
    assert set(ours) == {"bot", "seed"}
    for name, service in ours.items():
        env = service.get("environment", {})
        assert isinstance(env, dict), f"{name}: write environment as a mapping"
        assert unknown_settings(set(env)) == [], name
    bot, seed = ours["bot"], ours["seed"]
    assert bot["env_file"] == ".env" and (ROOT / ".env.example").is_file()
    for key in ("CLICKHOUSE_URL", "CLICKHOUSE_DATABASE", "CLICKHOUSE_USER"):
        assert bot["environment"][key] == seed["environment"][key], key
    assert bot["environment"]["STATE_PATH"].startswith("/data/")
    assert any(str(v).endswith(":/data") for v in bot["volumes"])
    # A new seed drops the rows the bot's state file cached of the old data: the same file.
    assert seed["environment"]["STATE_PATH"] == bot["environment"]["STATE_PATH"]
    assert seed["volumes"] == bot["volumes"]


def test_compose_runs_real_commands_in_order() -> None:
    """The seed service runs `alertbot seed` once, the bot `alertbot run` after ClickHouse is
    healthy and the seed has finished; both build from the repo's Dockerfile."""
    services = compose()["services"]
    ours = our_services()
    check_command(ours["seed"]["command"])
    assert ours["seed"]["command"][1] == "seed" and ours["seed"]["restart"] == "no"
    check_command(ours["bot"]["command"])
    assert ours["bot"]["command"][1] == "run"
    assert ours["bot"]["depends_on"] == {
        "clickhouse": {"condition": "service_healthy"},
        "seed": {"condition": "service_completed_successfully"},
    }
    assert "healthcheck" in services["clickhouse"]
    for service in ours.values():
        assert (ROOT / service["build"] / "Dockerfile").is_file()


def test_compose_user_is_the_one_the_server_creates() -> None:
    """The credentials the bot and seed use are the user the ClickHouse image creates (its
    default user accepts no network connections without a password)."""
    server = compose()["services"]["clickhouse"]["environment"]
    for service in our_services().values():
        env = service["environment"]
        assert env["CLICKHOUSE_URL"] == "http://clickhouse:8123"
        assert (env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"]) == (
            server["CLICKHOUSE_USER"], server["CLICKHOUSE_PASSWORD"])  # fmt: skip


def test_systemd_unit_runs_alertbot_run_and_restarts_on_failure() -> None:
    """The unit runs exactly `alertbot run` (from the virtualenv its comment installs), reads
    an EnvironmentFile, has a WorkingDirectory, restarts on failure but not on exit 2."""
    (start,) = unit_values("ExecStart")
    argv = shlex.split(start)
    check_command(argv)
    assert argv[1:] == ["run"] and Path(argv[0]).is_absolute()
    assert unit_values("Restart") == ["on-failure"]
    assert unit_values("RestartPreventExitStatus") == ["2"]
    assert len(unit_values("EnvironmentFile")) == 1
    (workdir,) = unit_values("WorkingDirectory")
    assert workdir == "/var/lib/" + unit_values("StateDirectory")[0]
    install = UNIT.read_text()
    assert f"{Path(argv[0]).parent}/pip install -c constraints.txt ." in install


def test_systemd_unit_sets_only_real_settings() -> None:
    """Each Environment= line of the unit sets a setting."""
    names = set()
    for value in unit_values("Environment"):
        for pair in shlex.split(value):
            names.add(pair.partition("=")[0])
    assert names and unknown_settings(names) == []


def test_env_example_lists_only_real_settings() -> None:
    """.env.example, which the compose file and the unit's EnvironmentFile are made from,
    names only settings."""
    names = {
        line.split("=", 1)[0].strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert names and unknown_settings(names) == []


def test_pip_install_dot_installs_every_package() -> None:
    """`pip install .` (the Dockerfile's and the unit's install) ships every package folder of
    bot, detectors and queries, subpackages such as bot.core included: pyproject.toml's
    setuptools configuration finds them all, not only the three top-level names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    # An explicit `packages` list names each package exactly; `packages.find` takes patterns.
    listed = config.get("packages")
    patterns = listed if isinstance(listed, list) else listed["find"]["include"]
    packages = sorted(
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("bot", "detectors", "queries")
        for init in (ROOT / top).rglob("__init__.py")
    )
    assert "bot.core" in packages
    left_out = [p for p in packages if not any(fnmatch.fnmatchcase(p, pat) for pat in patterns)]
    assert not left_out, f"pip install . would leave out {left_out}"
