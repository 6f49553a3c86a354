"""Queue Storage errors: one class per Azure error code, rendered by the gateway's error layer."""

from __future__ import annotations

from adapters.storage.xml import InvalidXmlNodeValue
from controlplane.gateway.errors import (
    AuthorizationPermissionMismatch,
    AzureError,
    InvalidQueryParameterValue,
    InvalidUri,
    InvalidXmlDocument,
    RequestBodyTooLarge,
    UnsupportedHttpVerb,
)

__all__ = [
    "AuthorizationPermissionMismatch",
    "InvalidMetadata",
    "InvalidQueryParameterValue",
    "InvalidResourceName",
    "InvalidUri",
    "InvalidXmlDocument",
    "InvalidXmlNodeValue",
    "MessageNotFound",
    "MetadataTooLarge",
    "MissingRequiredQueryParameter",
    "OutOfRangeInput",
    "OutOfRangeQueryParameterValue",
    "PopReceiptMismatch",
    "QueueAlreadyExists",
    "QueueNotFound",
    "RequestBodyTooLarge",
    "UnsupportedHttpVerb",
    "out_of_range",
    "invalid_query_value",
]


class QueueNotFound(AzureError):
    status = 404
    code = "QueueNotFound"
    message = "The specified queue does not exist."


class QueueAlreadyExists(AzureError):
    status = 409
    code = "QueueAlreadyExists"
    message = "The specified queue already exists."


class MessageNotFound(AzureError):
    status = 404
    code = "MessageNotFound"
    message = "The specified message does not exist."


class PopReceiptMismatch(AzureError):
    status = 400
    code = "PopReceiptMismatch"
    message = "The specified pop receipt did not match the pop receipt for a dequeued message."


class InvalidResourceName(AzureError):
    status = 400
    code = "InvalidResourceName"
    message = "The specifed resource name contains invalid characters."


class OutOfRangeInput(AzureError):
    status = 400
    code = "OutOfRangeInput"
    message = "The specified resource name length is not within the permissible limits."


class InvalidMetadata(AzureError):
    status = 400
    code = "InvalidMetadata"
    message = "The metadata specified is invalid. It has characters that are not permitted."


class MetadataTooLarge(AzureError):
    status = 400
    code = "MetadataTooLarge"
    message = "The size of the specified metadata exceeds the maximum size permitted."


class OutOfRangeQueryParameterValue(AzureError):
    status = 400
    code = "OutOfRangeQueryParameterValue"
    message = "One of the query parameters specified in the request URI is outside the permissible range."


class MissingRequiredQueryParameter(AzureError):
    status = 400
    code = "MissingRequiredQueryParameter"
    message = "A query parameter that's mandatory for this request is not specified."


def out_of_range(name: str, value: str, minimum: int, maximum: int) -> OutOfRangeQueryParameterValue:
    return OutOfRangeQueryParameterValue(
        details={
            "QueryParameterName": name,
            "QueryParameterValue": value,
            "MinimumAllowed": str(minimum),
            "MaximumAllowed": str(maximum),
        }
    )


def invalid_query_value(name: str, value: str, reason: str | None = None) -> InvalidQueryParameterValue:
    details = {"QueryParameterName": name, "QueryParameterValue": value}
    if reason:
        details["Reason"] = reason
    return InvalidQueryParameterValue(details=details)


def missing_query(name: str) -> MissingRequiredQueryParameter:
    return MissingRequiredQueryParameter(details={"QueryParameterName": name})


def message_too_large(limit: int) -> RequestBodyTooLarge:
    return RequestBodyTooLarge(details={"MaxLimit": str(limit)})
