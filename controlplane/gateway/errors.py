"""Azure errors and the one place they are rendered.

Handlers raise an :class:`AzureError` (or a subclass from an adapter's ``errors.py``);
the pipeline turns it into the status, ``x-ms-error-code`` header and body the real
service sends: XML for blob and queue, OData JSON for tables, JSON for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import orjson


class AzureError(Exception):
    """An error response as Azure sends it."""

    status: int = 500
    code: str = "InternalError"
    message: str = "The server encountered an internal error. Please retry the request."

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, str] | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})
        self.details = dict(details or {})
        super().__init__(f"{self.status} {self.code}: {self.message}")


def render_error(error: AzureError, fmt: str, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body for an error in the service's format."""
    if fmt == "xml":
        time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in error.details.items())
        body = (
            '<?xml version="1.0" encoding="utf-8"?><Error>'
            f"<Code>{escape(error.code)}</Code>"
            f"<Message>{escape(error.message)}\nRequestId:{request_id}\nTime:{time}</Message>"
            f"{extra}</Error>"
        ).encode()
        content_type = b"application/xml"
    elif fmt == "table-json":
        # Table Storage's OData error, the shape azure-data-tables parses (``odata.error``).
        time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        extra = "".join(f"\n{k}:{v}" for k, v in error.details.items())
        text = f"{error.message}\nRequestId:{request_id}\nTime:{time}{extra}"
        body = orjson.dumps({"odata.error": {"code": error.code, "message": {"lang": "en-US", "value": text}}})
        content_type = b"application/json;odata=minimalmetadata;streaming=true;charset=utf-8"
    else:
        body = orjson.dumps({"error": {"code": error.code, "message": error.message, **error.details}})
        content_type = b"application/json"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-ms-error-code", error.code.encode()),
        (b"x-ms-request-id", request_id.encode()),
    ]
    headers.extend((k.lower().encode(), v.encode()) for k, v in error.headers.items())
    return error.status, headers, body


class AuthenticationFailed(AzureError):
    status = 403
    code = "AuthenticationFailed"
    message = (
        "Server failed to authenticate the request. Make sure the value of Authorization header "
        "is formed correctly including the signature."
    )


class AuthorizationPermissionMismatch(AzureError):
    status = 403
    code = "AuthorizationPermissionMismatch"
    message = "This request is not authorized to perform this operation using this permission."


class AuthorizationResourceTypeMismatch(AzureError):
    status = 403
    code = "AuthorizationResourceTypeMismatch"
    message = "This request is not authorized to perform this operation using this resource type."


class AuthorizationServiceMismatch(AzureError):
    status = 403
    code = "AuthorizationServiceMismatch"
    message = "This request is not authorized to perform this operation using this service."


class AuthorizationSourceIPMismatch(AzureError):
    status = 403
    code = "AuthorizationSourceIPMismatch"
    message = "This request is not authorized to perform this operation using this source IP."


class AuthorizationProtocolMismatch(AzureError):
    status = 403
    code = "AuthorizationProtocolMismatch"
    message = "This request is not authorized to perform this operation using this protocol."


class ResourceNotFound(AzureError):
    status = 404
    code = "ResourceNotFound"
    message = "The specified resource does not exist."


class AccountNotFound(AzureError):
    """An account the emulator does not know: Azure fails the name lookup; we answer 403."""

    status = 403
    code = "AuthenticationFailed"
    message = "The account being accessed does not exist."


class InvalidQueryParameterValue(AzureError):
    status = 400
    code = "InvalidQueryParameterValue"
    message = "Value for one of the query parameters specified in the request URI is invalid."


class InvalidHeaderValue(AzureError):
    status = 400
    code = "InvalidHeaderValue"
    message = "The value for one of the HTTP headers is not in the correct format."


class MissingRequiredHeader(AzureError):
    status = 400
    code = "MissingRequiredHeader"
    message = "An HTTP header that's mandatory for this request is not specified."


class InvalidXmlDocument(AzureError):
    status = 400
    code = "InvalidXmlDocument"
    message = "XML specified is not syntactically valid."


class RequestBodyTooLarge(AzureError):
    status = 413
    code = "RequestBodyTooLarge"
    message = "The request body is too large and exceeds the maximum permissible limit."


class UnsupportedHttpVerb(AzureError):
    status = 405
    code = "UnsupportedHttpVerb"
    message = "The resource doesn't support the specified HTTP verb."


class InvalidUri(AzureError):
    status = 400
    code = "InvalidUri"
    message = "The requested URI does not represent any resource on the server."


class ServerBusy(AzureError):
    status = 503
    code = "ServerBusy"
    message = "The server is currently unable to receive requests. Please retry your request."


class InternalError(AzureError):
    pass
