"""Units: how a value is shown and how a target is read, in one place for every report.

Values are kept in their natural scale inside the engine (a rate is a fraction, a rate difference a
fraction, a duration in its declared unit); a :class:`Unit` shows them to people (``15.2 %``,
``+1.3 points``, ``x0.452``, ``1,234 ms``) and reads targets written by people. The terminal, the
Markdown reports, the CSV headers, the plots and Allure all format through here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unit:
    """How values of one kind of quantity read."""

    name: str  # what a reader calls it: "ms", "%", "points", "x", "attempts"
    scale: float = 1.0  # shown = value * scale
    decimals: int = 2
    suffix: str = ""
    prefix: str = ""
    signed: bool = False
    grouped: bool = False  # thousands separators
    spelled: tuple[str, ...] = ()  # suffixes a target may carry on the command line
    requires_spelling: bool = False  # a bare number is refused: "30" for a rate is ambiguous

    def format(self, value: float | None, *, decimals: int | None = None) -> str:
        """``value`` as a reader sees it; ``n/a`` for a missing value."""
        if value is None or not math.isfinite(value):
            return "n/a"
        shown = value * self.scale
        places = self._places(shown) if decimals is None else decimals
        sign = "+" if self.signed and shown >= 0 else ""
        number = f"{shown:{sign}{',' if self.grouped else ''}.{places}f}"
        return f"{self.prefix}{number}{self.suffix}"

    def _places(self, shown: float) -> int:
        if self.grouped and abs(shown) >= 100:
            return 0
        if self.grouped:  # durations under 100: three significant digits
            return max(0, min(6, 2 - math.floor(math.log10(abs(shown))))) if shown else 0
        if abs(shown) < 1 and shown and self.decimals < 3:
            return self.decimals + 1
        return self.decimals

    def format_against(self, value: float | None, reference: float) -> str:
        """``value`` with as many decimals as it takes to tell it apart from ``reference`` (up to 6
        more), so a bound that misses a target by 0.0002 never reads as equal to it."""
        if value is None or not math.isfinite(value):
            return "n/a"
        base = self._places(value * self.scale)
        for extra in range(7):
            shown = self.format(value, decimals=base + extra)
            if value == reference or shown != self.format(reference, decimals=base + extra):
                return shown
        return self.format(value, decimals=base + 6)

    @property
    def header(self) -> str:
        """The unit for a column header or an axis label: ``ms``, ``%``, ``points``, ``x``."""
        return self.name

    def parse(self, text: str) -> float:
        """A target as a person writes it (``30%``, ``5 points``, ``0.7x``, ``2000ms``), in the
        engine's scale. Raises :class:`ValueError` with a sentence on a malformed or unitless value."""
        raw = text.strip()
        match = re.fullmatch(r"(?i)\s*(x)?\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*([a-z%]*)\s*", raw)
        if match is None:
            raise ValueError(f"{text!r} is not a number{self._hint()}")
        prefix, number, suffix = match.group(1), float(match.group(2)), match.group(3).lower()
        if prefix and self.prefix != "x":
            raise ValueError(f"{text!r}: a leading x is only for ratios{self._hint()}")
        if suffix and suffix not in self.spelled:
            raise ValueError(f"{text!r} is in {suffix!r}, but this target is in {self.name}{self._hint()}")
        if not suffix and not prefix and self.requires_spelling:
            raise ValueError(f"{text!r} has no unit; this target is in {self.name}{self._hint()}")
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a finite number")
        return number / self.scale

    def _hint(self) -> str:
        example = self.format(self.parse_example())
        return f" (write it like {example.replace(' ', '')!r})"

    def parse_example(self) -> float:
        return {"%": 0.3, "points": 0.05, "x": 0.7}.get(self.name, 2000.0 if self.grouped else 1.5)


def duration_unit(name: str) -> Unit:
    """A duration in ``name`` (``ms``, ``s``, ...): grouped digits, the unit as suffix."""
    return Unit(name=name, suffix=f" {name}", grouped=True, spelled=(name.lower(),))


def count_unit(name: str) -> Unit:
    """A count of something per unit (``attempts``): two decimals and its name."""
    return Unit(name=name, decimals=2, suffix=f" {name}", spelled=(name.lower(),))


PERCENT = Unit(name="%", scale=100.0, decimals=1, suffix=" %", spelled=("%", "pct", "percent"), requires_spelling=True)
POINTS = Unit(
    name="points",
    scale=100.0,
    decimals=1,
    suffix=" points",
    signed=True,
    spelled=("pt", "pts", "point", "points", "pp"),
    requires_spelling=True,
)
RATIO = Unit(name="x", decimals=3, prefix="x", spelled=("x",))
MS = duration_unit("ms")
