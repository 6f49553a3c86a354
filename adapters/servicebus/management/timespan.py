"""Durations and instants as the management API and Config.json write them.

Service Bus is a .NET service: durations are ``TimeSpan`` values written as XML Schema
durations (``PT1M``, ``P10675199DT2H48M5.4775807S``) and instants are UTC ``DateTime``
values with up to seven fractional digits (``2024-05-01T10:00:00.1234567Z``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from adapters.servicebus.entities import MAX_TIMESPAN

_MAX_TIMESPAN_TEXT = "P10675199DT2H48M5.4775807S"
_TOO_LONG = "the duration is longer than TimeSpan.MaxValue (P10675199DT2H48M5.4775807S)"
# azure-servicebus sends "never" back as ``total_seconds() - 1e-6`` in floating point, which
# lands tens of microseconds short of TimeSpan.MaxValue.
_NEAR_MAX = timedelta(milliseconds=1)

# XML Schema duration: .NET counts a year as 365 days and a month as 30; only seconds take a fraction.
_DURATION = re.compile(
    r"(?P<sign>-)?P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str) -> timedelta:
    """``PT1M`` -> 1 minute. Raises ValueError for anything that is not an XML Schema duration.

    Values within a millisecond of ``TimeSpan.MaxValue`` become :data:`MAX_TIMESPAN`: the
    Python SDK sends it back slightly short so that .NET does not overflow.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected an ISO 8601 duration such as PT1M")
    parts = match.groupdict()
    days = int(parts["days"] or 0) + 365 * int(parts["years"] or 0) + 30 * int(parts["months"] or 0)
    seconds = Decimal(parts["seconds"] or 0) + 60 * int(parts["minutes"] or 0) + 3600 * int(parts["hours"] or 0)
    micros = round(seconds * 1_000_000)
    try:
        value = timedelta(days=days, microseconds=micros)
    except OverflowError:
        raise ValueError(_TOO_LONG) from None
    if value >= MAX_TIMESPAN - _NEAR_MAX:
        if value > MAX_TIMESPAN:
            raise ValueError(_TOO_LONG)
        value = MAX_TIMESPAN
    return -value if parts["sign"] else value


def format_duration(value: timedelta) -> str:
    """1 minute -> ``PT1M``, as .NET's ``XmlConvert.ToString(TimeSpan)`` writes it."""
    if value == MAX_TIMESPAN:
        # Python keeps microseconds; .NET's 100 ns ticks give the well-known text.
        return _MAX_TIMESPAN_TEXT
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P{value.days}D" if value.days else f"{sign}P"
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or value.microseconds:
        fraction = f".{value.microseconds:06d}".rstrip("0") if value.microseconds else ""
        clock += f"{seconds}{fraction}S"
    if clock:
        return f"{text}T{clock}"
    return text if value.days else f"{sign}PT0S"


def format_datetime(value: datetime) -> str:
    """An instant in UTC with the fraction .NET would write (trailing zeros dropped)."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    fraction = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip())
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
