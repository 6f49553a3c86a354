"""The pushing stream reader: bytes go to its consumer first, to ``read()`` when it declines or
when bytes are still buffered (nothing is overtaken), and always at EOF."""

from __future__ import annotations

from controlplane.gateway.streams import PushReader


async def test_without_a_consumer_it_is_a_plain_stream_reader() -> None:
    reader = PushReader()
    reader.feed_data(b"one")
    reader.feed_eof()
    assert await reader.read() == b"one"


async def test_the_consumer_takes_what_arrives_or_leaves_it_to_read() -> None:
    taken: list[bytes] = []
    reader = PushReader()
    reader.consumer = lambda data: data.startswith(b"take") and not taken.append(data)
    reader.feed_data(b"take me")
    reader.feed_data(b"leave me")
    reader.feed_eof()
    assert taken == [b"take me"]
    assert await reader.read() == b"leave me"


async def test_bytes_still_buffered_are_not_overtaken() -> None:
    taken: list[bytes] = []
    reader = PushReader()
    reader.feed_data(b"first")  # no consumer yet: buffered
    reader.consumer = lambda data: not taken.append(data)
    reader.feed_data(b"second")
    assert taken == []
    assert await reader.read(100) == b"firstsecond"
    reader.feed_data(b"third")
    assert taken == [b"third"]
