"""The workspace token: every request must carry it once the server has one.

Clients send `Authorization: Bearer <token>` (runyard's client, and MLflow's through
MLFLOW_TRACKING_TOKEN); a browser answers the Basic prompt with any user name and the token
as the password, so the MLflow UI stays usable. The token is compared in constant time and
never written anywhere.
"""

from __future__ import annotations

import base64
import hmac
import json

TOKEN_ENV = "RUNYARD_SERVER_TOKEN"  # read by `runyard server`
OPEN_PATHS = frozenset({"/health"})  # readiness probes carry no secret
# Endpoints' scoring proxy: the route decides (an endpoint's own key, or the workspace token);
# the guard only records whether the workspace token came with the request.
SCORING_PREFIX = "/endpoints/"
TOKEN_OK = "runyard.workspace_token_ok"


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
    """ASGI middleware: 401 for any request without the token (when one is configured)."""

    def __init__(self, app, token: str | None):
        self.app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if self._token is None or scope["type"] not in ("http", "websocket") \
                or scope.get("path") in OPEN_PATHS:
            scope[TOKEN_OK] = self._token is None
            return await self.app(scope, receive, send)
        presented = presented_token(dict(scope.get("headers") or []))
        if presented is not None and hmac.compare_digest(presented.encode(), self._token):
            scope[TOKEN_OK] = True
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
            (b"www-authenticate", b'Basic realm="runyard"')]})
        await send({"type": "http.response.body", "body": body})
