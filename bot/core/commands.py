"""The one command table: the menu, /help, usage lines and the admin refusals come from it.

Descriptions are marked for translation (`N_`); they are translated where they are shown."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.core.formatting import named
from bot.core.i18n import Translator
from queries.catalogue import EVERY_METRIC, Catalogue

__all__ = ["ALL_WORDS", "COMMANDS", "Command", "admin_commands", "example", "help_text", "span",
           "usage"]  # fmt: skip

# What a command takes for every metric (or every parameter): «всё» is how many write «все».
ALL_WORDS = EVERY_METRIC  # no metric is named so (the catalogue refuses it)


def N_(message: str) -> str:  # gettext's name for "translated later"
    """Marks a text for the catalogue; it is translated where it is shown."""
    return message


_ = N_  # what the catalogue extraction looks for


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str  # its placeholders, marked for translation (the words typed as written: all)
    what: str
    admin: bool = False
    example: str = ""  # a complete command a person can copy ('' when it takes no arguments)

    def arguments(self, t: Translator | None = None) -> str:
        """The placeholders in `t`'s language (ru: МЕТРИКА [срез])."""
        return t._(self.args) if t is not None and self.args else self.args

    def usage(self, t: Translator | None = None) -> str:
        return f"/{self.name} {self.arguments(t)}".strip()


COMMANDS: tuple[Command, ...] = (
    Command("start", "", _("what this bot watches")),
    Command("help", "", _("the commands")),
    Command("check", "", _("check every metric now")),
    Command("metric", _("NAME [slice]"), _("one metric now, with its chart"),
            example="/metric views os=iOS"),
    Command("metrics", "", _("the metrics and their slices")),
    Command("subscribe", _("[metric|all]"), _("get alerts in this chat"),
            example="/subscribe views"),
    Command("unsubscribe", _("[metric|all]"), _("stop alerts in this chat"),
            example="/unsubscribe views"),
    Command("thresholds", _("[metric] [all]"), _("detector and alert settings in force"),
            example="/thresholds views"),
    Command("history", _("[N]"), _("recent alerts"), example="/history 20"),
    Command("status", "", _("last and next check, source, data freshness")),
    Command("backtest", _("METRIC [days]"), _("alerts the current settings would have raised"),
            example="/backtest views 7"),
    Command("lang", _("[en|ru]"), _("the bot's language in this chat"), example="/lang ru"),
    Command("set", _("METRIC PARAM VALUE"),
            _("change a setting (shows its effect on the last 7 days)"), admin=True,
            example="/set views k 4"),
    Command("reset", _("METRIC"), _("back to the catalogue's settings"), admin=True,
            example="/reset views"),
    Command("mute", _("METRIC|all DURATION"), _("silence alerts, e.g. /mute views 2h"),
            admin=True, example="/mute views 3h"),
    Command("unmute", _("METRIC|all"), _("lift a mute"), admin=True, example="/unmute views"),
    Command("reload", "", _("re-read the catalogue and .env, validated first"), admin=True),
)


def _e(value: object) -> str:
    return html.escape(str(value), quote=False)


def admin_commands() -> tuple[str, ...]:
    return tuple(c.name for c in COMMANDS if c.admin)


def _find(command: str) -> Command | None:
    return next((c for c in COMMANDS if c.name == command), None)


def usage(command: str, t: Translator | None = None) -> str:
    """The command's syntax, its placeholders in `t`'s language."""
    found = _find(command)
    return found.usage(t) if found is not None else f"/{command}"


def example(command: str, names: Sequence[str] = ()) -> str:
    """A complete command to copy ('' when the command has none). `names`: the catalogue's
    metrics; where it has no `views` (a catalogue of one's own), the first of them stands in,
    without the slice a metric of another table may not have."""
    found = _find(command)
    sample = found.example if found is not None else ""
    if names and "views" not in names and " views" in sample:
        sample = sample.replace(" os=iOS", "").replace(" views", f" {names[0]}", 1)
    return sample


def span(t: Translator, delta: timedelta) -> str:
    """A duration as people read it: '30 seconds', '15 minutes', '1 hour 30 minutes', '2 days'
    (in Russian in the accusative: 'раз в 15 минут', '1 минуту назад')."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return t.ngettext("{n} second", "{n} seconds", max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    parts: list[str] = []
    if days:
        parts.append(t.ngettext("{n} day", "{n} days", days))
    if hours:
        parts.append(t.ngettext("{n} hour", "{n} hours", hours))
    if minutes:
        parts.append(t.ngettext("{n} minute", "{n} minutes", minutes))
    if rest and not days:
        parts.append(t.ngettext("{n} second", "{n} seconds", rest))
    return " ".join(parts)


def help_text(catalogue: Catalogue, t: Translator, *, is_admin: bool, every: timedelta,
              gets: str = "all") -> str:  # fmt: skip
    """The commands this person may use, under what the bot watches and how often; `gets` is
    which alerts this chat receives: 'all' (an alert chat), 'some' (subscribed) or 'none'
    ('alone': none, and no alert chat is set up either)."""
    # By title, with the name /metric, /subscribe and /mute take (as /thresholds names them).
    metrics = ", ".join(_e(named(m, t)) for m in catalogue.metrics.values())
    values = {"metrics": metrics, "every": _e(span(t, every))}
    if gets == "all":
        intro = t._("<b>metric-alertbot</b> checks these metrics and their slices every {every}: "
                    "{metrics}; it alerts here when one leaves its expected range.", **values)
        intro += " " + t._("This chat gets every alert by configuration (ALERT_CHAT_IDS).")
    elif gets == "some":
        intro = t._("<b>metric-alertbot</b> checks these metrics and their slices every {every}: "
                    "{metrics}; it sends this chat the alerts it subscribed to (/status shows "
                    "which).", **values)  # fmt: skip
    elif gets == "alone":
        intro = t._("<b>metric-alertbot</b> checks these metrics and their slices every {every}: "
                    "{metrics}; it alerts the chats that subscribed when one leaves its expected "
                    "range; /subscribe to get the alerts here.", **values)  # fmt: skip
    else:
        intro = t._("<b>metric-alertbot</b> checks these metrics and their slices every {every}: "
                    "{metrics}; it alerts the chats set up for it and those that subscribed when "
                    "one leaves its expected range; /subscribe to get the alerts here too.",
                    **values)  # fmt: skip
    lines = [intro, ""]
    for c in COMMANDS:
        if c.admin and not is_admin:
            continue
        if gets == "all" and c.name in ("subscribe", "unsubscribe"):
            continue  # an alert chat gets every alert by configuration: these change nothing
        lock = t._(" (admins)") if c.admin else ""
        lines.append(f"{_e(c.usage(t))} — {_e(t._(c.what))}{lock}")
    if not is_admin:
        admin = " ".join(f"/{name}" for name in admin_commands())
        lines += ["", t._("Admins can also change settings and mute alerts ({commands}).",
                          commands=admin)]  # fmt: skip
    return "\n".join(lines)
