"""runyard's own pages beside MLflow's UI (same port, linked both ways), for what MLflow has no
page for: a run's live output and lifecycle timeline, its snapshot, inputs and child runs.

`/runyard/runs/<run id>` is the page (`?log=` picks the log it follows: the output, a process's
output in a distributed job, the Preparing log); `/runyard/api/runs/<run id>/log?log=..&offset=N`
gives that log from byte N on (what the page polls while the run is going, as `runyard runs
logs -f` follows it); `/runyard/runs/<run id>/snapshot/<path>` a file of the code that ran. Pages are plain HTML with a few lines of script: nothing is fetched from
elsewhere. In team mode they sit behind the server's token guard like every other route.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from runyard.ui.layout import (
    PREFIX,
    e,
    facts,
    grid,
    href,
    link,
    not_found,
    page,
    run_link,
    status,
    when,
)

LOG_CHUNK = 256 * 1024  # bytes of output one poll returns at most
SNAPSHOT_FILE_MAX = 2 * 1024 * 1024  # bytes of a snapshot file the page shows
_PROCESS_LOG = re.compile(r"std_log_process_\d+\.txt")  # a distributed job's per-process output

_FOLLOW = """
<script>
(function(){
  var box = document.getElementById('log'), offset = 0, ended = false;
  function poll(){
    fetch('%(api)s' + 'offset=' + offset).then(function(r){ return r.json(); }).then(function(d){
      if (d.text) { box.textContent += d.text; box.scrollTop = box.scrollHeight; }
      offset = d.offset;
      document.getElementById('status').textContent = d.status;
      document.getElementById('status').className = 'status ' + d.status;
      if (d.more) { setTimeout(poll, 0); }
      else if (!d.ended) { setTimeout(poll, 1000); }
      else if (!ended) { ended = true; if (d.status !== '%(status)s') location.reload(); }
    }).catch(function(){ setTimeout(poll, 2000); });
  }
  poll();
})();
</script>
"""


def add_routes(app, ws) -> None:
    """The pages and their API, on `app` (a FastAPI app: `runyard ui`, `runyard server`)."""
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from runyard.errors import RunyardError

    # Plain functions (FastAPI runs them in its thread pool): they read the registry and files.
    def run_page(run_id: str, log: str = "std_log") -> HTMLResponse:
        try:
            return HTMLResponse(render_run(ws, run_id, log))
        except RunyardError as exc:
            return HTMLResponse(not_found(str(exc)), status_code=404)

    def run_log(run_id: str, offset: int = 0, log: str = "std_log") -> JSONResponse:
        try:
            return JSONResponse(read_log(ws, run_id, offset, log))
        except RunyardError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    def snapshot_file(run_id: str, path: str) -> Response:
        try:
            return Response(snapshot_text(ws, run_id, path), media_type="text/plain; charset=utf-8")
        except RunyardError as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")

    app.add_api_route(f"{PREFIX}/runs/{{run_id}}", run_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{PREFIX}/runs/{{run_id}}/snapshot/{{path:path}}", snapshot_file, methods=["GET"],
                      include_in_schema=False)
    app.add_api_route(f"{PREFIX}/api/runs/{{run_id}}/log", run_log, methods=["GET"], include_in_schema=False)


def read_log(ws, run_id: str, offset: int, log: str = "std_log") -> dict:
    """The run's output from byte `offset` on (at most LOG_CHUNK bytes, whole UTF-8 characters),
    its status, and whether it ended (nothing more will come)."""
    offset = max(0, offset)
    record = ws.backend.runs.get(run_id)
    path = log_path(ws, run_id, log)
    data = b""
    size = 0
    if path.exists():
        with open(path, "rb") as fh:
            fh.seek(max(0, offset))
            data = fh.read(LOG_CHUNK)
            size = fh.seek(0, 2)
    cut = len(data)
    while cut and cut > len(data) - 4 and (data[cut - 1] & 0xC0) == 0x80:
        cut -= 1  # (a character split at the chunk's end waits for the next poll)
    if cut and data[cut - 1] >= 0xC0:
        cut -= 1
    if offset + len(data) >= size:
        cut = len(data)
    text = data[:cut].decode("utf-8", errors="replace")
    status = record["status"]
    return {"text": text, "offset": offset + cut, "more": offset + cut < size,
            "status": status.value, "ended": status.is_terminal()}


def logs_of(ws, run_id: str) -> list[str]:
    """The logs a run's page can follow: its output, each process's (a distributed job), and
    the Preparing log (the environment's build, the inputs)."""
    from runyard.runs.paths import RunPaths

    paths = RunPaths.of(ws, run_id)
    processes = sorted((p.name for p in paths.user_logs.glob("std_log_process_*.txt")),
                       key=lambda name: int(re.sub(r"\D", "", name) or 0))
    return ["std_log", *processes, "preparing_log"]


def log_path(ws, run_id: str, log: str) -> Path:
    from runyard.errors import UserErrorException
    from runyard.runs.paths import RunPaths

    paths = RunPaths.of(ws, run_id)
    if log in ("std_log", "preparing_log"):
        return getattr(paths, log)
    if _PROCESS_LOG.fullmatch(log):
        return paths.user_logs / log
    raise UserErrorException(f"log is std_log, preparing_log or std_log_process_<rank>.txt. Received: {log!r}")


def snapshot_text(ws, run_id: str, path: str) -> bytes:
    """A file of the run's snapshot (the code that ran), as it was snapshotted."""
    from runyard.errors import UserErrorException
    from runyard.runs import snapshot

    record = ws.backend.runs.get(run_id)
    entry = next((f for f in _snapshot_files(ws, record["spec"].get("snapshot_id")) if f["path"] == path), None)
    if entry is None:
        raise UserErrorException(f"{path!r} is not a file of run {run_id}'s snapshot.")
    with open(snapshot.blob_path(ws.snapshots_dir, entry["sha256"]), "rb") as fh:
        data = fh.read(SNAPSHOT_FILE_MAX + 1)
    if len(data) > SNAPSHOT_FILE_MAX:
        return data[:SNAPSHOT_FILE_MAX] + f"\n... (the first {SNAPSHOT_FILE_MAX} bytes shown)".encode()
    return data


def render_run(ws, run_id: str, log: str = "std_log") -> str:
    from runyard.runs import mlflow_fields

    record = ws.backend.runs.get(run_id)
    spec, word = record["spec"], record["status"].value
    name = mlflow_fields.name_of(record)
    parts = [f"<h1>{e(name)}</h1>",
             f'<div class="muted">{e(run_id)} &middot; experiment {e(record["experiment"])} &middot; '
             f'<a href="{e(mlflow_link(record))}">open in MLflow</a></div>',
             f'<p>{status(word, "status")} <span class="muted">{e(duration_text(record))}</span></p>']
    if record.get("error"):
        error = record["error"]
        parts.append(f'<div class="error"><b>{e(str(error.get("code", "Error")))}</b>: '
                     f'{e(str(error.get("message", "")))}</div>')
    about = [("Script", " ".join([spec.get("script") or " ".join(spec.get("command") or []),
                                  *map(str, spec.get("arguments") or [])])),
             ("Compute target", str(record["target"])),
             ("Environment", mlflow_fields.environment_label(spec.get("environment"))),
             ("Processes", mlflow_fields.layout(spec.get("distribution"))),
             ("Submitted by", record["properties"].get("runyard.submittedBy", ""))]
    parts.append("<h2>Run</h2>" + facts(about))
    params = mlflow_fields.params(spec.get("arguments") or [])
    if params:
        parts.append("<h2>Parameters</h2>" + facts(sorted(params.items())))
    parts.append("<h2>Timeline</h2>" + _timeline(record))
    log_path(ws, run_id, log)  # (refused when it names no log)
    choices = " &middot; ".join(
        f"<b>{e(name)}</b>" if name == log else f'<a href="?log={quote(name)}">{e(name)}</a>'
        for name in logs_of(ws, run_id))
    parts.append(f"<h2>Output</h2><div class=\"muted\">{choices}</div><pre id=\"log\"></pre>")
    children = list(ws.backend.runs.list(parent_run_id=run_id))
    if children:
        parts.append(f"<h2>Child runs ({len(children)})</h2>" + grid(
            ["run", "status", "values"],
            [[run_link(c), status(c["status"].value), e(c["properties"].get("runyard.hyperparameters", ""))]
             for c in children], ""))
    if spec.get("inputs"):
        parts.append("<h2>Inputs</h2>" + grid(["name", "data"], [[e(i["name"]), _input_cell(i)] for i in spec["inputs"]], ""))
    files = _snapshot_files(ws, spec.get("snapshot_id"))
    if files:
        parts.append(f"<h2>Snapshot ({len(files)} files)</h2>" + grid(
            [], [[f'<a href="{href("runs", run_id, "snapshot")}/{quote(f["path"])}">{e(f["path"])}</a>',
                  e(f"{f.get('size', '')} bytes")] for f in files[:500]], ""))
    if record.get("parent_run_id"):
        parts.append(f'<p>Child of {link(record["parent_run_id"], "runs", record["parent_run_id"])}</p>')
    api = f"{href('api', 'runs', run_id, 'log')}?log={quote(log)}&"
    return page(name, "\n".join(parts) + _FOLLOW % {"api": api, "status": word})


def _input_cell(spec: dict) -> str:
    dataset = spec.get("dataset")
    if dataset and dataset.get("name"):
        return link(spec.get("label") or f"{dataset['name']}:{dataset.get('version')}", "datasets", dataset["name"])
    return e(spec.get("label", ""))


def mlflow_link(record: dict) -> str:
    return f"/#/experiments/{record.get('mlflow_experiment_id')}/runs/{record.get('mlflow_run_id')}"


def duration_text(record: dict) -> str:
    """The run's duration (mlflow_fields.ran_seconds) in words."""
    from runyard.runs.mlflow_fields import ran_seconds

    seconds, end = ran_seconds(record), record.get("end_time")
    if seconds is None:
        return "not started yet" if not end else "never ran"
    return f"ran {seconds:.1f} s" + ("" if end else " so far")


def _timeline(record: dict) -> str:
    history = record.get("history") or []
    rows = []
    for i, (word, at) in enumerate(history):
        following = history[i + 1][1] if i + 1 < len(history) else None
        rows.append([e(word), e(when(at)), e(f"{following - at:.1f} s" if following is not None else "")])
    return grid(["status", "since", "for"], rows, "")


def _snapshot_files(ws, snapshot_id: str | None) -> list[dict]:
    from runyard.runs import snapshot

    if not snapshot_id or not snapshot.is_digest(snapshot_id):
        return []
    try:
        return snapshot.manifest(ws.snapshots_dir, snapshot_id)
    except (OSError, ValueError, KeyError):
        return []
