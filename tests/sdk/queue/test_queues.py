"""Queue lifecycle, metadata, listing and naming rules through the real azure-storage-queue SDK."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueServiceClient


def _status_recorder() -> tuple[list[int], dict]:
    statuses: list[int] = []
    return statuses, {"raw_response_hook": lambda response: statuses.append(response.http_response.status_code)}


def test_create_returns_201_and_properties(service: QueueServiceClient, queue_name: str) -> None:
    statuses, hook = _status_recorder()
    client = service.get_queue_client(queue_name)
    client.create_queue(metadata={"owner": "tests", "stage": "one"}, **hook)
    try:
        assert statuses == [201]
        props = client.get_queue_properties()
        assert props.name == queue_name
        assert props.metadata == {"owner": "tests", "stage": "one"}
        assert props.approximate_message_count == 0
    finally:
        client.delete_queue()


def test_create_existing_with_same_metadata_is_204(queue: QueueClient) -> None:
    statuses, hook = _status_recorder()
    # Azure answers 204 here; the SDK turns that 204 into ResourceExistsError itself.
    with pytest.raises(ResourceExistsError) as info:
        queue.create_queue(**hook)
    assert statuses == [204]
    assert info.value.error_code == "QueueAlreadyExists"


def test_create_existing_with_other_metadata_is_409(queue: QueueClient) -> None:
    with pytest.raises(ResourceExistsError) as info:
        queue.create_queue(metadata={"different": "yes"})
    assert info.value.status_code == 409
    assert info.value.error_code == "QueueAlreadyExists"
    assert queue.get_queue_properties().metadata == {}


def test_delete_queue_then_everything_is_404(service: QueueServiceClient, queue_name: str) -> None:
    client = service.create_queue(queue_name)
    statuses, hook = _status_recorder()
    client.delete_queue(**hook)
    assert statuses == [204]
    for call in (
        client.delete_queue,
        client.get_queue_properties,
        lambda: client.send_message("x"),
        lambda: list(client.receive_messages()),
        lambda: client.peek_messages(),
        client.clear_messages,
        lambda: client.set_queue_metadata({"a": "b"}),
        client.get_queue_access_policy,
    ):
        with pytest.raises(ResourceNotFoundError) as info:
            call()
        assert info.value.status_code == 404
        assert info.value.error_code == "QueueNotFound"


def test_set_metadata_replaces_it(queue: QueueClient) -> None:
    queue.set_queue_metadata({"first": "1", "second": "two words"})
    assert queue.get_queue_properties().metadata == {"first": "1", "second": "two words"}
    queue.set_queue_metadata({"third": "3"})
    assert queue.get_queue_properties().metadata == {"third": "3"}
    queue.set_queue_metadata({})
    assert queue.get_queue_properties().metadata == {}


def test_approximate_message_count(queue: QueueClient) -> None:
    for i in range(3):
        queue.send_message(f"m{i}")
    list(queue.receive_messages(max_messages=1))
    # Invisible messages still count.
    assert queue.get_queue_properties().approximate_message_count == 3


@pytest.mark.parametrize("key", ["bad-name", "1starts_with_digit", "dot.name"])
def test_metadata_names_must_be_identifiers(service: QueueServiceClient, queue_name: str, key: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        service.create_queue(queue_name, metadata={key: "v"})
    assert info.value.status_code == 400
    assert info.value.error_code == "InvalidMetadata"
    with pytest.raises(ResourceNotFoundError):
        service.get_queue_client(queue_name).get_queue_properties()


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("UpperCase", "InvalidResourceName"),
        ("double--hyphen", "InvalidResourceName"),
        ("-leading", "InvalidResourceName"),
        ("trailing-", "InvalidResourceName"),
        ("under_score", "InvalidResourceName"),
        ("ab", "OutOfRangeInput"),
        ("a" * 64, "OutOfRangeInput"),
    ],
)
def test_bad_queue_names_are_400(service: QueueServiceClient, name: str, code: str) -> None:
    with pytest.raises(HttpResponseError) as info:
        service.create_queue(name)
    assert info.value.status_code == 400
    assert info.value.error_code == code


def test_edge_of_valid_names(service: QueueServiceClient) -> None:
    suffix = uuid.uuid4().hex[:8]
    for name in (f"a{suffix}"[:3], f"{suffix}-{'x' * 54}"[:63], f"0-{suffix}-9"):
        client = service.create_queue(name)
        assert client.get_queue_properties().name == name
        client.delete_queue()


def test_list_queues_prefix_metadata_and_paging(service: QueueServiceClient) -> None:
    prefix = f"list-{uuid.uuid4().hex[:10]}-"
    names = [f"{prefix}{i}" for i in range(5)]
    for i, name in enumerate(names):
        service.create_queue(name, metadata={"index": str(i)})
    try:
        listed = list(service.list_queues(name_starts_with=prefix, include_metadata=True))
        assert [q.name for q in listed] == names
        assert [q.metadata for q in listed] == [{"index": str(i)} for i in range(5)]

        without = list(service.list_queues(name_starts_with=prefix))
        assert [q.name for q in without] == names
        assert all(not q.metadata for q in without)

        pages = service.list_queues(name_starts_with=prefix, results_per_page=2).by_page()
        seen = [[q.name for q in page] for page in pages]
        assert seen == [names[0:2], names[2:4], names[4:5]]

        pager = service.list_queues(name_starts_with=prefix, results_per_page=3).by_page()
        first = [q.name for q in next(pager)]
        token = pager.continuation_token
        assert first == names[:3]
        assert token
        resumed = service.list_queues(name_starts_with=prefix, results_per_page=3).by_page(continuation_token=token)
        assert [q.name for q in next(resumed)] == names[3:]
    finally:
        for name in names:
            service.delete_queue(name)


def test_list_queues_maxresults_out_of_range(service: QueueServiceClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        service._client.service.get_queues(maxresults=5001)
    assert info.value.status_code == 400
    assert info.value.response.headers["x-ms-error-code"] == "OutOfRangeQueryParameterValue"
    with pytest.raises(HttpResponseError) as info:
        service._client.service.get_queues(maxresults=0)
    assert info.value.response.headers["x-ms-error-code"] == "OutOfRangeQueryParameterValue"
