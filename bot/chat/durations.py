"""How long, as people write it to the bot: '2h', '30m', '3 days', '1 day 12 hours', 'an hour'
as 'hour', and in Russian '3 дня', '2 часа', '30 мин', '1 неделя', 'час', 'полчаса'."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["parse_span"]

_SECOND, _MINUTE, _HOUR, _DAY, _WEEK = 1, 60, 3600, 86400, 604800
_UNITS: dict[str, int] = {}
for _names, _seconds in (
    ("s sec secs second seconds с сек секунда секунды секунд секунду", _SECOND),
    ("m min mins minute minutes м мин минута минуты минут минуту", _MINUTE),
    ("h hr hrs hour hours ч час часа часов", _HOUR),
    ("d day days д дн день дня дней сутки суток", _DAY),
    ("w wk wks week weeks н нед неделя недели недель неделю", _WEEK),
):
    _UNITS.update(dict.fromkeys(_names.split(), _seconds))

_HALF_HOUR = frozenset({"полчаса", "пол часа", "half an hour", "half hour"})
_PART = re.compile(r"([0-9]{1,6}(?:[.,][0-9]{1,3})?)\s*([^\W\d_]+)")


def parse_span(text: str) -> timedelta | None:
    """The duration `text` names, or None when it is not one (no exception on odd input; a
    unit named twice, '2h 2h' or '1 час 30 минут 1 час', is no duration)."""
    rest = " ".join(text.strip().lower().replace("ё", "е").split())
    if not rest:
        return None
    if rest in _HALF_HOUR:
        return timedelta(minutes=30)
    if rest in _UNITS and len(rest) > 1:  # 'час', 'day': one of it ('m' alone is no answer)
        return timedelta(seconds=_UNITS[rest])
    total, seen = 0.0, set()
    while rest:
        match = _PART.match(rest)
        if match is None or match.group(2) not in _UNITS or _UNITS[match.group(2)] in seen:
            return None  # '2h 2h' is a slip, not 4 hours
        seen.add(_UNITS[match.group(2)])
        total += float(match.group(1).replace(",", ".")) * _UNITS[match.group(2)]
        rest = rest[match.end():].lstrip(" ,")
    return timedelta(seconds=total)
