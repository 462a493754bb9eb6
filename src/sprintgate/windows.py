"""Time windows: half-open ``[start, end)`` in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open interval ``[start, end)``; both ends are timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for end in (self.start, self.end):
            if end.tzinfo is None:
                raise ValueError(f"a window end needs a timezone, got {end.isoformat()}")
        if self.end <= self.start:
            raise ValueError(f"a window must end after it starts, got {self}")

    @classmethod
    def parse(cls, text: str) -> Window:
        """``START/END`` in ISO 8601; a time without an offset is taken as UTC."""
        parts = text.split("/")
        if len(parts) != 2:
            raise ValueError(f"expected START/END in ISO 8601, got {text!r}")
        try:
            start, end = (_parse_instant(p) for p in parts)
        except ValueError as error:
            raise ValueError(f"{text!r} is not START/END in ISO 8601: {error}") from None
        return cls(start, end)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def halves(self) -> tuple[Window, Window]:
        middle = self.start + self.length / 2
        return Window(self.start, middle), Window(middle, self.end)

    @property
    def days(self) -> float:
        return self.length.total_seconds() / 86400

    def __str__(self) -> str:
        return f"{_format(self.start)}/{_format(self.end)}"


def _parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _format(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
