"""Store-local time and yearly events (birthdays, enrolment anniversaries).

Time always arrives as an aware ``datetime`` (the caller's clock); the store's IANA time zone turns it into
the local date and wall-clock time that days of week, happy hours and birthdays are judged by.

Yearly events
-------------
An event happens once a year on the anchor's month and day. A window of ``days_before`` and ``days_after``
around it (inclusive at both ends, in local dates) counts as the event. Someone born (or enrolled) on
29 February has the event on 28 February in years without that day: it stays in February and never drifts
into March. The anchor year itself does not count: enrolling today is not an anniversary, and the window
is only matched in later years.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InvalidInput

__all__ = ["event_occurrence_in_window", "occurrence_in_year", "store_zone", "to_local"]


@lru_cache(maxsize=256)
def store_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA time zone ``name``; an unknown name raises InvalidInput naming ``field``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(field, f"{name!r} is not an IANA time zone such as 'America/Mexico_City'") from exc


def to_local(now: datetime, zone_name: str, *, field: str = "now", zone_field: str = "timezone") -> datetime:
    """``now`` (which must be aware) as wall-clock time in the store's zone."""
    if not isinstance(now, datetime):
        raise InvalidInput(field, f"must be a datetime, not {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput(field, "must be timezone-aware (the store's zone is applied to it)")
    return now.astimezone(store_zone(zone_name, zone_field))


def occurrence_in_year(anchor: date, year: int) -> date:
    """The anniversary of ``anchor`` in ``year``; 29 February falls on 28 February in common years."""
    if anchor.month == 2 and anchor.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, anchor.month, anchor.day)


def event_occurrence_in_window(anchor: date, today: date, days_before: int, days_after: int) -> date | None:
    """The occurrence of ``anchor``'s yearly event whose window contains ``today``, if any.

    The window is ``[occurrence - days_before, occurrence + days_after]``. Occurrences in the anchor's own
    year or earlier never count. With windows shorter than half a year at most one occurrence can match.
    """
    if days_before < 0 or days_after < 0:
        raise InvalidInput("days_before" if days_before < 0 else "days_after", "must not be negative")
    # A window reaching across New Year can hold today from the previous or the next year's occurrence.
    for year in (today.year, today.year - 1, today.year + 1):
        if year <= anchor.year or year < date.min.year + 1 or year > date.max.year - 1:
            continue
        occurrence = occurrence_in_year(anchor, year)
        if occurrence - timedelta(days=days_before) <= today <= occurrence + timedelta(days=days_after):
            return occurrence
    return None
