"""Whether the wall clock people read (TIMEZONE) changes while the metrics' daily patterns
follow UTC: the hint `alertbot catalogue` and the bot's start-up give, since each change of the
clocks would otherwise fire for two weeks where the audience lives by that clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from detectors.params import zone_named
from queries.catalogue import Catalogue

__all__ = ["clock_hint", "follows_utc", "observes_dst"]


def _offsets(zone: str) -> tuple[object, ...]:
    """`zone`'s offsets from UTC in mid-January and mid-July of this year."""
    tz = ZoneInfo(zone)
    year = datetime.now(UTC).year
    return tuple(datetime(year, month, 15, tzinfo=tz).utcoffset() for month in (1, 7))


def observes_dst(zone: str) -> bool:
    """Whether `zone`'s offset from UTC differs between January and July (this year)."""
    winter, summer = _offsets(zone)
    return winter != summer


def follows_utc(zone: object) -> bool:
    """Whether a metric's `timezone` (as the catalogue holds it, in any case the detector
    takes) is UTC's clock: UTC, utc, Etc/UTC, GMT, Zulu... (offset 0 all year). A name the
    detector refuses counts as none."""
    name = zone_named(zone)
    return name is not None and (name == "UTC" or set(_offsets(name)) == {timedelta(0)})


def clock_hint(catalogue: Catalogue, display: str) -> str | None:
    """A sentence naming the seasonal metrics judged in UTC while TIMEZONE (`display`) changes
    its clocks; None when there are none or it does not."""
    if display == "UTC" or not observes_dst(display):
        return None
    utc = [m.name for m in catalogue.metrics.values()
           if str((m.detector or {}).get("method", "seasonal")) == "seasonal"
           and follows_utc((m.detector or {}).get("timezone", "UTC"))]  # fmt: skip
    if not utc:
        return None
    return (f"note: TIMEZONE={display} changes its clocks, and the daily patterns of "
            f"{', '.join(utc)} follow UTC: if your audience lives by that clock, set "
            f'timezone = "{display}" in the catalogue\'s [defaults] (README: Detection), or each '
            "change of the clocks fires for about two weeks")
