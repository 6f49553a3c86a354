import asyncio
import io
import json
import logging
import re
import threading
from datetime import UTC, datetime

import pytest

from controlplane import logs
from controlplane.logs import (
    LogRing,
    correlation_id,
    log_ring,
    new_correlation_id,
    redact,
    service_name,
    set_levels,
    setup_logging,
)

WELL_KNOWN_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SECRET_SIG = "Zm9vYmFyc2lnbmF0dXJl%2Bx%3D"
BEARER_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
SHARED_KEY_SIG = "pZl0OaYwV3Tgt7Nlu8fQlXG9lI8pGvOqz+S5yBcLcXg="


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    token_cid, token_service = correlation_id.set(None), service_name.set(None)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    set_levels(logging.getLevelName(level) if level else "WARNING", {})
    log_ring().clear()
    correlation_id.reset(token_cid)
    service_name.reset(token_service)


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_line_fields():
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)
    logging.getLogger("controlplane.runners.docker").info("started %s", "queue", extra={"container": "lz-queue"})
    [line] = json_lines(stream)
    assert list(line)[:6] == ["timestamp", "level", "logger", "message", "correlation_id", "service"]
    assert line["level"] == "INFO"
    assert line["logger"] == "controlplane.runners.docker"
    assert line["message"] == "started queue"
    assert line["correlation_id"] is None
    assert line["service"] is None
    assert line["container"] == "lz-queue"
    stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_correlation_id_and_service_come_from_contextvars():
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)
    cid = new_correlation_id()
    correlation_id.set(cid)
    service_name.set("queue")
    log = logging.getLogger("controlplane.gateway")
    log.info("forwarded")
    log.info("explicit", extra={"service": "blob"})
    first, second = json_lines(stream)
    assert first["correlation_id"] == cid
    assert first["service"] == "queue"
    assert second["service"] == "blob"  # an explicit extra wins


def test_new_correlation_id_is_a_fresh_uuid():
    first, second = new_correlation_id(), new_correlation_id()
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", first)


# (text with a secret, the secret, what must remain visible)
SECRETS = [
    pytest.param(
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={WELL_KNOWN_KEY};"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        WELL_KNOWN_KEY,
        "AccountName=devstoreaccount1;AccountKey=***;BlobEndpoint=",
        id="storage-connection-string",
    ),
    pytest.param(
        "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
        "UseDevelopmentEmulator=true;",
        "SAS_KEY_VALUE",
        "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=***;UseDevelopmentEmulator=true",
        id="servicebus-connection-string",
    ),
    pytest.param(
        f"GET http://127.0.0.1:10001/devstoreaccount1/q1?sv=2021-08-06&sp=r&sig={SECRET_SIG}&se=2030-01-01",
        SECRET_SIG,
        "sp=r&sig=***&se=2030-01-01",
        id="sas-sig",
    ),
    pytest.param(
        f"Authorization: SharedKey devstoreaccount1:{SHARED_KEY_SIG}",
        SHARED_KEY_SIG,
        "Authorization: SharedKey devstoreaccount1:***",
        id="authorization-sharedkey",
    ),
    pytest.param(
        f"headers={{'Authorization': 'Bearer {BEARER_TOKEN}', 'x-ms-version': '2021-08-06'}}",
        BEARER_TOKEN,
        "'Authorization': 'Bearer ***', 'x-ms-version': '2021-08-06'",
        id="authorization-bearer",
    ),
    pytest.param(
        "Authorization: type%3Dmaster%26ver%3D1.0%26sig%3DcosmosSignature123 x-ms-date: today",
        "cosmosSignature123",
        "Authorization: *** x-ms-date: today",
        id="authorization-cosmos",
    ),
    pytest.param(
        "'Authorization': 'SharedAccessSignature sr=sb%3A%2F%2Flocalhost&sig=abc&se=1&skn=Root'",
        "sr=sb",
        "'Authorization': 'SharedAccessSignature ***'",
        id="authorization-servicebus-sas",
    ),
    pytest.param(
        f"key rotated to {WELL_KNOWN_KEY} at noon",
        WELL_KNOWN_KEY,
        "key rotated to *** at noon",
        id="bare-base64-key",
    ),
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_redact(text, secret, kept):
    result = redact(text)
    assert secret not in result
    assert kept in result


def test_redact_masks_a_key_after_any_name():
    assert redact(f"key={WELL_KNOWN_KEY};") == "key=***;"


def test_redact_leaves_ordinary_text_alone():
    digest = "a" * 32 + "0123456789abcdef" * 2
    text = f"PUT /devstoreaccount1/queue1/messages 201 etag={digest} sha256 {digest.upper()} signature=ok"
    assert redact(text) == text


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_secrets_are_masked_in_message_args_extras_and_exceptions(text, secret, kept):
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)
    log = logging.getLogger("controlplane.test")
    log.info(text)
    log.info("request: %s", text)
    log.info("with extra", extra={"detail": text})
    try:
        raise ValueError(text)
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert secret not in output
    message, args, extra, failure = json_lines(stream)
    assert kept in message["message"]
    assert kept in args["message"]
    assert kept in extra["detail"]
    assert kept in failure["exc_info"]


def test_secrets_are_masked_in_text_format_and_in_the_ring():
    stream = io.StringIO()
    setup_logging("INFO", fmt="text", stream=stream)
    try:
        raise RuntimeError(f"AccountKey={WELL_KNOWN_KEY}")
    except RuntimeError:
        logging.getLogger("controlplane.test").exception("bad %s", f"sig={SECRET_SIG}")
    assert WELL_KNOWN_KEY not in stream.getvalue()
    assert SECRET_SIG not in stream.getvalue()
    assert "AccountKey=***" in stream.getvalue()
    [entry] = log_ring().tail(None, 10)
    assert WELL_KNOWN_KEY not in json.dumps(entry)
    assert entry["message"] == "bad sig=***"


def test_text_format():
    stream = io.StringIO()
    setup_logging("INFO", fmt="text", stream=stream)
    log = logging.getLogger("controlplane.gateway")
    log.info("plain")
    service_name.set("queue")
    correlation_id.set("cid-1")
    log.warning("routed %d", 3)
    plain, routed = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO\s+controlplane\.gateway plain", plain)
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING\s+controlplane\.gateway \[queue\] routed 3 \(cid=cid-1\)", routed)


def test_per_logger_levels_and_quiet_uvicorn_access():
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, levels={"noisy": "error", "chatty": "DEBUG"})
    logging.getLogger("noisy.child").warning("dropped: noisy is at ERROR")
    logging.getLogger("chatty").debug("kept: chatty is at DEBUG")
    logging.getLogger("other").debug("dropped: root is at INFO")
    logging.getLogger("other").info("kept: root is at INFO")
    logging.getLogger("uvicorn.access").info("dropped: uvicorn.access is at WARNING")
    messages = [line["message"] for line in json_lines(stream)]
    assert messages == ["kept: chatty is at DEBUG", "kept: root is at INFO"]


def test_levels_can_turn_uvicorn_access_back_on(monkeypatch):
    # uvicorn detaches its access logger when a server runs with access_log=False.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, levels={"uvicorn.access": "INFO"})
    logging.getLogger("uvicorn.access").info("GET / 200")
    assert [line["message"] for line in json_lines(stream)] == ["GET / 200"]


def test_set_levels_changes_levels_live():
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, levels={"noisy": "ERROR"})
    set_levels("WARNING", {"chatty": "DEBUG"})
    logging.getLogger("noisy").warning("kept: noisy went back to inheriting WARNING")
    logging.getLogger("other").info("dropped: root is at WARNING")
    logging.getLogger("chatty").debug("kept: chatty is at DEBUG")
    messages = [line["message"] for line in json_lines(stream)]
    assert messages == ["kept: noisy went back to inheriting WARNING", "kept: chatty is at DEBUG"]


def test_setup_is_idempotent():
    first, second = io.StringIO(), io.StringIO()
    setup_logging("INFO", stream=first)
    setup_logging("INFO", stream=second)
    logging.getLogger("controlplane.test").info("once")
    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1
    assert len(log_ring().tail(None, 10)) == 1


def test_rotating_file(tmp_path):
    log_file = tmp_path / "logs" / "localzure.log"
    setup_logging("INFO", fmt="text", stream=io.StringIO(), log_file=log_file, max_bytes=300, backups=2)
    log = logging.getLogger("controlplane.test")
    for number in range(40):
        log.info("line %d AccountKey=%s", number, WELL_KNOWN_KEY)
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert log_file.exists()
    assert (tmp_path / "logs" / "localzure.log.1").exists()
    assert (tmp_path / "logs" / "localzure.log.2").exists()
    assert not (tmp_path / "logs" / "localzure.log.3").exists()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]  # JSON even with fmt="text"
    assert lines[-1]["message"] == "line 39 AccountKey=***"
    assert all(path.stat().st_size <= 300 for path in (tmp_path / "logs").iterdir())


def ring_logger(ring: LogRing) -> logging.Logger:
    log = logging.getLogger(f"test.ring.{id(ring)}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.handlers = [ring]
    return log


def test_log_ring_tail_per_service():
    ring = LogRing(capacity=3)
    log = ring_logger(ring)
    for number in range(5):
        log.info("queue %d", number, extra={"service": "queue"})
    log.info("blob 0", extra={"service": "blob"})
    log.info("core 0")
    assert [e["message"] for e in ring.tail("queue", 10)] == ["queue 2", "queue 3", "queue 4"]
    assert [e["message"] for e in ring.tail("queue", 2)] == ["queue 3", "queue 4"]
    assert [e["message"] for e in ring.tail("blob", 10)] == ["blob 0"]
    assert [e["message"] for e in ring.tail(logs.CONTROL_PLANE, 10)] == ["core 0"]
    assert ring.tail("table", 10) == []
    assert ring.tail("queue", 0) == []
    assert [e["message"] for e in ring.tail(None, 3)] == ["queue 4", "blob 0", "core 0"]
    assert ring.services() == ["blob", "controlplane", "queue"]
    assert ring.tail("blob", 1)[0]["level"] == "INFO"


def test_setup_logging_installs_the_global_ring():
    setup_logging("INFO", stream=io.StringIO())
    service_name.set("queue")
    logging.getLogger("adapters.queue").info("hello")
    [entry] = log_ring().tail("queue", 10)
    assert entry["message"] == "hello"
    assert entry["logger"] == "adapters.queue"


async def test_log_ring_subscription_from_another_thread():
    ring = LogRing()
    log = ring_logger(ring)
    queue = ring.subscribe("queue")
    everything = ring.subscribe()

    def from_thread():
        log.info("for blob", extra={"service": "blob"})
        log.info("for queue", extra={"service": "queue"})

    thread = threading.Thread(target=from_thread)
    thread.start()
    thread.join()
    entry = await asyncio.wait_for(queue.get(), 2)
    assert entry["message"] == "for queue"
    assert queue.empty()
    assert [(await asyncio.wait_for(everything.get(), 2))["message"] for _ in range(2)] == [
        "for blob",
        "for queue",
    ]

    ring.unsubscribe(queue)
    log.info("after", extra={"service": "queue"})
    await asyncio.sleep(0.05)
    assert queue.empty()
    assert (await asyncio.wait_for(everything.get(), 2))["message"] == "after"


async def test_log_ring_follow():
    ring = LogRing()
    log = ring_logger(ring)
    stream = ring.follow("queue")
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)  # the generator subscribes on its first step
    log.info("new line", extra={"service": "queue"})
    assert (await asyncio.wait_for(first, 2))["message"] == "new line"
    await stream.aclose()
    assert ring._subscribers == []


async def test_slow_subscriber_loses_lines_instead_of_growing():
    ring = LogRing()
    log = ring_logger(ring)
    queue = ring.subscribe("queue", maxsize=2)
    for number in range(5):
        log.info("line %d", number, extra={"service": "queue"})
    await asyncio.sleep(0.05)
    assert queue.qsize() == 2
    assert len(ring.tail("queue", 10)) == 5
