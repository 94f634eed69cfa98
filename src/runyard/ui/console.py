"""runyard's console page (`/runyard/`) and its endpoint pages: what a workspace holds that
MLflow has no page for. Recent runs (to their pages), compute targets and the runs on them,
endpoints (state, models, scoring address; keys never shown) with a page each holding the
server's log and a form that sends a test request, datasets and their versions, registered
models with the endpoints that serve them."""

from __future__ import annotations

import functools
import json
import urllib.error
import urllib.request

from fastapi import Request  # (at module level: FastAPI reads the route's annotations from here)

from runyard.ui.layout import (
    PREFIX,
    e,
    facts,
    grid,
    href,
    link,
    muted,
    not_found,
    page,
    run_link,
    status,
    when,
)
from runyard.ui.pages import duration_text

TEST_BODY_MAX = 1024 * 1024  # bytes a test request may carry
RECENT_RUNS = 30


def add_routes(app, ws) -> None:
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool

    from runyard.errors import RunyardError

    # Plain functions (FastAPI runs them in its thread pool): they read the registry and files.
    def console() -> HTMLResponse:
        return HTMLResponse(render_console(ws))

    def endpoint_page(name: str) -> HTMLResponse:
        try:
            return HTMLResponse(render_endpoint(ws, name))
        except RunyardError as exc:
            return HTMLResponse(not_found(str(exc)), status_code=404)

    async def endpoint_test(name: str, request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > TEST_BODY_MAX:
            return JSONResponse({"error": f"A test request carries at most {TEST_BODY_MAX} bytes."}, status_code=413)
        try:
            return JSONResponse(await run_in_threadpool(send_test, ws, name, body))
        except RunyardError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    app.add_api_route(f"{PREFIX}/", console, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/endpoints/{{name}}", endpoint_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/api/endpoints/{{name}}/test", endpoint_test, methods=["POST"],
                      include_in_schema=False)


def _section(title: str, render) -> str:
    try:
        return f"<h2>{e(title)}</h2>" + render()
    except Exception as exc:  # noqa: BLE001  one resource that cannot be read does not hide the others
        return f"<h2>{e(title)}</h2><p class=\"error\">Could not be read: {e(type(exc).__name__)}: {e(str(exc))}</p>"


def render_console(ws) -> str:
    # Read once for the runs and compute sections, inside them (a failure shows in its section).
    runs = functools.cache(lambda: list(ws.backend.runs.list()))
    return page("Workspace", f"<h1>Workspace {e(ws.name)}</h1>"
                f'<div class="muted">{e(str(ws.location))}</div>'
                + _section("Recent runs", lambda: _runs(runs))
                + _section("Compute targets", lambda: _compute(ws, runs))
                + _section("Endpoints", lambda: _endpoints(ws))
                + _section("Datasets", lambda: _datasets(ws))
                + _section("Registered models", lambda: _models(ws)))


def _runs(all_runs) -> str:
    runs = sorted(all_runs(), key=lambda r: r["created_at"], reverse=True)[:RECENT_RUNS]
    return grid(["run", "experiment", "status", "duration", "submitted"],
                 [[run_link(r), e(r["experiment"]), status(r["status"].value), e(duration_text(r)),
                   e(when(r["created_at"]))] for r in runs],
                 "No runs yet: submit one with Experiment(ws, name).submit(config) or `runyard run`.")


def _compute(ws, runs) -> str:
    active = [r for r in runs() if not r["status"].is_terminal()]
    rows = []
    for target in ws.backend.compute.list():
        on_it = [r for r in active if r["target"] == target["name"]]
        config = target.get("config") or {}
        size = f"{config.get('min_nodes', '')}-{config.get('max_nodes', '')} nodes" if "max_nodes" in config else ""
        rows.append([link(target["name"], "compute", target["name"]), e(str(target["type"])), status(str(target["state"])), e(size),
                     " ".join(run_link(r) for r in on_it) or muted("idle")])
    return grid(["name", "type", "state", "size", "running now"], rows,
                 "Only the local target (this machine). Create a Ray cluster target with ComputeTarget.create.")


def _serving(ws) -> dict[tuple[str, int], list[str]]:
    """(model name, version) -> the endpoints that serve it."""
    found: dict[tuple[str, int], list[str]] = {}
    for endpoint in ws.backend.endpoints.list():
        for model in endpoint["spec"].get("models") or []:
            found.setdefault((model["name"], int(model["version"])), []).append(endpoint["name"])
    return found


def _endpoints(ws) -> str:
    rows = []
    for endpoint in ws.backend.endpoints.list():
        base = ws.backend.endpoints.base_url(endpoint)
        models = ", ".join(f"{m['name']}:{m['version']}" for m in endpoint["spec"].get("models") or [])
        rows.append([link(endpoint["name"], "endpoints", endpoint["name"]),
                     status(endpoint["state"]), e(models), e(f"{base}/score" if base else "-"),
                     "key" if endpoint.get("keys") else "none"])
    return grid(["endpoint", "state", "models", "scoring URI", "auth"], rows,
                 "No endpoints: deploy a registered model with Model.deploy(...).")


def _datasets(ws) -> str:
    rows = []
    for name, latest in ws.backend.datasets.latest_all().items():
        registration = latest["registration"]
        versions = ws.backend.datasets.versions(name)
        rows.append([link(name, "datasets", name), e(str(registration["version"])), e(str(len(versions))),
                     e(str(len(latest.get("manifest") or []))), e(registration.get("description") or "")])
    return grid(["dataset", "latest version", "versions", "files (latest)", "description"], rows,
                 "No registered datasets: Dataset.File.from_files(...).register(ws, name).")


def _models(ws) -> str:
    serving = _serving(ws)
    rows = []
    for model in ws.backend.models.list():
        run = link(model["run_id"], "runs", model["run_id"]) if model.get("run_id") else ""
        endpoints = serving.get((model["name"], int(model["version"])), [])
        rows.append([link(model["name"], "models", model["name"], model["version"]), e(str(model["version"])),
                     e(str(model.get("framework") or "")), run,
                     " ".join(link(n, "endpoints", n) for n in endpoints) or muted("none")])
    return grid(["model", "version", "framework", "from run", "served by"], rows,
                 "No registered models: run.register_model(...) or Model.register(...).")


_TEST_FORM = """
<h2>Send a test request</h2>
<textarea id="body" rows="6" cols="100">%(example)s</textarea><br>
<button id="send">Send</button>
<pre id="answer"></pre>
<script>
document.getElementById('send').onclick = function(){
  var answer = document.getElementById('answer');
  answer.textContent = 'sending...';
  fetch('%(api)s', {method: 'POST', headers: {'content-type': 'application/json'},
                    body: document.getElementById('body').value})
    .then(function(r){ return r.json(); })
    .then(function(d){ answer.textContent = d.error ? d.error : ('HTTP ' + d.status + '\\n' + d.body); });
};
</script>
"""


def render_endpoint(ws, name: str) -> str:
    from runyard.serving import store

    endpoint = ws.backend.endpoints.get(name)
    base = ws.backend.endpoints.base_url(endpoint)
    models = ", ".join(f"{m['name']}:{m['version']}" for m in endpoint["spec"].get("models") or [])
    parts = [f"<h1>{e(name)}</h1>", f"<p>{status(endpoint['state'])}</p>"]
    if endpoint.get("error"):
        parts.append(f'<div class="error">{e(str(endpoint["error"]))}</div>')
    parts.append("<h2>Endpoint</h2>" + facts([
        ("Models", models), ("Scoring URI", f"{base}/score" if base else "-"),
        ("Auth", "a key (not shown here: Webservice.get_keys())" if endpoint.get("keys") else "none"),
        ("Generation", f"{endpoint.get('served_generation')} served of {endpoint.get('generation')}")]))
    log = store.log_path(ws, name)
    tail = log.read_text(errors="replace").splitlines()[-200:] if log.exists() else []
    parts.append(f"<h2>Server log (last {len(tail)} lines)</h2><pre>{e(chr(10).join(tail))}</pre>")
    parts.append(_TEST_FORM % {"api": href("api", "endpoints", name, "test"),
                               "example": e(json.dumps({"data": [[0.0, 0.0]]}))})
    return page(name, "\n".join(parts))


def send_test(ws, name: str, body: bytes) -> dict:
    """POST `body` to the endpoint's scoring URI, with its key (the browser never sees it)."""
    endpoint = ws.backend.endpoints.get(name)
    base = ws.backend.endpoints.base_url(endpoint)
    if not base:
        return {"error": f"Endpoint {name!r} has no server now (state {endpoint['state']})."}
    headers = {"Content-Type": "application/json"}
    key = ws.backend.endpoints.request_key(endpoint)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{base}/score", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return {"status": answer.status, "body": answer.read(TEST_BODY_MAX).decode(errors="replace")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "body": exc.read(TEST_BODY_MAX).decode(errors="replace")}
    except OSError as exc:
        return {"error": f"The endpoint did not answer: {exc}"}
