"""Management API errors: one class per status the SDKs tell apart, and their body.

The service answers ``<Error><Code>404</Code><Detail>...</Detail></Error>``; the SDKs
decide the exception from the status alone (Python: 401 ClientAuthenticationError,
404 ResourceNotFoundError, 409 ResourceExistsError; anything else HttpResponseError
with the Detail as its message), so the status is what must be right.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from adapters.servicebus.management.validation import InvalidProperty
from controlplane.gateway.errors import AzureError

ERROR_CONTENT_TYPE = "application/xml; charset=utf-8"
LEARN_MORE = "To know more visit https://aka.ms/sbResourceMgrExceptions."


class ManagementError(AzureError):
    """Base of the management API's errors; ``message`` is the Detail without the tracking suffix."""

    status = 500
    code = "InternalServerError"
    message = f"The service was unable to process the request. {LEARN_MORE}"


class BadRequest(ManagementError):
    status = 400
    code = "BadRequest"
    message = f"SubCode=40000. Bad Request. {LEARN_MORE}"

    @classmethod
    def because(cls, reason: str) -> BadRequest:
        return cls(f"SubCode=40000. {reason} {LEARN_MORE}")

    @classmethod
    def from_invalid(cls, error: InvalidProperty) -> BadRequest:
        return cls.because(f"The value '{error.value}' for the {error.field} property is invalid: {error.reason}.")


class Unauthorized(ManagementError):
    status = 401
    code = "Unauthorized"
    message = "Unauthorized: the request carries no valid authorization."


class MessagingEntityNotFound(ManagementError):
    status = 404
    code = "MessagingEntityNotFound"
    message = f"The messaging entity could not be found. {LEARN_MORE}"

    @classmethod
    def for_entity(cls, tracker: str) -> MessagingEntityNotFound:
        """``tracker`` as the service names entities, e.g. ``ns:Topic:orders|audit``."""
        return cls(f"Entity '{tracker}' was not found. {LEARN_MORE}")


class MessagingEntityAlreadyExists(ManagementError):
    status = 409
    code = "MessagingEntityAlreadyExists"
    message = (
        "SubCode=40900. Conflict. You're requesting an operation that isn't allowed in the resource's "
        f"current state. {LEARN_MORE}"
    )


def render_error(
    status: int,
    detail: str,
    *,
    tracker: str = "NoSystemTracker",
    now: datetime | None = None,
    tracking_id: str | None = None,
) -> bytes:
    """The error body, with the tracking suffix the service appends to every Detail."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    suffix = f" TrackingId:{tracking_id or uuid.uuid4()}, SystemTracker:{tracker}, Timestamp:{stamp}"
    return f"<Error><Code>{status}</Code><Detail>{escape(detail + suffix)}</Detail></Error>".encode()
