"""Endpoint routes: deploy, update, reload, delete, keys and logs run on the server, whose
machine runs the endpoints; and the scoring proxy, `/endpoints/<name>/<path>`, through which
clients reach an endpoint that listens on the server's loopback."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from runyard.errors import UserErrorException
from runyard.server.auth import TOKEN_OK

PROXY_TIMEOUT = 300.0  # seconds a scoring request may take


def _body(fields: dict, *required: str) -> dict:
    if not isinstance(fields, dict) or not all(k in fields for k in required):
        raise UserErrorException(f"This route takes a JSON object with {', '.join(required)}.")
    return fields


def add_routes(router: APIRouter, ws) -> None:
    from runyard.serving import deploy
    from runyard.serving import endpoint_store as store
    from runyard.serving.webservice import Webservice

    @router.get("/endpoints")
    def list_endpoints():
        return [store.checked(ws, record) for record in store.list_all(ws)]

    @router.get("/endpoints/one")
    def get_endpoint(name: str):
        return store.checked(ws, store.get(ws, name))

    @router.post("/endpoints")
    async def create(request: Request):
        body = _body(await request.json(), "name", "fields")
        fields = {**_body(body["fields"], "models"), "name": store.validate_name(body["name"])}

        def work():
            spec = deploy.checked_spec(ws, fields)
            deploy.create(ws, spec, body.get("primary_key"), body.get("secondary_key"),
                          bool(body.get("overwrite")))
        await run_in_threadpool(work)
        return store.get(ws, fields["name"])

    @router.post("/endpoints/update")
    async def update(request: Request):
        body = _body(await request.json(), "name", "fields")

        def work():
            record = store.get(ws, body["name"])
            fields = {**_body(body["fields"], "models"), "name": record["name"]}
            deploy.apply_update(ws, record, deploy.checked_spec(ws, fields))
        await run_in_threadpool(work)
        return store.get(ws, body["name"])

    @router.post("/endpoints/reload")
    async def reload(request: Request):
        body = _body(await request.json(), "name")
        await run_in_threadpool(Webservice(ws, body["name"]).reload)
        return {"reloaded": body["name"]}

    @router.post("/endpoints/delete")
    async def delete(request: Request):
        body = _body(await request.json(), "name")
        if store.find(ws, body["name"]) is not None:
            await run_in_threadpool(Webservice(ws, body["name"]).delete)
        return {"deleted": body["name"]}

    @router.post("/endpoints/regen_key")
    async def regen_key(request: Request):
        body = _body(await request.json(), "name", "key")
        await run_in_threadpool(Webservice(ws, body["name"]).regen_key, body["key"], body.get("set_key"))
        return {"regenerated": body["key"]}

    @router.get("/endpoints/log")
    def read_log(name: str, offset: int = 0):
        from runyard.server.api import log_piece

        store.get(ws, name)
        return log_piece(store.log_path(ws, name), offset)


def build_proxy(ws) -> APIRouter:
    """`/endpoints/<name>/<path>` forwarded to the endpoint. The token guard lets these paths
    through: an endpoint with keys checks its key itself (scoring clients need no workspace
    token); one without keys is reached only with the workspace token."""
    import requests

    from runyard.serving import endpoint_store as store

    proxy = APIRouter()

    @proxy.api_route("/endpoints/{name}/{path:path}", methods=["GET", "POST"])
    async def forward(name: str, path: str, request: Request):
        record = store.find(ws, store.validate_name(name))
        if record is None:  # (no list of the services: the caller may have no token)
            return Response(f'{{"message": "No service named {name}."}}', status_code=404,
                            media_type="application/json")
        record = store.checked(ws, record)
        headers = {"Content-Type": request.headers.get("content-type", "application/json")}
        if record["keys"]:
            if "authorization" in request.headers:
                headers["Authorization"] = request.headers["authorization"]
        elif not request.scope.get(TOKEN_OK):
            return Response('{"error_code": "UNAUTHENTICATED", "message": "This service has no '
                            'keys: it is reached with the workspace token."}', status_code=401,
                            media_type="application/json")
        if not record["port"]:
            return Response(f'{{"message": "Service {name} is {record["state"]}, not serving yet."}}',
                            status_code=503, media_type="application/json")
        body = await request.body()
        try:
            answer = await run_in_threadpool(
                requests.request, request.method, f"http://127.0.0.1:{record['port']}/{path}",
                data=body or None, headers=headers, params=dict(request.query_params),
                timeout=PROXY_TIMEOUT)
        except requests.RequestException as exc:
            return Response(f'{{"message": "Service {name} did not answer: {type(exc).__name__}"}}',
                            status_code=502, media_type="application/json")
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type"))

    return proxy
