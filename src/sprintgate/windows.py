"""Time windows: half-open ``[start, end)`` in UTC, within the years telemetry can plausibly carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Ends outside this range are refused: they are typos or clock errors, and date arithmetic near
#: year 1 or 9999 overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class WindowError(ValueError):
    """A window that cannot be judged: one line saying why."""


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open interval ``[start, end)``; both ends are timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for end in (self.start, self.end):
            if end.tzinfo is None:
                raise WindowError(f"a window end needs a timezone, got {end.isoformat()}")
            if not EARLIEST <= end <= LATEST:
                raise WindowError(f"{_format(end)} is outside {_format(EARLIEST)} to {_format(LATEST)}")
        if self.end <= self.start:
            raise WindowError(f"a window must end after it starts, got {self}")

    @classmethod
    def parse(cls, text: str) -> Window:
        """``START/END`` in ISO 8601; a time without an offset is taken as UTC."""
        parts = text.split("/")
        if len(parts) != 2:
            raise WindowError(f"expected START/END in ISO 8601, got {text[:80]!r}")
        try:
            start, end = (parse_instant(p) for p in parts)
        except (ValueError, OverflowError) as error:
            raise WindowError(f"{text[:80]!r} is not START/END in ISO 8601: {error}") from None
        return cls(start, end)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def days(self) -> float:
        return self.length.total_seconds() / 86400

    def __str__(self) -> str:
        return f"{_format(self.start)}/{_format(self.end)}"


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; without an offset it is UTC."""
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def derive_windows(flip: datetime, days: float, warmup_hours: float) -> tuple[Window, Window]:
    """BASELINE = the ``days`` before the flip; POST = the ``days`` after a warm-up that follows it."""
    try:
        length, warmup = timedelta(days=days), timedelta(hours=warmup_hours)
        return Window(flip - length, flip), Window(flip + warmup, flip + warmup + length)
    except OverflowError:
        raise WindowError(f"windows around a flip at {_format(flip)} fall outside the calendar") from None


def _format(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
