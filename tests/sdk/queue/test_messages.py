"""Messages: put, get, peek, update, delete, clear, visibility and expiry through the real SDK."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.storage.queue import QueueClient

from tests.support import wait_for


def _code(error: HttpResponseError) -> str | None:
    return getattr(error, "error_code", None) or error.response.headers.get("x-ms-error-code")


def test_send_returns_times_and_receipt(queue: QueueClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    sent = queue.send_message("hello")
    assert sent.id
    assert sent.pop_receipt
    assert before - timedelta(seconds=1) <= sent.inserted_on <= datetime.now(UTC)
    assert sent.expires_on - sent.inserted_on == timedelta(days=7)
    assert sent.next_visible_on == sent.inserted_on


def test_send_with_ttl_and_visibility(queue: QueueClient) -> None:
    sent = queue.send_message("later", visibility_timeout=60, time_to_live=3600)
    assert sent.expires_on - sent.inserted_on == timedelta(hours=1)
    assert sent.next_visible_on - sent.inserted_on == timedelta(seconds=60)
    assert queue.peek_messages() == []
    assert queue.get_queue_properties().approximate_message_count == 1


def test_ttl_minus_one_never_expires(queue: QueueClient) -> None:
    sent = queue.send_message("forever", time_to_live=-1)
    assert sent.expires_on == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    [peeked] = queue.peek_messages()
    assert peeked.expires_on.year == 9999


def test_special_characters_round_trip(queue: QueueClient) -> None:
    texts = ["a < b & c > d", "quotes \" and ' apostrophes", "unicode: é ü 漢字 🎉", "line\nbreaks\tand tabs", ""]
    for text in texts:
        queue.send_message(text)
    assert [m.content for m in queue.peek_messages(max_messages=32)] == texts


def test_receive_hides_increments_dequeue_count_and_changes_receipt(queue: QueueClient) -> None:
    sent = queue.send_message("work")
    [first] = queue.receive_messages(visibility_timeout=1)
    assert first.id == sent.id
    assert first.content == "work"
    assert first.dequeue_count == 1
    assert first.pop_receipt != sent.pop_receipt
    assert first.next_visible_on > datetime.now(UTC) - timedelta(seconds=1)
    assert list(queue.receive_messages()) == []
    [second] = wait_for(lambda: list(queue.receive_messages(visibility_timeout=30)), timeout=5)
    assert second.id == sent.id
    assert second.dequeue_count == 2
    assert second.pop_receipt != first.pop_receipt


def test_receive_many_in_order(queue: QueueClient) -> None:
    for i in range(40):
        queue.send_message(f"m{i:02d}")
    page = queue._client.queue.receive_messages(number_of_messages=32)
    assert len(page.items_property) == 32
    rest = list(queue.receive_messages(max_messages=32))
    assert len(rest) == 8
    assert sorted(m.message_text for m in page.items_property) + sorted(m.content for m in rest) == [
        f"m{i:02d}" for i in range(40)
    ]


def test_peek_does_not_change_anything(queue: QueueClient) -> None:
    for i in range(3):
        queue.send_message(f"p{i}")
    first = queue.peek_messages(max_messages=32)
    second = queue.peek_messages(max_messages=2)
    assert [m.content for m in first] == ["p0", "p1", "p2"]
    assert [m.content for m in second] == ["p0", "p1"]
    assert all(m.dequeue_count == 0 and m.pop_receipt is None for m in first)
    received = list(queue.receive_messages(max_messages=3))
    assert [m.dequeue_count for m in received] == [1, 1, 1]


def test_delete_with_receipt_from_send(queue: QueueClient) -> None:
    sent = queue.send_message("bye")
    queue.delete_message(sent.id, sent.pop_receipt)
    assert queue.peek_messages() == []
    assert queue.get_queue_properties().approximate_message_count == 0


def test_delete_with_wrong_receipt_is_400(queue: QueueClient) -> None:
    sent = queue.send_message("keep")
    with pytest.raises(HttpResponseError) as info:
        queue.delete_message(sent.id, "AAAAAAAAAAAAAAAA")
    assert info.value.status_code == 400
    assert _code(info.value) == "PopReceiptMismatch"
    assert [m.content for m in queue.peek_messages()] == ["keep"]


def test_delete_missing_message_is_404(queue: QueueClient) -> None:
    sent = queue.send_message("once")
    queue.delete_message(sent)
    with pytest.raises(ResourceNotFoundError) as info:
        queue.delete_message(sent)
    assert info.value.status_code == 404
    assert _code(info.value) == "MessageNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        queue.update_message("00000000-0000-0000-0000-000000000000", pop_receipt="x", visibility_timeout=0)
    assert _code(info.value) == "MessageNotFound"


def test_update_content_and_visibility(queue: QueueClient) -> None:
    queue.send_message("v1")
    [received] = queue.receive_messages(visibility_timeout=60)
    updated = queue.update_message(received, content="v2", visibility_timeout=0)
    assert updated.pop_receipt and updated.pop_receipt != received.pop_receipt
    assert updated.next_visible_on <= datetime.now(UTC) + timedelta(seconds=1)
    [peeked] = queue.peek_messages()
    assert peeked.content == "v2"
    assert peeked.dequeue_count == 1


def test_update_visibility_only_keeps_content(queue: QueueClient) -> None:
    queue.send_message("same")
    [received] = queue.receive_messages(visibility_timeout=60)
    updated = queue.update_message(received.id, pop_receipt=received.pop_receipt, visibility_timeout=120)
    assert updated.next_visible_on >= datetime.now(UTC) + timedelta(seconds=110)
    assert queue.peek_messages() == []
    shown = queue.update_message(received.id, pop_receipt=updated.pop_receipt, visibility_timeout=0)
    [peeked] = queue.peek_messages()
    assert peeked.content == "same"
    queue.delete_message(received.id, shown.pop_receipt)
    assert queue.peek_messages() == []


def test_update_with_stale_receipt_is_400(queue: QueueClient) -> None:
    queue.send_message("contended")
    [received] = queue.receive_messages(visibility_timeout=60)
    updated = queue.update_message(received, visibility_timeout=60)
    with pytest.raises(HttpResponseError) as info:
        queue.update_message(received.id, pop_receipt=received.pop_receipt, visibility_timeout=0)
    assert info.value.status_code == 400
    assert _code(info.value) == "PopReceiptMismatch"
    with pytest.raises(HttpResponseError) as info:
        queue.delete_message(received.id, received.pop_receipt)
    assert _code(info.value) == "PopReceiptMismatch"
    queue.delete_message(received.id, updated.pop_receipt)


def test_clear_messages(queue: QueueClient) -> None:
    for i in range(10):
        queue.send_message(str(i))
    list(queue.receive_messages(max_messages=3))
    queue.clear_messages()
    assert queue.get_queue_properties().approximate_message_count == 0
    assert queue.peek_messages() == []
    assert list(queue.receive_messages()) == []


def test_messages_expire(queue: QueueClient) -> None:
    queue.send_message("short", time_to_live=1)
    queue.send_message("long")
    assert len(queue.peek_messages(max_messages=32)) == 2
    time.sleep(1.2)
    assert [m.content for m in queue.peek_messages(max_messages=32)] == ["long"]
    assert [m.content for m in queue.receive_messages()] == ["long"]
    assert queue.get_queue_properties().approximate_message_count == 1


def test_message_size_limit(queue: QueueClient) -> None:
    limit = 64 * 1024
    queue.send_message("x" * limit)
    with pytest.raises(HttpResponseError) as info:
        queue.send_message("x" * (limit + 1))
    assert info.value.status_code == 413
    assert _code(info.value) == "RequestBodyTooLarge"
    assert "<MaxLimit>65536</MaxLimit>" in info.value.response.text()
    # Multi-byte characters count by their UTF-8 size.
    with pytest.raises(HttpResponseError) as info:
        queue.send_message("é" * (limit // 2 + 1))
    assert info.value.status_code == 413
    [big] = queue.peek_messages()
    assert len(big.content) == limit
    [received] = queue.receive_messages()
    with pytest.raises(HttpResponseError) as info:
        queue.update_message(received, content="y" * (limit + 1))
    assert info.value.status_code == 413


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda q: q._client.queue.receive_messages(number_of_messages=33), "OutOfRangeQueryParameterValue"),
        (lambda q: q._client.queue.receive_messages(number_of_messages=0), "OutOfRangeQueryParameterValue"),
        (lambda q: q._client.queue.receive_messages(visibility_timeout=0), "OutOfRangeQueryParameterValue"),
        (lambda q: q._client.queue.receive_messages(visibility_timeout=604801), "OutOfRangeQueryParameterValue"),
        (lambda q: q._client.queue.peek_messages(number_of_messages=33), "OutOfRangeQueryParameterValue"),
        (lambda q: q.send_message("x", visibility_timeout=604801), "OutOfRangeQueryParameterValue"),
        (lambda q: q.send_message("x", visibility_timeout=-1), "OutOfRangeQueryParameterValue"),
        (lambda q: q.send_message("x", time_to_live=0), "OutOfRangeQueryParameterValue"),
        (lambda q: q.send_message("x", time_to_live=-2), "OutOfRangeQueryParameterValue"),
        (lambda q: q.send_message("x", visibility_timeout=10, time_to_live=10), "InvalidQueryParameterValue"),
    ],
)
def test_out_of_range_query_values(queue: QueueClient, call, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HttpResponseError) as info:
        call(queue)
    assert info.value.status_code == 400
    assert _code(info.value) == code
    assert queue.get_queue_properties().approximate_message_count == 0


def test_non_integer_query_value(queue: QueueClient) -> None:
    request = HttpRequest("GET", f"{queue.url}/messages?numofmessages=lots")
    response = queue._client.send_request(request)
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "InvalidQueryParameterValue"


@pytest.mark.parametrize(
    "body",
    [
        b"<QueueMessage><MessageText>unclosed</MessageText>",
        b"not xml at all",
        b"<Other><MessageText>x</MessageText></Other>",
        b"<QueueMessage><Text>x</Text></QueueMessage>",
        b"",
    ],
)
def test_malformed_message_body(queue: QueueClient, body: bytes) -> None:
    request = HttpRequest("POST", f"{queue.url}/messages", content=body, headers={"Content-Type": "application/xml"})
    response = queue._client.send_request(request)
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "InvalidXmlDocument"
    assert b"<Code>InvalidXmlDocument</Code>" in response.read()


def test_xml_body_with_entities_and_cdata(queue: QueueClient) -> None:
    body = (
        b"<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage>\n  <MessageText>a &amp; <![CDATA[<b>]]> &#233;\r\n"
        b"</MessageText>\n</QueueMessage>"
    )
    request = HttpRequest("POST", f"{queue.url}/messages", content=body, headers={"Content-Type": "application/xml"})
    response = queue._client.send_request(request)
    assert response.status_code == 201
    [peeked] = queue.peek_messages()
    assert peeked.content == "a & <b> é\n"


def test_missing_pop_receipt(queue: QueueClient) -> None:
    sent = queue.send_message("x")
    response = queue._client.send_request(HttpRequest("DELETE", f"{queue.url}/messages/{sent.id}"))
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "MissingRequiredQueryParameter"
