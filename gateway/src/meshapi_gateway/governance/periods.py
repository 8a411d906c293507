"""Budget periods and their UTC boundaries.

A budget counts spend from the start of its current period; ``total`` never resets.
Boundaries are UTC midnights (weeks start on Monday, months on the 1st), so every
replica agrees on them without talking to the others.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

PERIODS = ("daily", "weekly", "monthly", "total")


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def period_bounds(period: str, now: float) -> tuple[int, int | None]:
    """(start, next reset) of the period holding ``now``, in Unix seconds; ``total`` has no reset."""
    if period == "total":
        return 0, None
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    day = _midnight(moment)
    if period == "daily":
        start, end = day, day + timedelta(days=1)
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "monthly":
        start = day.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return int(start.timestamp()), int(end.timestamp())


def iso_seconds(seconds: int | None) -> str | None:
    """RFC 3339 in UTC (``Z``), as key objects show times that people set."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")
