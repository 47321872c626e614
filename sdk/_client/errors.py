"""The SDK's exceptions, and the one place where gRPC errors become them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request, e.g. ``state.type``."""

    field: str
    description: str


@dataclass(frozen=True)
class PreconditionViolation:
    """One failed precondition, e.g. a state or lease conflict."""

    type: str
    subject: str
    description: str


class RunplaneError(Exception):
    """Base of every error the runplane API reports.

    ``code`` is the gRPC status code, ``reason`` the server's UPPER_SNAKE reason when it
    sent one, and ``metadata`` the facts that came with the reason.
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(RunplaneError):
    """The request was malformed; ``field`` names the first invalid field when known."""

    violations: tuple[FieldViolation, ...] = ()

    @property
    def field(self) -> str | None:
        return self.violations[0].field if self.violations else None


class NotFound(RunplaneError):
    """The named resource does not exist."""


class AlreadyExists(RunplaneError):
    """A resource with that name or id exists already."""


class FailedPrecondition(RunplaneError):
    """The resource is not in a state that allows the call, e.g. a stale lease."""

    violations: tuple[PreconditionViolation, ...] = ()


class Aborted(RunplaneError):
    """The call lost a race with another change; reading again and retrying may succeed."""


class Unauthenticated(RunplaneError):
    """The API key is missing or wrong."""


class PermissionDenied(RunplaneError):
    """The API key may not do this."""


class Unavailable(RunplaneError):
    """The server cannot be reached or is shutting down; ``retry_delay`` is its advice."""

    retry_delay: timedelta | None = None


class DeadlineExceeded(RunplaneError):
    """The call did not finish within its deadline."""


class MessageTooLarge(RunplaneError):
    """A request or response over a message size limit; the message says which limit.

    ``size`` and ``limit`` are in bytes. gRPC checks the limit on the side that sends or
    receives, so the call may have failed without reaching the server at all.
    """

    size: int = 0
    limit: int = 0


class ServerError(RunplaneError):
    """The server failed (INTERNAL, UNKNOWN or an unexpected status); this is a bug."""


_BY_CODE: dict[grpc.StatusCode, type[RunplaneError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def _rich_status(call: Any) -> status_pb2.Status | None:
    try:
        status: status_pb2.Status | None = rpc_status.from_call(call)
    except ValueError:
        # The details disagree with the call's code or message; trust the call.
        return None
    return status


def _unpack(status: status_pb2.Status | None) -> list[Any]:
    if status is None:
        return []
    kinds = (
        error_details_pb2.ErrorInfo,
        error_details_pb2.BadRequest,
        error_details_pb2.PreconditionFailure,
        error_details_pb2.RetryInfo,
    )
    unpacked: list[Any] = []
    for detail in status.details:
        for kind in kinds:
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                unpacked.append(message)
    return unpacked


# gRPC's own text for a message over a limit, e.g. "CLIENT: Sent message larger than max
# (20971603 vs. 16777216)": which side, which direction, the size and the limit.
_OVER_LIMIT = re.compile(
    r"(?P<side>CLIENT|SERVER): (?P<direction>Sent|Received) message larger than max "
    r"\((?P<size>\d+) vs\. (?P<limit>\d+)\)"
)
_LIMITS = {
    ("CLIENT", "Sent"): (
        "the request is {size} bytes, over this client's send limit of {limit} bytes; "
        "pass large values by reference instead: a path, or a result kept in result storage "
        "(persist_result=True)"
    ),
    ("SERVER", "Received"): (
        "the request is {size} bytes, over the server's receive limit of {limit} bytes "
        "(RUNPLANE_SERVER_MAX_MESSAGE_BYTES on the server); pass large values by reference "
        "instead: a path, or a result kept in result storage (persist_result=True)"
    ),
    ("CLIENT", "Received"): (
        "the response is {size} bytes, over this client's receive limit of {limit} bytes; "
        "ask for less at a time (a smaller limit or page)"
    ),
    ("SERVER", "Sent"): (
        "the response is {size} bytes, over the server's send limit of {limit} bytes "
        "(RUNPLANE_SERVER_MAX_MESSAGE_BYTES on the server); ask for less at a time"
    ),
}


def _message_too_large(code: grpc.StatusCode, message: str) -> MessageTooLarge | None:
    """The error for a message over a limit, None for any other failure."""
    found = _OVER_LIMIT.search(message) if code is grpc.StatusCode.RESOURCE_EXHAUSTED else None
    if found is None:
        return None
    size, limit = int(found["size"]), int(found["limit"])
    text = _LIMITS[found["side"], found["direction"]].format(size=f"{size:,}", limit=f"{limit:,}")
    error = MessageTooLarge(text, code=code)
    error.size, error.limit = size, limit
    return error


def error_from_rpc(err: grpc.RpcError) -> RunplaneError:
    """The SDK exception for a failed call (``grpc.RpcError`` or ``grpc.aio.AioRpcError``)."""
    code: grpc.StatusCode = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message: str = (err.details() if hasattr(err, "details") else None) or str(code.name)
    too_large = _message_too_large(code, message)
    if too_large is not None:
        return too_large
    details = _unpack(_rich_status(err) if hasattr(err, "trailing_metadata") else None)
    info = next((d for d in details if isinstance(d, error_details_pb2.ErrorInfo)), None)
    error = _BY_CODE.get(code, ServerError)(
        message,
        code=code,
        reason=info.reason or None if info is not None else None,
        metadata=dict(info.metadata) if info is not None else None,
    )
    for detail in details:
        if isinstance(error, InvalidArgument) and isinstance(detail, error_details_pb2.BadRequest):
            error.violations = tuple(
                FieldViolation(field=v.field, description=v.description)
                for v in detail.field_violations
            )
        elif isinstance(error, FailedPrecondition) and isinstance(
            detail, error_details_pb2.PreconditionFailure
        ):
            error.violations = tuple(
                PreconditionViolation(type=v.type, subject=v.subject, description=v.description)
                for v in detail.violations
            )
        elif isinstance(error, Unavailable) and isinstance(detail, error_details_pb2.RetryInfo):
            error.retry_delay = detail.retry_delay.ToTimedelta()
    return error


__all__ = [
    "Aborted",
    "AlreadyExists",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "MessageTooLarge",
    "NotFound",
    "PermissionDenied",
    "PreconditionViolation",
    "RunplaneError",
    "ServerError",
    "Unauthenticated",
    "Unavailable",
    "error_from_rpc",
]
