"""Ten thousand malformed or hostile requests across the ports: no 5xx, no dead process,
every storage error in Azure's XML shape."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.storage.queue import AccountSasPermissions, QueueServiceClient, ResourceTypes, generate_account_sas

from controlplane.gateway import protocol
from controlplane.testing.server import LocalZureThread
from tests.support import WELL_KNOWN_KEY

REQUESTS = 10_000
CONCURRENCY = 32
_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalZureThread]:
    server = LocalZureThread(tmp_path_factory.mktemp("fuzz"), persistence="memory")
    server.start()
    QueueServiceClient.from_connection_string(server.connection_string("queue")).create_queue("fuzzed")
    yield server
    server.stop()


def sas() -> str:
    return generate_account_sas(
        "devstoreaccount1",
        WELL_KNOWN_KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(
            read=True, write=True, delete=True, list=True, add=True, create=True, update=True, process=True
        ),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


class Generator:
    """Builds one hostile request at a time from a seeded random source."""

    def __init__(self, seed: int, token: str) -> None:
        self.rnd = random.Random(seed)
        self.token = token

    def junk(self, low: int = 1, high: int = 64) -> bytes:
        return bytes(self.rnd.getrandbits(8) for _ in range(self.rnd.randint(low, high)))

    def path(self) -> str:
        return self.rnd.choice(
            [
                "/devstoreaccount1/fuzzed/messages",
                "/devstoreaccount1/fuzzed/messages/"
                + self.rnd.choice(["x", "00000000-0000-0000-0000-000000000000", "%00"]),
                "/devstoreaccount1/fuzzed",
                "/devstoreaccount1/",
                "/devstoreaccount1/../../etc/passwd",
                "/devstoreaccount1/%2e%2e/%2e%2e/etc/shadow",
                "/devstoreaccount1/" + "a" * self.rnd.randint(1, 3000),
                "/nosuchaccount/q",
                "/devstoreaccount1/UPPER-case--name",
                "//devstoreaccount1//fuzzed//messages",
                "/devstoreaccount1/fuzzed/messages/%ff%fe",
            ]
        )

    def query(self) -> str:
        options = [
            "numofmessages=" + self.rnd.choice(["0", "33", "-1", "abc", "1e9", ""]),
            "visibilitytimeout=" + self.rnd.choice(["-5", "604801", "x", "1"]),
            "messagettl=" + self.rnd.choice(["-2", "0", "99999999999", "nan"]),
            "popreceipt=" + self.rnd.choice(["", "bad", "%00"]),
            "comp=" + self.rnd.choice(["list", "metadata", "acl", "bogus", "properties"]),
            "restype=" + self.rnd.choice(["service", "container", "x"]),
            "maxresults=" + self.rnd.choice(["0", "5001", "-1", "z"]),
            "peekonly=" + self.rnd.choice(["true", "maybe"]),
        ]
        parts = self.rnd.sample(options, self.rnd.randint(0, 3))
        if self.rnd.random() < 0.7:
            parts.append(self.token)
        return "&".join(parts)

    def body(self) -> bytes:
        return self.rnd.choice(
            [
                b"",
                b"<QueueMessage><MessageText>ok</MessageText></QueueMessage>",
                b"<QueueMessage><MessageText>" + b"x" * 70_000 + b"</MessageText></QueueMessage>",
                b"<QueueMessage><MessageText>",
                b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]>"
                b"<QueueMessage><MessageText>&a;</MessageText></QueueMessage>",
                b"<SignedIdentifiers>"
                + b"<SignedIdentifier><Id>i</Id></SignedIdentifier>" * 7
                + b"</SignedIdentifiers>",
                self.junk(1, 2000),
            ]
        )

    def request(self, host: str) -> tuple[bytes, bool]:
        """The raw bytes, and whether the server must answer (False for cut-off requests)."""
        kind = self.rnd.randrange(10)
        method = self.rnd.choice(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS", "MERGE"])
        if kind == 0:
            return self.junk(1, 300) + b"\r\n\r\n", True
        if kind == 1:
            line = self.rnd.choice(
                [b"GET\r\n", b"GET / HTTP/9.9\r\n", b"G\x00T / HTTP/1.1\r\n", b"GET /\x7f HTTP/1.1\r\n"]
            )
            return line + f"Host: {host}\r\n\r\n".encode(), True
        body = self.body()
        headers = [f"Host: {host}", "Connection: close", "x-ms-version: 2021-02-12"]
        if kind == 2:
            headers.append(
                self.rnd.choice(
                    [
                        "Content-Length: -1",
                        "Content-Length: abc",
                        "Content-Length: 1, 2",
                        "Transfer-Encoding: chunked\r\nContent-Length: 3",
                        "NoColonHeader",
                        "x-ms-meta-\x01: v",
                        "Authorization: SharedKey devstoreaccount1:%%%",
                    ]
                )
            )
        if kind == 3:
            headers.append("x-ms-meta-huge: " + "h" * self.rnd.choice([70_000, 300_000, 1_200_000]))
        if kind == 4:  # truncated body: announced longer than sent, then the client goes away
            head = f"PUT {self.path()}?{self.query()} HTTP/1.1\r\n" + "\r\n".join(headers)
            return (head + f"\r\nContent-Length: {len(body) + 500}\r\n\r\n").encode() + body, False
        if kind == 5:
            headers.append("Authorization: SharedKey devstoreaccount1:" + self.rnd.choice(["", "abc", "=" * 40]))
        target = f"{self.path()}?{self.query()}"
        if kind not in (2,):
            headers.append(f"Content-Length: {len(body)}")
        return (f"{method} {target} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode() + body, True


async def send(port: int, raw: bytes, expect_answer: bool) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        if not expect_answer:
            return b""
        return await asyncio.wait_for(reader.read(-1), 20)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


def check(response: bytes, problems: Counter[str], statuses: Counter[int]) -> None:
    match = _STATUS.match(response)
    if match is None:
        return  # the server closed without answering (cut-off request): allowed
    status = int(match[1])
    statuses[status] += 1
    head, _, body = response.partition(b"\r\n\r\n")
    if status >= 500:
        problems[f"{status}: {body[:200]!r}"] += 1
    elif status >= 400 and b"x-ms-error-code" not in head.lower():
        problems[f"no x-ms-error-code: {head[:200]!r}"] += 1
    # HEAD answers carry no body; every other error is Azure's XML.
    elif status >= 400 and body and not body.startswith(b'<?xml version="1.0" encoding="utf-8"?><Error><Code>'):
        problems[f"not Azure's error shape: {head[:200]!r} {body[:120]!r}"] += 1


def test_hostile_requests_never_break_the_server(target: LocalZureThread) -> None:
    generator = Generator(seed=20261126, token=sas())
    ports = [
        (target.port("queue"), f"127.0.0.1:{target.port('queue')}"),
        (target.edge_port, "devstoreaccount1.queue.core.windows.net"),
    ]
    problems: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    async def run() -> None:
        queue: asyncio.Queue[tuple[int, bytes, bool]] = asyncio.Queue()
        for i in range(REQUESTS):
            port, host = ports[i % 2]
            raw, answer = generator.request(host)
            queue.put_nowait((port, raw, answer))

        async def worker() -> None:
            while not queue.empty():
                port, raw, answer = queue.get_nowait()
                check(await send(port, raw, answer), problems, statuses)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    asyncio.run(run())
    assert not problems, problems.most_common(10)
    assert sum(statuses.values()) > REQUESTS * 0.8  # most requests got an answer
    assert set(statuses) & {400, 403, 404, 413, 431}
    # Still alive and serving.
    health = httpx.get(f"http://127.0.0.1:{target.edge_port}/health").json()
    assert health["status"] == "healthy"
    client = QueueServiceClient.from_connection_string(target.connection_string("queue"))
    assert "fuzzed" in [q.name for q in client.list_queues()]


def test_slow_clients_are_dropped_without_blocking_others(
    target: LocalZureThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protocol, "HEADER_TIMEOUT", 0.5)

    async def run() -> tuple[bytes, bytes]:
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", target.port("queue"))
        slow_writer.write(b"GET /devstoreaccount1?comp=list HTTP/1.1\r\nHost: x\r\n")  # never finishes
        await slow_writer.drain()
        fast = await send(
            target.port("queue"),
            b"GET /devstoreaccount1?comp=list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            True,
        )
        dropped = await asyncio.wait_for(slow_reader.read(-1), 10)
        slow_writer.close()
        return fast, dropped

    fast, dropped = asyncio.run(run())
    assert fast.startswith(b"HTTP/1.1 403")
    assert dropped == b""
