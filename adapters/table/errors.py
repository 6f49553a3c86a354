"""Table Storage errors: one class per Azure error code, rendered as OData JSON by the gateway."""

from __future__ import annotations

from controlplane.gateway.errors import (
    AuthorizationPermissionMismatch,
    AzureError,
    InvalidQueryParameterValue,
    InvalidUri,
    InvalidXmlDocument,
    RequestBodyTooLarge,
    ResourceNotFound,
    UnsupportedHttpVerb,
)

__all__ = [
    "AuthorizationPermissionMismatch",
    "AuthorizationFailure",
    "AzureError",
    "CommandsInBatchActOnDifferentPartitions",
    "EntityAlreadyExists",
    "EntityTooLarge",
    "InvalidDuplicateRow",
    "InvalidInput",
    "InvalidQueryParameterValue",
    "InvalidResourceName",
    "InvalidUri",
    "InvalidValueType",
    "InvalidXmlDocument",
    "JsonFormatNotSupported",
    "NotImplemented",
    "OutOfRangeInput",
    "PropertiesNeedValue",
    "PropertyNameInvalid",
    "PropertyNameTooLong",
    "PropertyValueTooLarge",
    "RequestBodyTooLarge",
    "ResourceNotFound",
    "TableAlreadyExists",
    "TableNotFound",
    "TooManyProperties",
    "UnsupportedHttpVerb",
    "UpdateConditionNotSatisfied",
]


class TableNotFound(AzureError):
    status = 404
    code = "TableNotFound"
    message = "The table specified does not exist."


class TableAlreadyExists(AzureError):
    status = 409
    code = "TableAlreadyExists"
    message = "The table specified already exists."


class EntityAlreadyExists(AzureError):
    status = 409
    code = "EntityAlreadyExists"
    message = "The specified entity already exists."


class UpdateConditionNotSatisfied(AzureError):
    status = 412
    code = "UpdateConditionNotSatisfied"
    message = "The update condition specified in the request was not satisfied."


class EntityTooLarge(AzureError):
    status = 413
    code = "EntityTooLarge"
    message = "The entity is larger than the maximum allowed size (1MB)."


class InvalidResourceName(AzureError):
    # The SDK recognises exactly this (misspelt) message and re-raises it as a ValueError.
    status = 400
    code = "InvalidResourceName"
    message = "The specifed resource name contains invalid characters."


class OutOfRangeInput(AzureError):
    status = 400
    code = "OutOfRangeInput"
    message = "The specified resource name length is not within the permissible limits."


class InvalidInput(AzureError):
    status = 400
    code = "InvalidInput"
    message = "One of the request inputs is not valid."


class InvalidValueType(AzureError):
    status = 400
    code = "InvalidValueType"
    message = "The value specified is invalid."


class PropertiesNeedValue(AzureError):
    status = 400
    code = "PropertiesNeedValue"
    message = "The values are not specified for all properties in the entity."


class PropertyNameInvalid(AzureError):
    status = 400
    code = "PropertyNameInvalid"
    message = "The property name is invalid."


class PropertyNameTooLong(AzureError):
    status = 400
    code = "PropertyNameTooLong"
    message = "The property name exceeds the maximum allowed length (255)."


class PropertyValueTooLarge(AzureError):
    status = 400
    code = "PropertyValueTooLarge"
    message = "The property value exceeds the maximum allowed size (64KB)."


class TooManyProperties(AzureError):
    status = 400
    code = "TooManyProperties"
    message = "The entity contains more properties than allowed."


class InvalidDuplicateRow(AzureError):
    status = 400
    code = "InvalidDuplicateRow"
    message = (
        "The batch request contains multiple changes with same row key. "
        "An entity can appear only once in a batch request."
    )


class CommandsInBatchActOnDifferentPartitions(AzureError):
    status = 400
    code = "CommandsInBatchActOnDifferentPartitions"
    message = "All commands in a batch must operate on same entity group."


class JsonFormatNotSupported(AzureError):
    status = 415
    code = "JsonFormatNotSupported"
    message = "Payload format is not supported."


class NotImplemented(AzureError):  # noqa: A001 - the Azure error code
    status = 501
    code = "NotImplemented"
    message = "The requested operation is not implemented on the specified resource."


def bad_key(name: str, value: str) -> OutOfRangeInput:
    return OutOfRangeInput(f"The '{name}' parameter of value '{value[:64]}' is out of range.")


def invalid_query(name: str, value: str) -> InvalidQueryParameterValue:
    return InvalidQueryParameterValue(details={"QueryParameterName": name, "QueryParameterValue": value})


class AuthorizationFailure(AzureError):
    status = 403
    code = "AuthorizationFailure"
    message = "This request is not authorized to perform this operation."
