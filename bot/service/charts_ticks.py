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
    0 - 0.2%, whole numbers wrote '0', '0', '1', '1' on a count of 0 - 2. Ticks of ten million
    and more are written in millions ('20M'), from ten billion in billions ('12 bn'):
    '12,000,000,000' did not fit the margin and read '00,000,000'. `percent`: a share shown
    as a percentage."""

    def __init__(self, t: Translator, *, percent: bool) -> None:
        self.t = t
        self.percent = percent
        self.ticks: list[float] = []

    def set_locs(self, locs: Sequence[float]) -> None:
        self.ticks = [float(x) for x in locs]

    def _scale(self) -> tuple[float, str | None]:
        """What the ticks are written in: per cent, ones, millions or billions (and its
        words: None for ones and per cent)."""
        if self.percent:
            return 100.0, None
        top = max((abs(x) for x in self.ticks if math.isfinite(x)), default=0.0)
        if top >= 1e10:
            return 1e-9, self.t._("{number} bn")
        if top >= 1e7:
            return 1e-6, self.t._("{number}M")
        return 1.0, None

    def _places(self, scale: float) -> int:
        locs = sorted(scale * x for x in self.ticks if math.isfinite(x))
        steps = [b - a for a, b in itertools.pairwise(locs) if b > a]
        if not steps:
            return 1 if self.percent else 0
        least = float(f"{min(steps):.6g}")  # 0.0999999 between two large ticks is 0.1
        places = max(0, math.ceil(-math.log10(least) - 1e-9))
        tolerance = 1e-6 * least
        while places < 9 and any(abs(round(x, places) - x) > tolerance for x in locs):
            places += 1  # a step of 0.25 needs two places, not one
        return places

    def _one(self, x: float, places: int, scale: tuple[float, str | None]) -> str:
        factor, words = scale
        if round(factor * x, places) == 0:
            x = 0.0  # a tick at -1e-17 is 0, not '-0'
        if self.percent:
            return number(f"{x:.{places}%}", self.t)
        text = number(f"{factor * x:,.{places}f}", self.t)
        return text if words is None or x == 0 else words.format(number=text)

    def __call__(self, x: float, pos: int | None = None) -> str:
        scale = self._scale()
        return self._one(x, self._places(scale[0]), scale)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        self.set_locs(values)
        scale = self._scale()
        places = self._places(scale[0])
        return [self._one(x, places, scale) for x in values]
