"""What goes wrong, as the SDK reports it: bad credentials (wrong key, expired or foreign SAS
tokens) on AMQP and on the management API, missing entities, oversized messages, lost locks
(links/cbs.py, links/application.py, management/sas.py, links/errors.py)."""

from __future__ import annotations

import time

import pytest
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import ClientAuthenticationError
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus._pyamqp.utils import generate_sas_token  # the SDK's own token generator
from azure.servicebus.exceptions import (
    MessageLockLostError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
)
from azure.servicebus.management import ServiceBusAdministrationClient

from tests.sdk.servicebus.support import QueueFactory, receive, unique

KEY_NAME = "RootManageSharedAccessKey"
KEY = "SAS_KEY_VALUE"


def _client(namespace: str, credential: object) -> ServiceBusClient:
    # use_tls=False is what UseDevelopmentEmulator=true sets; retry_total=0 keeps failures quick.
    return ServiceBusClient(namespace, credential, use_tls=False, retry_total=0)  # type: ignore[arg-type]


def _admin(namespace: str, credential: object, ca_file: str) -> ServiceBusAdministrationClient:
    """The administration client takes a key or a SAS token only from a connection string."""
    if isinstance(credential, AzureNamedKeyCredential):
        secret = f"SharedAccessKeyName={credential.named_key.name};SharedAccessKey={credential.named_key.key}"
    else:
        assert isinstance(credential, AzureSasCredential)
        secret = f"SharedAccessSignature={credential.signature}"
    connection_string = f"Endpoint=sb://{namespace};{secret};UseDevelopmentEmulator=true"
    return ServiceBusAdministrationClient.from_connection_string(connection_string, connection_verify=ca_file)


def _token(namespace: str, expiry: float, resource: str = "", key: str = KEY) -> str:
    return generate_sas_token(f"sb://{namespace}/{resource}", KEY_NAME, key, int(expiry))


def test_wrong_key_is_refused_on_amqp(connection_string: str, queue: str) -> None:
    wrong = connection_string.replace(f"SharedAccessKey={KEY}", "SharedAccessKey=not-the-key")
    assert wrong != connection_string
    with (
        ServiceBusClient.from_connection_string(wrong, retry_total=0) as client,
        pytest.raises(ServiceBusAuthenticationError),
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages(ServiceBusMessage("never"))
    with (
        ServiceBusClient.from_connection_string(wrong, retry_total=0) as client,
        pytest.raises(ServiceBusAuthenticationError),
        client.get_queue_receiver(queue) as receiver,
    ):
        receiver.receive_messages(max_wait_time=1)


def test_wrong_key_is_refused_by_the_management_api(connection_string: str, ca_file: str) -> None:
    wrong = connection_string.replace(f"SharedAccessKey={KEY}", "SharedAccessKey=not-the-key")
    with (
        ServiceBusAdministrationClient.from_connection_string(wrong, connection_verify=ca_file) as admin,
        pytest.raises(ClientAuthenticationError),
    ):
        admin.create_queue(unique("never"))


def test_named_key_credential(namespace: str, ca_file: str, queue: str) -> None:
    with _client(namespace, AzureNamedKeyCredential(KEY_NAME, KEY)) as client:
        with client.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage("with a named key"))
        with client.get_queue_receiver(queue) as receiver:
            [message] = receive(receiver, 1)
            assert str(message) == "with a named key"
            receiver.complete_message(message)
    with _admin(namespace, AzureNamedKeyCredential(KEY_NAME, KEY), ca_file) as admin:
        assert admin.get_queue(queue).name == queue
    with (
        _client(namespace, AzureNamedKeyCredential(KEY_NAME, "wrong")) as client,
        pytest.raises(ServiceBusAuthenticationError),
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages(ServiceBusMessage("never"))


def test_sas_token_credential(namespace: str, ca_file: str, queue: str) -> None:
    valid = AzureSasCredential(_token(namespace, time.time() + 3600))
    with _client(namespace, valid) as client, client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage("with a SAS token"))
    with _admin(namespace, valid, ca_file) as admin:
        assert admin.get_queue_runtime_properties(queue).active_message_count == 1


def test_expired_sas_token_is_refused(namespace: str, ca_file: str, queue: str) -> None:
    expired = AzureSasCredential(_token(namespace, time.time() - 60))
    with (
        _client(namespace, expired) as client,
        pytest.raises(ServiceBusAuthenticationError),
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages(ServiceBusMessage("never"))
    with _admin(namespace, expired, ca_file) as admin, pytest.raises(ClientAuthenticationError):
        admin.get_queue(queue)


def test_sas_token_with_a_bad_signature_is_refused(namespace: str, ca_file: str, queue: str) -> None:
    forged = AzureSasCredential(_token(namespace, time.time() + 3600, key="guessed"))
    with (
        _client(namespace, forged) as client,
        pytest.raises(ServiceBusAuthenticationError),
        client.get_queue_sender(queue) as sender,
    ):
        sender.send_messages(ServiceBusMessage("never"))
    with _admin(namespace, forged, ca_file) as admin, pytest.raises(ClientAuthenticationError):
        admin.get_queue(queue)


def test_sas_token_for_another_entity_is_not_enough(namespace: str, new_queue: QueueFactory) -> None:
    mine, theirs = new_queue().name, new_queue().name
    scoped = AzureSasCredential(_token(namespace, time.time() + 3600, resource=mine))
    with _client(namespace, scoped) as client:
        with client.get_queue_sender(mine) as sender:
            sender.send_messages(ServiceBusMessage("allowed"))
        with pytest.raises(ServiceBusAuthorizationError), client.get_queue_sender(theirs) as sender:
            sender.send_messages(ServiceBusMessage("not allowed"))


def test_sending_to_a_missing_entity(connection_string: str) -> None:
    with (
        ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client,
        pytest.raises(MessagingEntityNotFoundError),
        client.get_queue_sender(unique("nowhere")) as sender,
    ):
        sender.send_messages(ServiceBusMessage("lost"))


def test_receiving_from_a_missing_entity(connection_string: str) -> None:
    with (
        ServiceBusClient.from_connection_string(connection_string, retry_total=0) as client,
        pytest.raises(MessagingEntityNotFoundError),
        client.get_queue_receiver(unique("nowhere")) as receiver,
    ):
        receiver.receive_messages(max_wait_time=1)


def test_a_message_over_the_entity_limit_is_refused(client: ServiceBusClient, new_queue: QueueFactory) -> None:
    queue = new_queue(max_message_size_in_kilobytes=1024).name
    with client.get_queue_sender(queue) as sender:
        with pytest.raises(MessageSizeExceededError):
            sender.send_messages(ServiceBusMessage(b"x" * (1024 * 1024 + 1)))
        batch = sender.create_message_batch()
        assert batch.max_size_in_bytes <= 1024 * 1024
        with pytest.raises(MessageSizeExceededError):
            batch.add_message(ServiceBusMessage(b"x" * (1024 * 1024)))
        sender.send_messages(ServiceBusMessage(b"y" * (900 * 1024)))  # under the limit: fine
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        assert len(b"".join(message.body)) == 900 * 1024
        receiver.complete_message(message)


def test_settling_or_renewing_after_the_lock_is_lost(client: ServiceBusClient, queue: str) -> None:
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage("too slow"))
    with client.get_queue_receiver(queue) as receiver:
        [message] = receive(receiver, 1)
        time.sleep(5.5)  # the queue's lock is 5 s
        with pytest.raises(MessageLockLostError):
            receiver.renew_message_lock(message)
        for settle in (receiver.complete_message, receiver.abandon_message, receiver.dead_letter_message):
            with pytest.raises(MessageLockLostError):
                settle(message)
        [again] = receive(receiver, 1)
        assert again.delivery_count == 1
        receiver.complete_message(again)
