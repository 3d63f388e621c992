"""The service's errors: one exception type carrying a canonical status code and a message.

Codes are google.rpc.Code values, so every facade maps them the same way: gRPC status codes
by name, REST responses through `Code.http_status` (Google's published mapping).
"""

import enum
from dataclasses import dataclass


class Code(enum.IntEnum):
    """google.rpc.Code: the canonical error codes of Google APIs."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


@dataclass(frozen=True)
class Status:
    """An outcome as google.rpc.Status has it: a code and a developer-facing message."""

    code: Code
    message: str

    def to_json(self) -> dict:
        return {"code": self.code.name, "message": self.message}

    @classmethod
    def from_json(cls, data: dict) -> "Status":
        return cls(Code[data["code"]], data["message"])


class ServiceError(Exception):
    """Raised by the core; facades turn it into their wire's error (gRPC status, JSON error)."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def status(self) -> Status:
        return Status(self.code, self.message)


class InvalidArgument(ServiceError):
    code = Code.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = Code.NOT_FOUND


class AlreadyExists(ServiceError):
    code = Code.ALREADY_EXISTS


class FailedPrecondition(ServiceError):
    code = Code.FAILED_PRECONDITION


class Aborted(ServiceError):
    code = Code.ABORTED


class Cancelled(ServiceError):
    code = Code.CANCELLED


class Unimplemented(ServiceError):
    code = Code.UNIMPLEMENTED


class Internal(ServiceError):
    code = Code.INTERNAL
