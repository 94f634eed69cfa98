"""The workspace token: every request must carry it once the server has one.

Clients send `Authorization: Bearer <token>` (runyard's client, and MLflow's through
MLFLOW_TRACKING_TOKEN); a browser answers the Basic prompt with any user name and the token
as the password, so the MLflow UI stays usable. The token is compared in constant time and
never written anywhere.

Jobs never see the workspace token. Each run gets its own: `run.<run id>.<HMAC of the run id
keyed by the workspace token>`, accepted on the APIs (MLflow's and runyard's, not the UI or
the scoring proxy) only while that run is active, so a token a script prints or leaks stops
working when the run ends. The server keeps no table of them: the HMAC is the proof.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

from runyard import settings

TOKEN_ENV = settings.SERVER_TOKEN
OPEN_PATHS = frozenset({"/health"})  # readiness probes carry no secret
# Endpoints' scoring proxy: the route decides (an endpoint's own key, or the workspace token);
# the guard only records whether the workspace token came with the request.
SCORING_PREFIX = "/endpoints/"
TOKEN_OK = "runyard.workspace_token_ok"
RUN_TOKEN_PATHS = ("/api/", "/ajax-api/")  # what a run's own token reaches
RUN_TOKEN_CACHE_SECONDS = 2.0  # how long "this run is active" is believed without a lookup


def run_token(workspace_token: str, run_id: str) -> str:
    """The token of one run: proof of the run id, made with the workspace token."""
    mac = hmac.new(workspace_token.encode(), run_id.encode(), hashlib.sha256).hexdigest()
    return f"run.{run_id}.{mac}"


def run_of_token(workspace_token: bytes, presented: str) -> str | None:
    """The run id a run token names, when its proof is right."""
    kind, _, rest = presented.partition(".")
    run_id, _, mac = rest.rpartition(".")
    if kind != "run" or not run_id:
        return None
    expected = hmac.new(workspace_token, run_id.encode(), hashlib.sha256).hexdigest()
    return run_id if hmac.compare_digest(mac.encode(), expected.encode()) else None


def presented_token(headers: dict[bytes, bytes]) -> str | None:
    value = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    return None


class TokenGuard:
    """ASGI middleware: 401 for any request without the token (when one is configured), or
    a run token of an active run (see above). `run_active(run_id)` tells the latter."""

    def __init__(self, app, token: str | None, run_active=None):
        self.app = app
        self._token = token.encode() if token else None
        self._run_active = run_active
        self._active_until: dict[str, float] = {}  # run id -> believed active until (monotonic)

    async def __call__(self, scope, receive, send):
        if self._token is None or scope["type"] not in ("http", "websocket") \
                or scope.get("path") in OPEN_PATHS:
            scope[TOKEN_OK] = self._token is None
            return await self.app(scope, receive, send)
        presented = presented_token(dict(scope.get("headers") or []))
        if presented is not None and hmac.compare_digest(presented.encode(), self._token):
            scope[TOKEN_OK] = True
            return await self.app(scope, receive, send)
        if presented is not None and scope.get("path", "").startswith(RUN_TOKEN_PATHS) \
                and await self._run_token_ok(presented):
            scope[TOKEN_OK] = False
            return await self.app(scope, receive, send)
        if scope["type"] == "http" and scope.get("path", "").startswith(SCORING_PREFIX):
            scope[TOKEN_OK] = False
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({
            "error_code": "UNAUTHENTICATED",
            "message": "This runyard server requires the workspace token. Clients: set "
                       "RUNYARD_WORKSPACE_TOKEN (or \"token\" in config.json); MLflow clients: "
                       "MLFLOW_TRACKING_TOKEN; browsers: any user name, the token as password."
        }).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Basic realm="runyard"'),
            (b"connection", b"close")]})  # and the body, if any, stays unread
        await send({"type": "http.response.body", "body": body})

    async def _run_token_ok(self, presented: str) -> bool:
        run_id = run_of_token(self._token, presented)
        if run_id is None or self._run_active is None:
            return False
        now = time.monotonic()
        if self._active_until.get(run_id, 0.0) > now:
            return True
        active = await asyncio.to_thread(self._run_active, run_id)
        if active:
            if len(self._active_until) > 10_000:
                self._active_until.clear()
            self._active_until[run_id] = now + RUN_TOKEN_CACHE_SECONDS
        else:
            self._active_until.pop(run_id, None)
        return active
