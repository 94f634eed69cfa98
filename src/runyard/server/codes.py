"""The error codes of runyard's API, shared by the server (which answers them) and the client
(which raises the matching exception again): one table from exception to code and status."""

from __future__ import annotations

from enum import Enum

from runyard import errors


class ErrorCode(str, Enum):
    BAD_REQUEST = "BAD_REQUEST"  # the input is wrong: the message says what to change
    NOT_FOUND = "NOT_FOUND"  # no run, model, dataset, ... of that name (the message lists them)
    ALREADY_EXISTS = "ALREADY_EXISTS"  # the name (or the files) is taken
    UNAUTHENTICATED = "UNAUTHENTICATED"  # no workspace token, or a wrong one
    REQUEST_REFUSED = "REQUEST_REFUSED"  # a body over its limit, too slow, or no room for it
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"  # the database is down
    INTERNAL_ERROR = "INTERNAL_ERROR"  # a server bug: the message is all there is

    @property
    def status(self) -> int:
        return STATUS[self]


STATUS = {ErrorCode.BAD_REQUEST: 400, ErrorCode.NOT_FOUND: 404, ErrorCode.ALREADY_EXISTS: 409,
          ErrorCode.UNAUTHENTICATED: 401, ErrorCode.REQUEST_REFUSED: 413,
          ErrorCode.TEMPORARILY_UNAVAILABLE: 503, ErrorCode.INTERNAL_ERROR: 500}


def code_of(exc: errors.RunyardError) -> ErrorCode:
    if isinstance(exc, errors.NotFoundError):
        return ErrorCode.NOT_FOUND
    if isinstance(exc, errors.AlreadyExistsError):
        return ErrorCode.ALREADY_EXISTS
    return ErrorCode.BAD_REQUEST  # every other RunyardError says what to change


def exception_for(code: str | None, exception: str | None, message: str) -> errors.RunyardError:
    """The exception a client raises for an error answer: the class the server raised when
    runyard has it (the v1 names users catch), else one that matches the code."""
    cls = getattr(errors, str(exception), None)
    if isinstance(cls, type) and issubclass(cls, errors.RunyardError) and \
            cls is not errors.ActivityFailedException:
        return cls(message)
    by_code = {ErrorCode.NOT_FOUND.value: errors.NotFoundError,
               ErrorCode.ALREADY_EXISTS.value: errors.AlreadyExistsError,
               ErrorCode.BAD_REQUEST.value: errors.UserErrorException}
    return by_code.get(str(code), errors.RunyardError)(message)
