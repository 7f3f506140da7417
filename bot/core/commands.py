"""The one command table: the menu, /help, usage lines and the admin refusals come from it."""

from __future__ import annotations

import html
from dataclasses import dataclass

from queries.catalogue import Catalogue

__all__ = ["COMMANDS", "Command", "admin_commands", "help_text", "usage"]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str
    what: str
    admin: bool = False

    def usage(self) -> str:
        return f"/{self.name} {self.args}".strip()


COMMANDS: tuple[Command, ...] = (
    Command("start", "", "what this bot watches"),
    Command("help", "", "the commands"),
    Command("check", "", "check every metric now"),
    Command("metric", "NAME [slice]", "one metric now, with its chart"),
    Command("metrics", "", "the metrics and their slices"),
    Command("subscribe", "[metric|all]", "get alerts in this chat"),
    Command("unsubscribe", "[metric|all]", "stop alerts in this chat"),
    Command("thresholds", "[metric]", "detector and alert settings in force"),
    Command("history", "[N]", "recent alerts"),
    Command("status", "", "last and next check, source, data freshness"),
    Command("backtest", "METRIC [days]", "alerts the current settings would have raised"),
    Command(
        "set", "METRIC PARAM VALUE", "change a setting (shows its effect on the last 7 days)",
        admin=True,
    ),
    Command("reset", "METRIC", "back to the catalogue's settings", admin=True),
    Command("mute", "METRIC|all DURATION", "silence alerts, e.g. /mute views 2h", admin=True),
    Command("unmute", "METRIC|all", "lift a mute", admin=True),
    Command("reload", "", "re-read the catalogue and .env, validated first", admin=True),
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


def admin_commands() -> tuple[str, ...]:
    return tuple(c.name for c in COMMANDS if c.admin)


def usage(command: str) -> str:
    for c in COMMANDS:
        if c.name == command:
            return c.usage()
    return f"/{command}"


def help_text(catalogue: Catalogue, *, is_admin: bool) -> str:
    lines = [
        "<b>metric-alertbot</b> watches "
        + ", ".join(f"<code>{_e(m)}</code>" for m in catalogue.metrics)
        + " every 15 minutes, with their slices, and alerts here when one leaves its expected "
        "range.",
        "",
    ]
    for c in COMMANDS:
        if c.admin and not is_admin:
            continue
        lock = " (admins)" if c.admin else ""
        lines.append(f"/{c.name} {_e(c.args)} — {_e(c.what)}{lock}".replace("  ", " "))
    if not is_admin:
        admin = " ".join(f"/{name}" for name in admin_commands())
        lines += ["", f"Admins can also change settings and mute alerts ({admin})."]
    return "\n".join(lines)
