"""The endpoint server process: `python -m runyard.serving <workspace folder> <endpoint name>`.

Binds its port, loads the backend its record asks for, reports Healthy (or Failed with the
traceback) in the record, and answers HTTP on uvicorn. It polls its record: a new generation
(service.update) loads a new backend beside the old one and swaps them when it is ready, so
requests in flight finish on the old one; new keys (regen_key) apply within half a second.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import socket
import sys
import time
import traceback

from runyard import httpd
from runyard.serving import store
from runyard.serving.spec import EndpointSpec

POLL_SECONDS = 0.5
MAX_BODY = 256 * 1024 * 1024  # bytes of one request
MAX_IN_FLIGHT = 2 * MAX_BODY  # bytes of all the requests being read or answered at once
_MODEL_ROUTE = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata|:predict|:classify|:regress)?$")
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _json(status: int, payload) -> tuple[int, bytes, list]:
    return status, json.dumps(payload).encode(), _JSON_HEADERS


async def _answer(send, status: int, payload: bytes, headers: list) -> None:
    headers = [*headers, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class EndpointApp:
    """The ASGI application: health, TensorFlow Serving REST routes, /score, key auth."""

    def __init__(self, workspace, name: str):
        self.ws, self.name = workspace, name
        self.backend = None
        self.generation = 0
        self.keys: list[str] = []
        self.server = None  # the uvicorn.Server, to stop it when the first load fails
        self.closing: set[asyncio.Task] = set()  # replaced backends finishing their requests
        self.in_flight = httpd.InFlight(MAX_IN_FLIGHT)

    # -- HTTP ------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        # Who is calling, and how much, is known from the headers: nothing of the body is
        # read for a caller without the key or for a body over the limit.
        if scope["path"] in ("/", "/health") and scope["method"] == "GET":
            ready = self.backend is not None
            await _answer(send, 200 if ready else 503, b"Healthy" if ready else b"Starting",
                          [(b"content-type", b"text/plain")])
            return
        if not self._authorized(scope):  # (and the connection is closed: its body stays unread)
            status, payload, headers = _json(401, {
                "error": "This service needs a key: send the header 'Authorization: Bearer <key>' "
                         "(service.get_keys())."})
            await _answer(send, status, payload, [*headers, (b"connection", b"close")])
            return
        if (httpd.content_length(scope) or 0) > MAX_BODY:
            await httpd.refuse(send, 413, str(httpd.BodyTooLarge(MAX_BODY)))
            return
        guarded, release = httpd.guarded_receive(receive, MAX_BODY, self.in_flight)
        try:
            chunks = []
            while True:
                message = await guarded()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            await _answer(send, *await self._handle(scope, b"".join(chunks)))
        except (httpd.BodyTooLarge, httpd.BodyTimeout, httpd.ServerBusy) as exc:
            await httpd.refuse(send, httpd.STATUS[type(exc)], str(exc))
        finally:
            release()

    async def _handle(self, scope, body: bytes):
        method, path = scope["method"], scope["path"]
        backend = self.backend
        if backend is None:
            return _json(503, {"error": "The service is starting; retry in a moment."})
        backend.enter()
        try:
            return await self._route(backend, method, path, body)
        except Exception as exc:  # noqa: BLE001  answer, log, and keep serving
            traceback.print_exc()
            return _json(500, {"error": f"Internal error: {type(exc).__name__}: {exc}"})
        finally:
            backend.leave()

    async def _route(self, backend, method: str, path: str, body: bytes):
        from runyard.serving.tf_model import BadRequest

        if path == "/score":
            if method != "POST":
                return _json(405, {"error": "POST the input to /score."})
            if not backend.no_code:
                status, payload = await backend.score(body)
                return status, payload, _JSON_HEADERS
            try:
                return _json(200, await backend.predict(backend.model(None, None), body))
            except BadRequest as exc:
                return _json(400, {"error": str(exc)})
        if path == "/swagger.json" and method == "GET":
            return _json(200, self._swagger())
        if path == "/stats" and method == "GET":
            return _json(200, backend.stats())
        match = _MODEL_ROUTE.match(path)
        if match is None:
            return _json(404, {"error": f"No route {path}. Routes: /score, /v1/models/<name>"
                                        "[/versions/<v>][/metadata|:predict], /swagger.json, /stats."})
        if not backend.no_code:
            return _json(404, {"error": "This service runs an entry script: POST to /score. The "
                                        "/v1/models routes serve models deployed without code."})
        name, version, verb = match.group(1), match.group(2), match.group(3)
        try:
            model = backend.model(name, int(version) if version else None)
        except LookupError as exc:
            return _json(404, {"error": str(exc)})
        except BadRequest as exc:
            return _json(400, {"error": str(exc)})
        if verb is None and method == "GET":
            return _json(200, {"model_version_status": [{
                "version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                for v in sorted(backend.models[model.name]) if version is None or v == model.version]})
        if verb == "/metadata" and method == "GET":
            return _json(200, model.metadata())
        if verb == ":predict" and method == "POST":
            try:
                return _json(200, await backend.predict(model, body))
            except BadRequest as exc:
                return _json(400, {"error": str(exc)})
        if verb in (":classify", ":regress"):
            return _json(400, {"error": f"{verb[1:]} needs tf.Example inputs; use :predict."})
        return _json(405, {"error": f"{method} is not allowed on {path}."})

    def _authorized(self, scope) -> bool:
        if not self.keys:
            return True
        for key, value in scope["headers"]:
            if key == b"authorization":
                token = value.removeprefix(b"Bearer ").strip()
                return any(hmac.compare_digest(token, k.encode()) for k in self.keys)
        return False

    def _swagger(self) -> dict:
        return {"swagger": "2.0", "info": {"title": self.name, "version": str(self.generation)},
                "paths": {"/score": {"post": {"consumes": ["application/json"],
                                              "produces": ["application/json"]}}}}

    # -- lifecycle -------------------------------------------------------------------------
    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.watcher = asyncio.create_task(self._watch())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.watcher.cancel()
                if self.backend is not None:
                    await self.backend.drain_and_close(timeout=10)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _watch(self) -> None:
        """Apply the record: a new generation loads a new backend; keys change at once."""
        while True:
            try:
                record = await asyncio.to_thread(store.find, self.ws, self.name)
                if record is None:  # deleted: stop serving
                    self.server.should_exit = True
                    return
                self.keys = record["keys"] or []
                if record["generation"] != self.generation:
                    await self._load(record)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  a database hiccup must not stop the server
                traceback.print_exc()
            await asyncio.sleep(POLL_SECONDS)

    async def _load(self, record: dict) -> None:
        generation = record["generation"]
        self.generation = generation  # tried once: a failed generation is not retried
        spec = EndpointSpec(**record["spec"])
        print(f"[{_now()}] Loading generation {generation}", flush=True)
        started = time.monotonic()
        backend = None
        try:
            backend = await _build_backend(self.ws, spec, generation)
            await backend.start()
        except Exception as exc:  # noqa: BLE001  reported in the record and the log
            from runyard.serving.backends import ScriptInitError

            if backend is not None:
                await backend.close()

            if isinstance(exc, ScriptInitError):  # the worker already logged its traceback
                text = str(exc)
            else:
                text = traceback.format_exc()
                print(text, file=sys.stderr, flush=True)
            still = (f" The service still serves generation {record['served_generation']}."
                     if self.backend is not None else "")
            store.update(self.ws, self.name, state=store.FAILED,
                         error=f"Deployment failed: {_last_line(text)}.{still} See service.get_logs().")
            if self.backend is None:
                self.server.should_exit = True
            return
        old, self.backend = self.backend, backend
        store.update(self.ws, self.name, state=store.HEALTHY, served_generation=generation, error=None)
        print(f"[{_now()}] Serving generation {generation} (ready in "
              f"{time.monotonic() - started:.2f} s)", flush=True)
        if old is not None:  # in the background: the watcher goes on polling meanwhile
            task = asyncio.create_task(old.drain_and_close())
            self.closing.add(task)
            task.add_done_callback(self.closing.discard)


async def _build_backend(ws, spec: EndpointSpec, generation: int):
    from runyard.serving import backends

    if spec.no_code:
        return backends.NoCodeBackend(spec)
    from runyard.serving.deploy import script_runtime

    source_dir, interpreter, env = await asyncio.to_thread(script_runtime, ws, spec, generation)
    return backends.ScriptBackend(spec, source_dir, interpreter, env)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def bind(port: int | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: the headers and the body of an answer go out at once
    # instead of the body waiting up to 40 ms for the client's delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port or 0))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _bind_again(previous: int) -> socket.socket:
    try:
        return bind(previous)
    except OSError:
        print(f"[{_now()}] Port {previous} is taken now: listening on another one.", flush=True)
        return bind(None)


def main(argv: list[str]) -> int:
    import uvicorn

    from runyard.workspace import Workspace

    location, name = argv
    ws = Workspace._of_process(location)
    record = store.get(ws, name)
    port = record["spec"].get("port")
    try:
        # A server started again (after a crash, a restart) takes the port it had: the
        # service's scoring URI does not change.
        sock = _bind_again(record["port"]) if port is None and record["port"] else bind(port)
    except OSError as exc:
        store.update(ws, name, state=store.FAILED,
                     error=f"Cannot listen on 127.0.0.1:{port}: {exc.strerror}. Choose another port "
                           "(deploy_configuration(port=...)) or leave it out for any free port.")
        print(f"Cannot listen on 127.0.0.1:{port}: {exc}", file=sys.stderr, flush=True)
        return 1
    store.update(ws, name, port=sock.getsockname()[1])
    print(f"[{_now()}] Endpoint {name} listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    app = EndpointApp(ws, name)
    httpd.harden_process()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10, **httpd.uvicorn_options())
    server = app.server = uvicorn.Server(config)
    asyncio.run(server.serve(sockets=[sock]))
    return 0 if app.backend is not None else 1
