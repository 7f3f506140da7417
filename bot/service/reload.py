"""Reload without a restart (SIGHUP, /reload): the metric catalogue and the settings that are
safe to change while running, each validated before anything changes; a bad file keeps what is
in force and the answer says why.

Reloaded: the catalogue (CATALOGUE_PATH, or the bundled one), and from the environment and
.env: REPEAT_INTERVAL, RESOLVE_AFTER, DASHBOARD_URL, ALERT_CHAT_IDS, LOG_LEVEL, CATALOGUE_PATH.
Any other setting that changed is named as needing a restart (ADMIN_IDS among them: the admin
commands' filter is built at start-up). Threshold overrides (/set) live in the state file and
are always current.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import detectors
from bot.core.incidents import Policy
from bot.service.checker import History, spec_for
from bot.service.monitor import Monitor
from bot.service.notifier import Notifier
from bot.settings import Settings, SettingsError
from queries.catalogue import Catalogue, CatalogueError, load_catalogue

__all__ = ["RELOADABLE", "reload"]

log = logging.getLogger("alertbot.reload")

RELOADABLE = ("repeat_interval", "resolve_after", "dashboard_url", "alert_chat_ids",
              "log_level", "catalogue_path")  # fmt: skip


def _validated(monitor: Monitor, path: Any) -> Catalogue:
    """The catalogue at `path`, refused (CatalogueError) unless every metric's detector and
    rule build with the overrides in force, and its step is the running one."""
    catalogue = load_catalogue(path)
    if catalogue.step != monitor.catalogue.step:
        raise CatalogueError(f"its step {catalogue.step} is not the running "
                             f"{monitor.catalogue.step}: restart to change it")  # fmt: skip
    overrides = monitor.overrides()
    for metric in catalogue.metrics.values():
        spec = spec_for(metric, overrides.get(metric.name))
        try:
            detectors.build(spec)
            detectors.build_rule(spec)
        except ValueError as exc:
            raise CatalogueError(f"metrics.{metric.name}: {exc}") from None
    return catalogue


async def reload(
    monitor: Monitor,
    notifier: Notifier,
    read_settings: Callable[[], Settings],
) -> list[str]:
    """Re-read .env and the catalogue; returns what happened, one sentence a line (also
    logged). Commands read the monitor's catalogue with each update (BotApp)."""
    settings = monitor.settings
    lines: list[str] = []
    new: Settings | None = None
    try:
        new = read_settings()
    except SettingsError as exc:
        lines.append(f"Settings not reloaded, the old ones stay: {exc}")
    path = settings.catalogue_path if new is None else new.catalogue_path
    try:
        catalogue: Catalogue | None = _validated(monitor, path)
    except (CatalogueError, OSError) as exc:
        catalogue, refused = None, f"Catalogue not reloaded, the old one stays: {exc}"
    if new is not None and catalogue is None and path != settings.catalogue_path:
        # A .env with a bad value is refused as a whole: a CATALOGUE_PATH that names no
        # usable catalogue too (the rest was applied, and the next restart stopped on it).
        lines.append(f"Settings not reloaded, the old ones stay: CATALOGUE_PATH={path} names "
                     "a catalogue that is refused")  # fmt: skip
        new, path = None, settings.catalogue_path
    if new is not None:
        changed = [n for n in RELOADABLE if getattr(new, n) != getattr(settings, n)]
        restart = [n.upper() for n in type(settings).model_fields
                   if n not in RELOADABLE and getattr(new, n) != getattr(settings, n)]  # fmt: skip
        for name in changed:
            if name != "catalogue_path":  # taken with the catalogue, if that one is good
                setattr(settings, name, getattr(new, name))
        notifier.policy = Policy(repeat=settings.repeat_interval,
                                 resolve_after=settings.resolve_after)  # fmt: skip
        if "log_level" in changed:
            logging.getLogger().setLevel(settings.log_level)
        names = ", ".join(n.upper() for n in changed) or "nothing changed"
        lines.append(f"Settings reloaded: {names}.")
        if restart:
            lines.append(f"Changed but only applied at a restart: {', '.join(restart)}.")
    if catalogue is None:
        lines.append(refused)
    else:
        async with monitor._lock:  # never in the middle of a check
            monitor.catalogue = catalogue
            monitor.history = History(monitor.source, catalogue, monitor.state.history)
            monitor._version += 1  # cached reports and charts are of the old catalogue
        settings.catalogue_path = path
        lines.append(f"Catalogue reloaded: {len(catalogue.metrics)} metrics "
                     f"({', '.join(catalogue.metrics)}).")  # fmt: skip
    for line in lines:
        (log.warning if "not reloaded" in line else log.info)("reload: %s", line)
    return lines
