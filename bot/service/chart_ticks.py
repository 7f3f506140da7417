"""The value axis's tick labels: as many decimals as the ticks' spacing needs."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from matplotlib.ticker import Formatter

from bot.core.i18n import Translator
from bot.service.charts_text import number

__all__ = ["ValueTicks"]


class ValueTicks(Formatter):
    """Value ticks with as many decimals as their spacing needs ('1,200', '0.5', '0.025%'), so
    that no two ticks read alike: one decimal of a percent wrote 0.1% four times on a rate of
    0 - 0.2%, whole numbers wrote '0', '0', '1', '1' on a count of 0 - 2. `percent`: a share
    shown as a percentage."""

    def __init__(self, t: Translator, *, percent: bool) -> None:
        self.t = t
        self.percent = percent
        self.ticks: list[float] = []

    def set_locs(self, locs: Sequence[float]) -> None:
        self.ticks = [float(x) for x in locs]

    def _places(self) -> int:
        scale = 100.0 if self.percent else 1.0
        locs = sorted(scale * x for x in self.ticks if math.isfinite(x))
        steps = [b - a for a, b in itertools.pairwise(locs) if b > a]
        if not steps:
            return 1 if self.percent else 0
        places = max(0, math.ceil(-math.log10(min(steps)) - 1e-9))
        tolerance = 1e-6 * min(steps)
        while places < 9 and any(abs(round(x, places) - x) > tolerance for x in locs):
            places += 1  # a step of 0.25 needs two places, not one
        return places

    def _one(self, x: float, places: int) -> str:
        shown = 100.0 * x if self.percent else x
        if round(shown, places) == 0:
            x = 0.0  # a tick at -1e-17 is 0, not '-0'
        return number(f"{x:.{places}%}" if self.percent else f"{x:,.{places}f}", self.t)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._one(x, self._places())

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        self.set_locs(values)
        places = self._places()
        return [self._one(x, places) for x in values]
