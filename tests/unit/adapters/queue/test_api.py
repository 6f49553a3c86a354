"""The operation table: every request shape resolves to its Azure operation and SAS rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.queue.api import QueueService, check_queue_name, split_path
from adapters.queue.errors import InvalidResourceName, InvalidUri, OutOfRangeInput, UnsupportedHttpVerb
from controlplane.adapter import RequestTarget, ServiceContext
from controlplane.state.memory import MemoryBackend


@pytest.fixture
def service(tmp_path: Path) -> QueueService:
    context = ServiceContext(name="queue", port=0, data_dir=tmp_path, state=MemoryBackend(), accounts=dict)
    return QueueService(context)


def _target(path: str) -> RequestTarget:
    return RequestTarget(service="queue", account="acct", path=path, path_style=True)


@pytest.mark.parametrize(
    ("method", "path", "query", "name", "permission", "resource_type", "resource"),
    [
        ("GET", "/", {"comp": "list"}, "ListQueues", "l", "s", ""),
        ("GET", "/", {"restype": "service", "comp": "properties"}, "GetQueueServiceProperties", "r", "s", ""),
        ("PUT", "/", {"restype": "service", "comp": "properties"}, "SetQueueServiceProperties", "w", "s", ""),
        ("GET", "/", {"restype": "service", "comp": "stats"}, "GetQueueServiceStats", "r", "s", ""),
        ("PUT", "/q1", {}, "CreateQueue", "cw", "c", "q1"),
        ("DELETE", "/q1", {}, "DeleteQueue", "d", "c", "q1"),
        ("GET", "/q1", {"comp": "metadata"}, "GetQueueMetadata", "r", "c", "q1"),
        ("HEAD", "/q1", {"comp": "metadata"}, "GetQueueMetadata", "r", "c", "q1"),
        ("PUT", "/q1", {"comp": "metadata"}, "SetQueueMetadata", "w", "c", "q1"),
        ("GET", "/q1", {"comp": "acl"}, "GetQueueACL", "", "c", "q1"),
        ("PUT", "/q1", {"comp": "acl"}, "SetQueueACL", "", "c", "q1"),
        ("POST", "/q1/messages", {}, "PutMessage", "a", "o", "q1"),
        ("GET", "/q1/messages", {"numofmessages": "3"}, "GetMessages", "p", "o", "q1"),
        ("GET", "/q1/messages", {"peekonly": "true"}, "PeekMessages", "r", "o", "q1"),
        ("GET", "/q1/messages", {"peekonly": "TRUE"}, "PeekMessages", "r", "o", "q1"),
        ("GET", "/q1/messages", {"peekonly": "false"}, "GetMessages", "p", "o", "q1"),
        ("DELETE", "/q1/messages", {}, "ClearMessages", "d", "o", "q1"),
        ("PUT", "/q1/messages/m-1", {"popreceipt": "r"}, "UpdateMessage", "u", "o", "q1"),
        ("DELETE", "/q1/messages/m-1", {"popreceipt": "r"}, "DeleteMessage", "p", "o", "q1"),
        ("DELETE", "/q1/", {}, "DeleteQueue", "d", "c", "q1"),
    ],
)
def test_resolve(
    service: QueueService,
    method: str,
    path: str,
    query: dict[str, str],
    name: str,
    permission: str,
    resource_type: str,
    resource: str,
) -> None:
    operation = service.resolve(method, _target(path), query)
    assert (operation.name, operation.sas_permission, operation.resource_type, operation.resource) == (
        name,
        permission,
        resource_type,
        resource,
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "error"),
    [
        ("POST", "/q1", {}, UnsupportedHttpVerb),
        ("PATCH", "/q1/messages", {}, UnsupportedHttpVerb),
        ("POST", "/q1/messages/id", {}, UnsupportedHttpVerb),
        ("DELETE", "/", {"comp": "list"}, UnsupportedHttpVerb),
        ("GET", "/q1", {}, UnsupportedHttpVerb),
        ("GET", "/q1", {"comp": "bogus"}, InvalidUri),
        ("GET", "/", {}, InvalidUri),
        ("GET", "/q1/other", {}, InvalidUri),
        ("GET", "/q1/messages/id/extra", {}, InvalidUri),
    ],
)
def test_unknown_requests(
    service: QueueService, method: str, path: str, query: dict[str, str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        service.resolve(method, _target(path), query)


def test_split_path() -> None:
    assert split_path("/") == ("service", "", "")
    assert split_path("") == ("service", "", "")
    assert split_path("/q") == ("queue", "q", "")
    assert split_path("/q/messages") == ("messages", "q", "")
    assert split_path("/q/messages/abc") == ("message", "q", "abc")


@pytest.mark.parametrize("name", ["abc", "a-b-c", "0zz", "a" * 63, "q1-2-3"])
def test_valid_queue_names(name: str) -> None:
    check_queue_name(name)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("ab", OutOfRangeInput),
        ("a" * 64, OutOfRangeInput),
        ("Abc", InvalidResourceName),
        ("a--b", InvalidResourceName),
        ("-ab", InvalidResourceName),
        ("ab-", InvalidResourceName),
        ("a_b", InvalidResourceName),
        ("a.b", InvalidResourceName),
    ],
)
def test_invalid_queue_names(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_queue_name(name)


def test_health_counts(service: QueueService) -> None:
    service.store.create("acct", "one", {})
    service.store.put_message(service.store.get("acct", "one"), "x", 0, 60)
    assert service.health() == {"queues": 1, "messages": 1}
