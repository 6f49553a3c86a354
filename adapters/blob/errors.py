"""Blob Storage errors: one class per Azure error code, rendered by the gateway's error layer."""

from __future__ import annotations

from controlplane.gateway.errors import (
    AuthorizationPermissionMismatch,
    AzureError,
    InvalidHeaderValue,
    InvalidQueryParameterValue,
    InvalidUri,
    InvalidXmlDocument,
    MissingRequiredHeader,
    RequestBodyTooLarge,
    ResourceNotFound,
    UnsupportedHttpVerb,
)

__all__ = [
    "AuthorizationPermissionMismatch",
    "AzureError",
    "InvalidHeaderValue",
    "InvalidQueryParameterValue",
    "InvalidUri",
    "InvalidXmlDocument",
    "MissingRequiredHeader",
    "RequestBodyTooLarge",
    "ResourceNotFound",
    "UnsupportedHttpVerb",
]


# -- containers -------------------------------------------------------------------------------
class ContainerNotFound(AzureError):
    status = 404
    code = "ContainerNotFound"
    message = "The specified container does not exist."


class ContainerAlreadyExists(AzureError):
    status = 409
    code = "ContainerAlreadyExists"
    message = "The specified container already exists."


class InvalidResourceName(AzureError):
    status = 400
    code = "InvalidResourceName"
    message = "The specifed resource name contains invalid characters."


class OutOfRangeInput(AzureError):
    status = 400
    code = "OutOfRangeInput"
    message = "One of the request inputs is out of range."


# -- blobs ------------------------------------------------------------------------------------
class BlobNotFound(AzureError):
    status = 404
    code = "BlobNotFound"
    message = "The specified blob does not exist."


class BlobAlreadyExists(AzureError):
    status = 409
    code = "BlobAlreadyExists"
    message = "The specified blob already exists."


class InvalidBlobType(AzureError):
    status = 409
    code = "InvalidBlobType"
    message = "The blob type is invalid for this operation."


class InvalidBlobOrBlock(AzureError):
    status = 400
    code = "InvalidBlobOrBlock"
    message = "The specified blob or block content is invalid."


class InvalidBlockId(AzureError):
    status = 400
    code = "InvalidBlockId"
    message = "The specified block ID is invalid. The block ID must be Base64-encoded."


class InvalidBlockList(AzureError):
    status = 400
    code = "InvalidBlockList"
    message = "The specified block list is invalid."


class BlockCountExceedsLimit(AzureError):
    status = 409
    code = "BlockCountExceedsLimit"
    message = "The committed block count cannot exceed the maximum limit of 50,000 blocks."


class Md5Mismatch(AzureError):
    status = 400
    code = "Md5Mismatch"
    message = "The MD5 value specified in the request did not match with the MD5 value calculated by the server."


class Crc64Mismatch(AzureError):
    status = 400
    code = "Crc64Mismatch"
    message = "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server."


class InvalidRange(AzureError):
    status = 416
    code = "InvalidRange"
    message = "The range specified is invalid for the current size of the resource."


class InvalidPageRange(AzureError):
    status = 416
    code = "InvalidPageRange"
    message = "The page range specified is invalid."


class ConditionNotMet(AzureError):
    status = 412
    code = "ConditionNotMet"
    message = "The condition specified using HTTP conditional header(s) is not met."


class SourceConditionNotMet(AzureError):
    status = 412
    code = "SourceConditionNotMet"
    message = "The source condition specified using HTTP conditional header(s) is not met."


class InvalidMetadata(AzureError):
    status = 400
    code = "InvalidMetadata"
    message = "The metadata specified is invalid. It has characters that are not permitted."


class MetadataTooLarge(AzureError):
    status = 400
    code = "MetadataTooLarge"
    message = "The size of the specified metadata exceeds the maximum size permitted."


class InvalidBlobTier(AzureError):
    status = 400
    code = "InvalidBlobTier"
    message = "The specified blob tier is invalid."


class InvalidOperation(AzureError):
    status = 400
    code = "InvalidOperation"
    message = "Invalid operation against a blob snapshot."


class CannotVerifyCopySource(AzureError):
    status = 404
    code = "CannotVerifyCopySource"
    message = "The specified blob does not exist."


class NoPendingCopyOperation(AzureError):
    status = 409
    code = "NoPendingCopyOperation"
    message = "There is currently no pending copy operation."


class CopyIdMismatch(AzureError):
    status = 409
    code = "CopyIdMismatch"
    message = "The specified copy ID did not match the copy ID for the pending copy operation."


class SnapshotsPresent(AzureError):
    status = 409
    code = "SnapshotsPresent"
    message = "This operation is not permitted because the blob has snapshots."


class InvalidTagValue(AzureError):
    status = 400
    code = "InvalidTag"
    message = "The tags specified are invalid. It contains characters that are not permitted."


# -- append and page blobs --------------------------------------------------------------------
class AppendPositionConditionNotMet(AzureError):
    status = 412
    code = "AppendPositionConditionNotMet"
    message = "The append position condition specified was not met."


class MaxBlobSizeConditionNotMet(AzureError):
    status = 412
    code = "MaxBlobSizeConditionNotMet"
    message = "The max blob size condition specified was not met."


class SequenceNumberConditionNotMet(AzureError):
    status = 412
    code = "SequenceNumberConditionNotMet"
    message = "The sequence number condition specified was not met."


# -- leases -----------------------------------------------------------------------------------
class LeaseIdMissing(AzureError):
    status = 412
    code = "LeaseIdMissing"
    message = "There is currently a lease on the blob and no lease ID was specified in the request."


class LeaseIdMismatchWithBlobOperation(AzureError):
    status = 412
    code = "LeaseIdMismatchWithBlobOperation"
    message = "The lease ID specified did not match the lease ID for the blob."


class LeaseIdMismatchWithContainerOperation(AzureError):
    status = 412
    code = "LeaseIdMismatchWithContainerOperation"
    message = "The lease ID specified did not match the lease ID for the container."


class LeaseNotPresentWithBlobOperation(AzureError):
    status = 412
    code = "LeaseNotPresentWithBlobOperation"
    message = "There is currently no lease on the blob."


class LeaseNotPresentWithContainerOperation(AzureError):
    status = 412
    code = "LeaseNotPresentWithContainerOperation"
    message = "There is currently no lease on the container."


class LeaseNotPresentWithLeaseOperation(AzureError):
    status = 409
    code = "LeaseNotPresentWithLeaseOperation"
    message = "There is currently no lease on the resource."


class LeaseIdMismatchWithLeaseOperation(AzureError):
    status = 409
    code = "LeaseIdMismatchWithLeaseOperation"
    message = "The lease ID specified did not match the lease ID for the resource."


class LeaseAlreadyPresent(AzureError):
    status = 409
    code = "LeaseAlreadyPresent"
    message = "There is already a lease present."


class LeaseAlreadyBroken(AzureError):
    status = 409
    code = "LeaseAlreadyBroken"
    message = "The lease has already been broken and cannot be broken again."


class LeaseIsBrokenAndCannotBeRenewed(AzureError):
    status = 409
    code = "LeaseIsBrokenAndCannotBeRenewed"
    message = "The lease ID matched, but the lease has been broken explicitly and cannot be renewed."


class LeaseIsBreakingAndCannotBeAcquired(AzureError):
    status = 409
    code = "LeaseIsBreakingAndCannotBeAcquired"
    message = (
        "The lease ID matched, but the lease is currently in breaking state and cannot be acquired until it is broken."
    )


class LeaseIsBreakingAndCannotBeChanged(AzureError):
    status = 409
    code = "LeaseIsBreakingAndCannotBeChanged"
    message = "The lease ID matched, but the lease is currently in breaking state and cannot be changed."


class LeaseLost(AzureError):
    status = 412
    code = "LeaseLost"
    message = "A lease ID was specified, but the lease for the blob has expired."


def invalid_header(name: str, value: str) -> InvalidHeaderValue:
    return InvalidHeaderValue(details={"HeaderName": name, "HeaderValue": value})


def invalid_query(name: str, value: str) -> InvalidQueryParameterValue:
    return InvalidQueryParameterValue(details={"QueryParameterName": name, "QueryParameterValue": value})


def missing_header(name: str) -> MissingRequiredHeader:
    return MissingRequiredHeader(details={"HeaderName": name})
