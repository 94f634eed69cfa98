"""Serving HTTP to callers that may be hostile: `runyard server` and the endpoint servers.

uvicorn reads headers and bodies for as long as a client cares to send them, and an ASGI app
that reads a body before checking who sent it can be made to hold any amount of memory. Here:
- headers must arrive within RUNYARD_HTTP_HEADER_TIMEOUT seconds of a connection or request
  start, and hold at most 64 KB (slow-loris connections are closed, not kept);
- every body read waits at most RUNYARD_HTTP_BODY_TIMEOUT seconds for its next piece;
- a body larger than its route's limit is refused from Content-Length before it is read, and
  while it is read when it has none; bodies that routes keep in memory share one budget;
- the descriptor limit is raised to what the system allows, and errors accepting connections
  (a full descriptor table) are logged once a minute with a count instead of once each.
"""

from __future__ import annotations

import asyncio
import logging
import time

from runyard import settings

MAX_HEADER_BYTES = 64 * 1024
ACCEPT_LOG_EVERY = 60.0  # seconds between two log lines about failed accepts


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"The request body is larger than {limit // (1 << 20)} MB.")


class BodyTimeout(Exception):
    def __init__(self, seconds: float):
        super().__init__(f"The request body did not arrive within {seconds:g} s.")


class ServerBusy(Exception):
    def __init__(self):
        super().__init__("The server holds too many request bodies now; retry in a moment.")


def content_length(scope) -> int | None:
    for key, value in scope.get("headers") or ():
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class InFlight:
    """Bytes of request bodies held in memory at once, across requests."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0

    def take(self, size: int) -> None:
        if self.used + size > self.limit:
            raise ServerBusy()
        self.used += size

    def give(self, size: int) -> None:
        self.used -= size


def guarded_receive(receive, limit: int, budget: InFlight | None = None):
    """`receive` for one request: each piece within the body timeout, the whole body within
    `limit`, and (with a budget) the bytes counted against it. Returns (receive, release):
    release() gives the counted bytes back once the request is done."""
    timeout = settings.http_body_timeout()
    held = 0

    async def receive_guarded():
        nonlocal held
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except asyncio.TimeoutError:
            raise BodyTimeout(timeout) from None
        size = len(message.get("body") or b"")
        if size:
            if held + size > limit:
                raise BodyTooLarge(limit)
            if budget is not None:
                budget.take(size)
            held += size
        return message

    def release() -> None:
        if budget is not None:
            budget.give(held)

    return receive_guarded, release


async def refuse(send, status: int, message: str) -> None:
    """A JSON error answer that also closes the connection (the rest of the body is unread)."""
    import json

    body = json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE" if status == 503 else "REQUEST_REFUSED",
                       "message": message, "error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


STATUS = {BodyTooLarge: 413, BodyTimeout: 408, ServerBusy: 503}


class BodyLimits:
    """ASGI middleware: `limit_for(scope)` gives each request's (byte limit, whether its body
    is kept in memory); a body over its limit is refused from Content-Length before it is
    read, or once it passes the limit, and in-memory bodies share `budget`."""

    def __init__(self, app, limit_for, budget: InFlight):
        self.app, self.limit_for, self.budget = app, limit_for, budget

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, in_memory = self.limit_for(scope)
        if (content_length(scope) or 0) > limit:
            return await refuse(send, 413, str(BodyTooLarge(limit)))
        guarded, release = guarded_receive(receive, limit, self.budget if in_memory else None)
        started = False

        async def send_tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded, send_tracked)
        except tuple(STATUS) as exc:
            if not started:
                await refuse(send, STATUS[type(exc)], str(exc))
        finally:
            release()


def limit_error(exc: BaseException | None) -> Exception | None:
    """One of the limits above, when it is `exc`, what caused it (a client library that read
    the body for us wraps it) or one of a group (a task group between the app and us)."""
    while exc is not None:
        if isinstance(exc, tuple(STATUS)):
            return exc
        for inner in getattr(exc, "exceptions", ()):  # an ExceptionGroup
            found = limit_error(inner)
            if found is not None:
                return found
        exc = exc.__cause__ or exc.__context__
    return None


def protocol_class():
    """uvicorn's httptools protocol with a deadline for headers and a cap on their size
    (uvicorn's own h11 protocol where httptools is missing, without them)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed
        return "h11"

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _header_timer = None
        _header_bytes = 0

        def _arm(self) -> None:
            self._disarm()
            self._header_bytes = 0
            self._header_timer = self.loop.call_later(settings.http_header_timeout(), self._late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _late(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_bytes += len(name) + len(value)
            if self._header_bytes > MAX_HEADER_BYTES:
                raise ValueError("request headers too large")  # answered 400 by uvicorn
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

    return GuardedHttpToolsProtocol


def raise_descriptor_limit() -> None:
    """Open as many connections as the system allows this process, not the shell's default."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass


class _AcceptErrorThrottle(logging.Filter):
    """One log line a minute, with a count, for failed accepts (EMFILE) instead of a
    traceback for each: a full descriptor table must not also fill the disk."""

    def __init__(self):
        super().__init__()
        self.last, self.suppressed = 0.0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "accept" not in text and "listen" not in text and "Too many open files" not in text:
            return True
        now = time.monotonic()
        if now - self.last < ACCEPT_LOG_EVERY:
            self.suppressed += 1
            return False
        record.msg = f"{text} ({self.suppressed} more since the last report; traceback left out)"
        record.args, record.exc_info, record.exc_text = (), None, None
        self.last, self.suppressed = now, 0
        return True


def harden_process() -> None:
    raise_descriptor_limit()
    throttle = _AcceptErrorThrottle()
    for name in ("asyncio", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _AcceptErrorThrottle) for f in logger.filters):
            logger.addFilter(throttle)


def uvicorn_options() -> dict:
    """Options for uvicorn.Config / uvicorn.run that both servers use."""
    return {"http": protocol_class(), "timeout_keep_alive": 30,
            "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "server_header": False}
