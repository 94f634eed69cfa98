"""runyard's pages for what a workspace holds besides runs: a registered model version (its
schema, files, run and the endpoints serving it, read live; MLflow's model version page links
here from its description), a dataset with its versions and the runs that read them, and a
compute target with its nodes and what runs on each."""

from __future__ import annotations

from runyard.ui.layout import (
    PREFIX,
    e,
    facts,
    grid,
    link,
    muted,
    not_found,
    page,
    run_link,
    status,
    when,
)

FILES_SHOWN = 200


def add_routes(app, ws) -> None:
    from fastapi.responses import HTMLResponse

    from runyard.errors import RunyardError

    def answer(render, *args) -> HTMLResponse:
        try:
            return HTMLResponse(render(ws, *args))
        except RunyardError as exc:
            return HTMLResponse(not_found(str(exc)), status_code=404)

    # Plain functions (FastAPI runs them in its thread pool): they read the registry and files.
    def model_page(name: str, version: int) -> HTMLResponse:
        return answer(render_model, name, version)

    def dataset_page(name: str) -> HTMLResponse:
        return answer(render_dataset, name)

    def compute_page(name: str) -> HTMLResponse:
        return answer(render_compute, name)

    app.add_api_route(f"{PREFIX}/models/{{name}}/{{version}}", model_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/datasets/{{name}}", dataset_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/compute/{{name}}", compute_page, methods=["GET"], include_in_schema=False)


def render_model(ws, name: str, version: int) -> str:
    from runyard.models.signature import model_signature
    from runyard.serving import store as endpoint_store

    model = ws.backend.models.get(name, version)
    title = f"{name}:{model['version']}"
    parts = [f"<h1>{e(title)}</h1>"]
    if model.get("mlflow_version"):
        parts.append(f'<div class="muted"><a href="/#/models/{e(name)}/versions/{e(str(model["mlflow_version"]))}">'
                     "open in MLflow's model registry</a></div>")
    parts.append("<h2>Model</h2>" + facts([
        ("Framework", f"{model.get('framework') or ''} {model.get('framework_version') or ''}".strip()),
        ("Registered", when(model["created_at"])), ("Description", model.get("description") or ""),
        ("Tags", ", ".join(f"{k}={v}" for k, v in sorted(model["tags"].items()))),
        ("Properties", ", ".join(f"{k}={v}" for k, v in sorted(model["properties"].items())))]))
    if model.get("run_id"):
        parts.append(f"<p>Trained by run {link(model['run_id'], 'runs', model['run_id'])}</p>")
    users = endpoint_store.endpoints_using(ws, name, model["version"])
    parts.append("<h2>Served by</h2>" + grid(
        ["endpoint", "state"], [[link(n, "endpoints", n), status(ws.backend.endpoints.get(n)["state"])] for n in users],
        f"No endpoint serves this version: Model.deploy(ws, name, [Model(ws, {name!r}, version={model['version']})], ...)."))
    path = ws.backend.models.path(model)
    signature = model_signature(path)
    if signature is not None:
        parts.append(f"<h2>Schema (signature {e(signature['name'])})</h2>" + grid(
            ["", "name", "dtype", "shape"],
            [[e(side), e(t["name"]), e(t["tensor-spec"]["dtype"]), e(str(t["tensor-spec"]["shape"]))]
             for side in ("inputs", "outputs") for t in signature[side]], ""))
    files = [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()]
    parts.append(f"<h2>Files ({len(files)})</h2>" + grid(
        [], [[e(str(p.relative_to(path.parent))), e(f"{p.stat().st_size} bytes")] for p in files[:FILES_SHOWN]],
        "No files."))
    return page(title, "\n".join(parts))


def render_dataset(ws, name: str) -> str:
    versions = ws.backend.datasets.versions(name)
    if not versions:
        ws.backend.datasets.get_by_name(name)  # (raises the not-found error naming the datasets)
    used = _runs_reading(ws, {v["registration"]["id"] for v in versions})
    rows = []
    for record in reversed(versions):
        registration = record["registration"]
        manifest = record.get("manifest") or []
        runs = used.get(registration["id"], [])
        rows.append([e(str(registration["version"])), e(when(registration["created_at"])),
                     e(str(len(manifest))), e(_size(sum(int(f.get("size") or 0) for f in manifest))),
                     e(registration.get("description") or ""),
                     e(", ".join(f"{k}={v}" for k, v in sorted((registration.get("tags") or {}).items()))),
                     " ".join(run_link(r) for r in runs[:10]) + (muted(f" and {len(runs) - 10} more") if len(runs) > 10 else "")
                     or muted("none")])
    latest = versions[-1]
    manifest = latest.get("manifest") or []
    parts = [f"<h1>{e(name)}</h1>",
             f'<div class="muted">{e(_source_text(latest["definition"]))}</div>',
             f"<h2>Versions ({len(versions)})</h2>" + grid(
                 ["version", "registered", "files", "size", "description", "tags", "read by runs"], rows, ""),
             f"<h2>Files of version {latest['registration']['version']} ({len(manifest)})</h2>" + grid(
                 ["path", "size"], [[e(f.get("path", "")), e(_size(int(f.get("size") or 0)))]
                                    for f in manifest[:FILES_SHOWN]], "No files (a dataset pinned when it is used).")]
    if len(manifest) > FILES_SHOWN:
        parts.append(muted(f"The first {FILES_SHOWN} of {len(manifest)} files."))
    return page(name, "\n".join(parts))


def _runs_reading(ws, dataset_ids: set[str]) -> dict[str, list[dict]]:
    """Registered dataset version id -> the runs that took it as an input, newest first."""
    found: dict[str, list[dict]] = {}
    for record in sorted(ws.backend.runs.list(), key=lambda r: r["created_at"], reverse=True):
        for spec in record["spec"].get("inputs") or []:
            dataset_id = (spec.get("dataset") or {}).get("id")
            if dataset_id in dataset_ids:
                found.setdefault(dataset_id, []).append(record)
    return found


def _source_text(definition: dict) -> str:
    from runyard.data.sources import describe_source

    return "Files from " + ", ".join(describe_source(s) for s in definition.get("sources") or [])


def _size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def render_compute(ws, name: str) -> str:
    target = ws.backend.compute.get(name)
    state = ws.backend.compute.status(name)
    parts = [f"<h1>{e(name)}</h1>", f"<p>{status(str(state['provisioning_state']))} "
             f"{muted(str(target.get('type', '')))}</p>"]
    for error in state.get("provisioning_errors") or []:
        parts.append(f'<div class="error">{e(str(error["error"]["message"]))}</div>')
    parts.append("<h2>Target</h2>" + facts([
        ("Address", state.get("address") or ""), ("Nodes", f"{state['current_node_count']} of {state['target_node_count']}"),
        ("Created", state.get("creation_time") or "")]))
    runs = {r["run_id"]: r for r in ws.backend.runs.list() if not r["status"].is_terminal() and r["target"] == name}
    nodes = ws.backend.compute.nodes(name)
    parts.append(f"<h2>Nodes ({len(nodes)})</h2>" + grid(
        ["node", "address", "state", "running"],
        [[e(n["nodeId"][:16]), e(f"{n['privateIpAddress']}:{n['port']}"), status(n["nodeState"]),
          run_link(runs[n["runId"]]) if n.get("runId") in runs else e(n.get("runId") or "")] for n in nodes],
        "No nodes: the target is not running."))
    parts.append("<h2>Runs on it now</h2>" + grid(
        ["run", "status", "experiment"], [[run_link(r), status(r["status"].value), e(r["experiment"])] for r in runs.values()],
        "None."))
    return page(name, "\n".join(parts))
