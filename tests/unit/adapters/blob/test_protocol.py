"""Pure pieces of the Blob protocol: CRC-64, ranges, conditional headers, the lease state machine."""

from __future__ import annotations

import pytest

from adapters.blob import errors
from adapters.blob.crc64 import crc64, crc64_bytes
from adapters.blob.models import INFINITE, Lease
from adapters.blob.protocol import NotModified, check_conditions, lease_action, requested_range, resolve_range
from adapters.blob.xml import http_date

LEASE = "11111111-1111-1111-1111-111111111111"
OTHER = "22222222-2222-2222-2222-222222222222"


def test_crc64_check_value_and_chaining() -> None:
    assert crc64(b"123456789") == 0xAE8B14860A799888
    assert crc64(b"6789", crc64(b"12345")) == crc64(b"123456789")
    assert crc64(b"") == 0
    assert crc64_bytes(1) == b"\x01" + bytes(7)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=90-", 100, (90, 100)),
        ("bytes=95-200", 100, (95, 100)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-500", 100, (0, 100)),
    ],
)
def test_ranges(header: str, size: int, expected: tuple[int, int]) -> None:
    wanted = requested_range({"x-ms-range": header})
    assert wanted is not None
    assert resolve_range(wanted, size) == expected


def test_range_past_the_end_is_416() -> None:
    wanted = requested_range({"range": "bytes=100-200"})
    assert wanted is not None
    with pytest.raises(errors.InvalidRange) as info:
        resolve_range(wanted, 100)
    assert info.value.headers["Content-Range"] == "bytes */100"


def test_x_ms_range_wins_and_garbage_means_whole_blob() -> None:
    assert requested_range({"range": "bytes=0-1", "x-ms-range": "bytes=5-6"}) == (5, 6)
    assert requested_range({"range": "pages=1-2"}) is None
    with pytest.raises(errors.InvalidHeaderValue):
        requested_range({"range": "bytes=9-2"})


def test_conditions() -> None:
    etag, modified = '"0xABC"', 1_700_000_000.5
    check_conditions({"if-match": '"0xABC"'}, etag, modified)
    check_conditions({"if-match": "*"}, etag, modified)
    with pytest.raises(errors.ConditionNotMet):
        check_conditions({"if-match": '"0xDEF"'}, etag, modified)
    with pytest.raises(errors.ConditionNotMet):
        check_conditions({"if-match": "*"}, None, 0.0)
    check_conditions({"if-none-match": "*"}, None, 0.0)
    with pytest.raises(errors.ConditionNotMet):
        check_conditions({"if-none-match": "*"}, etag, modified)
    with pytest.raises(NotModified):
        check_conditions({"if-none-match": etag}, etag, modified, read=True)
    with pytest.raises(NotModified):
        check_conditions({"if-modified-since": http_date(modified)}, etag, modified, read=True)
    check_conditions({"if-modified-since": http_date(modified - 10)}, etag, modified, read=True)
    check_conditions({"if-unmodified-since": http_date(modified)}, etag, modified)
    with pytest.raises(errors.ConditionNotMet):
        check_conditions({"if-unmodified-since": http_date(modified - 10)}, etag, modified)


def test_lease_acquire_renew_change_release() -> None:
    lease, status, headers = lease_action(None, {"x-ms-lease-action": "acquire", "x-ms-lease-duration": "15",
                                                 "x-ms-proposed-lease-id": LEASE}, 100.0)  # fmt: skip
    assert status == 201 and lease is not None and lease.state(110.0) == "leased" and lease.state(115.0) == "expired"
    with pytest.raises(errors.LeaseAlreadyPresent):
        lease_action(lease, {"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"}, 101.0)
    renewed, status, _ = lease_action(lease, {"x-ms-lease-action": "renew", "x-ms-lease-id": LEASE}, 120.0)
    assert status == 200 and renewed is not None and renewed.state(130.0) == "leased"
    with pytest.raises(errors.LeaseIdMismatchWithLeaseOperation):
        lease_action(renewed, {"x-ms-lease-action": "release", "x-ms-lease-id": OTHER}, 121.0)
    changed, _, _ = lease_action(
        renewed, {"x-ms-lease-action": "change", "x-ms-lease-id": LEASE, "x-ms-proposed-lease-id": OTHER}, 121.0
    )
    assert changed is not None and changed.id == OTHER
    released, status, _ = lease_action(changed, {"x-ms-lease-action": "release", "x-ms-lease-id": OTHER}, 122.0)
    assert released is None and status == 200
    with pytest.raises(errors.LeaseNotPresentWithLeaseOperation):
        lease_action(None, {"x-ms-lease-action": "renew", "x-ms-lease-id": OTHER}, 123.0)


def test_lease_break() -> None:
    infinite = Lease(LEASE, INFINITE, 0.0)
    broken, status, headers = lease_action(infinite, {"x-ms-lease-action": "break"}, 10.0)
    assert status == 202 and broken is not None and broken.state(10.0) == "broken"
    assert dict(headers)[b"x-ms-lease-time"] == b"0"
    fixed = Lease(LEASE, 60, 70.0)
    breaking, _, headers = lease_action(fixed, {"x-ms-lease-action": "break"}, 10.0)
    assert breaking is not None and breaking.state(20.0) == "breaking" and breaking.state(70.0) == "broken"
    assert dict(headers)[b"x-ms-lease-time"] == b"60"
    shorter, _, _ = lease_action(breaking, {"x-ms-lease-action": "break", "x-ms-lease-break-period": "5"}, 20.0)
    assert shorter is not None and shorter.state(26.0) == "broken"
    with pytest.raises(errors.LeaseIsBreakingAndCannotBeAcquired):
        lease_action(breaking, {"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1",
                                "x-ms-proposed-lease-id": LEASE}, 21.0)  # fmt: skip
    with pytest.raises(errors.InvalidHeaderValue):
        lease_action(None, {"x-ms-lease-action": "acquire", "x-ms-lease-duration": "5"}, 0.0)
