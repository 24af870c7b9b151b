"""Times as operators type and read them: ISO 8601 in UTC, epoch milliseconds inside."""

from __future__ import annotations

import datetime as dt


class TimeError(ValueError):
    """A time the operator typed that is not one; the message shows the expected form."""


def iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_datetime(text: str, flag: str) -> int:
    """An ISO 8601 time (a zone is required: `Z` or `+01:00`) as epoch milliseconds."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TimeError(f"{flag} {text!r}: not an ISO 8601 time; e.g. 2026-12-01T08:00:00Z") from None
    if value.tzinfo is None:
        raise TimeError(f"{flag} {text!r}: give a time zone, e.g. {text}Z for UTC")
    return round(value.timestamp() * 1000)
