"""Introspectable detector parameters: name, type, default, valid range, description."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# A number as written in ASCII: 4, -0.5, .5, 1e3, " 2 ", inf and nan (refused after, as
# not finite).
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*|\s*[+-]?(inf|nan)\s*",
                     re.IGNORECASE | re.ASCII)

__all__ = ["Param", "validate", "zone_named"]


@dataclass(frozen=True)
class Param:
    type: type
    default: Any
    low: float | None
    high: float | None
    help: str
    choices: tuple[str, ...] = ()
    zone: bool = False  # a time zone's IANA name (Europe/Berlin, UTC)

    def rule(self) -> str:
        """The valid values, as people read them: 'float in [0.5, 20]' or 'one of a, b'."""
        if self.zone:
            return "a time zone's name, such as Europe/Berlin or UTC"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return f"{self.type.__name__} in [{self.low:g}, {self.high:g}]"

    def check(self, owner: str, name: str, value: Any) -> Any:
        """The value converted to the parameter's type; ValueError stating the rule if invalid."""
        rule = f"{owner}: {name} must be {self.rule()}"
        if self.zone:
            found = zone_named(value)
            if found is None:
                raise ValueError(f"{rule}, got {value!r}")
            return found
        if self.choices:
            named = {choice.lower(): choice for choice in self.choices}  # 'Down' is down
            if str(value).lower() not in named:
                raise ValueError(f"{rule}, got {value!r}")
            return named[str(value).lower()]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{rule}, got {value!r}")
        if isinstance(value, str) and not _NUMBER.fullmatch(value):
            # float() also reads "1_0" as 10 and full-width digits: a typo is no setting
            raise ValueError(f"{rule}, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{rule}, got {value!r}") from None
        if self.type is int and not number.is_integer():
            raise ValueError(f"{rule}, got {value!r}")
        if (
            not math.isfinite(number)
            or (self.low is not None and number < self.low)
            or (self.high is not None and number > self.high)
        ):
            raise ValueError(f"{rule}, got {value!r}")
        return int(number) if self.type is int else float(number) + 0.0  # -0 is 0


def validate(owner: str, params: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise ValueError(
            f"{owner}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(params)}"
        )
    return {
        name: param.check(owner, name, given[name]) if name in given else param.default
        for name, param in params.items()
    }


def zone_named(value: object) -> str | None:
    """The IANA name of the time zone `value` names, in its own case ('europe/berlin' is
    Europe/Berlin; 'utc' is UTC), or None when it names none."""
    if not isinstance(value, str) or not value.strip() or value.strip() != value:
        return None
    if value.upper() == "UTC":
        return "UTC"
    found = _zones().get(value.lower())
    if found is None:
        return None
    try:
        ZoneInfo(found)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return found


@functools.cache
def _zones() -> dict[str, str]:
    """Every zone's IANA name by its lower case (read from the system's database once); not
    'localtime' nor 'Factory', which name the server's own clock or no place at all."""
    return {z.lower(): z for z in available_timezones() if z not in NOT_PLACES}


NOT_PLACES = frozenset({"localtime", "Factory"})
