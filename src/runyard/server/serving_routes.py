"""Endpoint routes: deploy, update, reload, delete, keys and logs run on the server, whose
machine runs the endpoints; and the scoring proxy, `/endpoints/<name>/<path>`, through which
clients reach an endpoint that listens on the server's loopback."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from runyard.errors import UserErrorException
from runyard.server.auth import TOKEN_OK
from runyard.server.codes import ErrorCode
from runyard.server.responses import error, log_piece

PROXY_TIMEOUT = 300.0  # seconds a scoring request may take


def _body(fields: dict, *required: str) -> dict:
    if not isinstance(fields, dict) or not all(k in fields for k in required):
        raise UserErrorException(f"This route takes a JSON object with {', '.join(required)}.")
    return fields


def add_routes(router: APIRouter, ws) -> None:
    endpoints = ws.backend.endpoints

    @router.get("/endpoints")
    def list_endpoints():
        return endpoints.list()

    @router.get("/endpoints/one")
    def get_endpoint(name: str):
        return endpoints.get(name)

    @router.post("/endpoints")
    async def create(request: Request):
        body = _body(await request.json(), "name", "fields")
        return await run_in_threadpool(
            endpoints.deploy, body["name"], _body(body["fields"], "models"), body.get("primary_key"),
            body.get("secondary_key"), bool(body.get("overwrite")))

    @router.post("/endpoints/update")
    async def update(request: Request):
        body = _body(await request.json(), "name", "fields")
        return await run_in_threadpool(endpoints.update, body["name"], _body(body["fields"], "models"))

    @router.post("/endpoints/reload")
    async def reload(request: Request):
        body = _body(await request.json(), "name")
        await run_in_threadpool(endpoints.reload, body["name"])
        return {"reloaded": body["name"]}

    @router.post("/endpoints/delete")
    async def delete(request: Request):
        body = _body(await request.json(), "name")
        await run_in_threadpool(endpoints.delete, body["name"])
        return {"deleted": body["name"]}

    @router.post("/endpoints/set_key")
    async def set_key(request: Request):
        body = _body(await request.json(), "name", "slot", "key")
        if body["slot"] not in (0, 1) or not isinstance(body["key"], str) or not body["key"]:
            raise UserErrorException("slot is 0 (primary) or 1 (secondary) and key a non-empty string.")
        await run_in_threadpool(endpoints.set_key, body["name"], body["slot"], body["key"])
        return {"set": body["slot"]}

    @router.get("/endpoints/log")
    def read_log(name: str, offset: int = 0):
        endpoints.get(name)
        return log_piece(endpoints.log_source(name), offset)


NO_ACCESS = "Send the service's key (Authorization: Bearer <key>), or the workspace token."


def build_proxy(ws) -> APIRouter:
    """`/endpoints/<name>/<path>` forwarded to the endpoint, its body streamed through. The
    token guard lets these paths through. A caller with the workspace token reaches any
    service (unknown names answer 404). Any other caller must send the service's own key, and
    is answered the same 401 for an unknown name, a service without keys and a wrong key, so
    that names cannot be probed; nothing of the body is read before that."""
    from runyard import httpd
    from runyard.serving import store

    proxy = APIRouter()
    sessions = []  # one aiohttp session, made in the server's event loop on first use

    def with_key(record: dict, authorization: str | None) -> bool:
        presented = (authorization or "").removeprefix("Bearer ").strip().encode()
        return any(hmac.compare_digest(presented, key.encode()) for key in record["keys"] or ())

    @proxy.api_route("/endpoints/{name}/{path:path}", methods=["GET", "POST"])
    async def forward(name: str, path: str, request: Request):
        token_ok = bool(request.scope.get(TOKEN_OK))
        valid = store.NAME_RE.match(name) is not None
        record = await run_in_threadpool(ws.backend.endpoints.find, name) if valid else None
        if not token_ok and (record is None or not with_key(record, request.headers.get("authorization"))):
            refused = error(ErrorCode.UNAUTHENTICATED, NO_ACCESS)
            refused.headers["connection"] = "close"  # (its body stays unread)
            return refused
        if record is None:
            return error(ErrorCode.NOT_FOUND, f"No service named {name if valid else '?'}.")
        if not record["port"]:
            return error(ErrorCode.TEMPORARILY_UNAVAILABLE,
                         f"Service {name} is {record['state']}, not serving yet.")
        headers = {"Content-Type": request.headers.get("content-type", "application/json")}
        if record["keys"]:  # the caller's key, or (workspace token) the service's own
            headers["Authorization"] = request.headers.get("authorization", "") if not token_ok \
                else f"Bearer {record['keys'][0]}"
        if not sessions:
            import aiohttp

            sessions.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROXY_TIMEOUT)))
        try:
            async with sessions[0].request(
                    request.method, f"http://127.0.0.1:{record['port']}/{path}",
                    params=dict(request.query_params), headers=headers,
                    data=request.stream() if request.method == "POST" else None) as answer:
                content = await answer.read()
                return Response(content, status_code=answer.status,
                                media_type=answer.headers.get("content-type"))
        except Exception as exc:  # noqa: BLE001  the caller's body over its limit, or no answer
            limit = httpd.limit_error(exc)
            if limit is not None:
                raise limit from None
            answer = error(ErrorCode.INTERNAL_ERROR, f"Service {name} did not answer: {type(exc).__name__}")
            answer.status_code = 502
            return answer

    return proxy
