from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import isodate
import pytest

from adapters.servicebus.entities import MAX_TIMESPAN
from adapters.servicebus.management.timespan import format_datetime, format_duration, parse_datetime, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1M", timedelta(minutes=1)),
        ("PT30S", timedelta(seconds=30)),
        ("PT300S", timedelta(minutes=5)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P2DT3H4M5.5S", timedelta(days=2, hours=3, minutes=4, seconds=5.5)),
        ("P0D", timedelta(0)),
        ("PT0S", timedelta(0)),
        ("P1Y", timedelta(days=365)),
        ("P1M", timedelta(days=30)),
        ("-PT5S", timedelta(seconds=-5)),
        ("PT0.0000001S", timedelta(0)),
        (" PT1M ", timedelta(minutes=1)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_time_span_max_value_and_the_sdk_s_slightly_short_version_are_max() -> None:
    assert parse_duration("P10675199DT2H48M5.4775807S") == MAX_TIMESPAN
    # azure-servicebus sends "never" back as total_seconds() - 1e-6, short by float rounding.
    sent_back = timedelta(seconds=MAX_TIMESPAN.total_seconds() - 0.000001)
    assert sent_back != MAX_TIMESPAN
    assert parse_duration(isodate.duration_isoformat(sent_back)) == MAX_TIMESPAN
    assert parse_duration("P10675199DT2H48M4S") < MAX_TIMESPAN


@pytest.mark.parametrize("text", ["", "P", "PT", "1M", "PT1.5M", "P1DT", "PT1H2", "P99999999999D", "P10675200D"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=1), "PT1M"),
        (timedelta(seconds=30), "PT30S"),
        (timedelta(days=1), "P1D"),
        (timedelta(days=2, seconds=5), "P2DT5S"),
        (timedelta(hours=1, minutes=30), "PT1H30M"),
        (timedelta(0), "PT0S"),
        (timedelta(seconds=5, microseconds=500000), "PT5.5S"),
        (timedelta(microseconds=1), "PT0.000001S"),
        (timedelta(seconds=-5), "-PT5S"),
        (MAX_TIMESPAN, "P10675199DT2H48M5.4775807S"),
    ],
)
def test_format_duration_writes_what_dotnet_writes(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_format_datetime_is_utc_with_trimmed_fraction() -> None:
    assert format_datetime(datetime(2024, 5, 1, 10, 0, tzinfo=UTC)) == "2024-05-01T10:00:00Z"
    assert format_datetime(datetime(2024, 5, 1, 10, 0, 0, 120000, tzinfo=UTC)) == "2024-05-01T10:00:00.12Z"
    plus_two = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_datetime(plus_two) == "2024-05-01T10:00:00Z"


def test_parse_datetime_takes_seven_digits_and_naive_as_utc() -> None:
    assert parse_datetime("2024-05-01T10:00:00.1234567Z") == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert parse_datetime("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_datetime("yesterday")
