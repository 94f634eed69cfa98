"""MLflow's UI page, made to open on runs: MLflow 3 starts a browser that has never chosen in
its GenAI view (traces, prompts, an assistant), where runs and registered models hide behind a
toggle. Its page is served here with a few lines that, in a browser that has not chosen yet,
choose the model-training view (MLflow keeps the choice in localStorage, key
`mlflow.workflowType_v1`), keep the assistant panel closed, and open the experiments rather
than the welcome page. A user who switches to GenAI keeps that choice. Nothing is fetched from
elsewhere."""

from __future__ import annotations

import functools
import json
import os

WORKFLOW_KEY = "mlflow.workflowType_v1"
# What a browser that has not chosen gets (MLflow's localStorage keys: `<key>_v<version>`,
# JSON values): the model-training view, and the assistant panel closed (it would otherwise
# open by itself and take a quarter of the screen).
DEFAULTS = {WORKFLOW_KEY: "machine_learning", "mlflow.assistant.panelOpen_v1": False,
            "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True}

_SCRIPT = (
    "<script>(function(){try{"
    f"var d={json.dumps(DEFAULTS, separators=(',', ':'))};"
    "for(var k in d){if(localStorage.getItem(k)===null)localStorage.setItem(k,JSON.stringify(d[k]));}"
    "}catch(e){}"
    "if(!location.hash||location.hash==='#/'||location.hash==='#')location.replace('#/experiments');"
    "})();</script>")


@functools.lru_cache(maxsize=1)
def page() -> bytes:
    """MLflow's index.html with the script first in its head."""
    import mlflow

    path = os.path.join(os.path.dirname(mlflow.__file__), "server", "js", "build", "index.html")
    with open(path, "rb") as fh:
        html = fh.read()
    head = html.find(b"<head>")
    if head < 0:
        return _SCRIPT.encode() + html
    cut = head + len(b"<head>")
    return html[:cut] + _SCRIPT.encode() + html[cut:]


def add_route(app) -> None:
    """GET / answers the page (ahead of MLflow's own catch-all, which must come after)."""
    from fastapi.responses import Response

    async def index() -> Response:
        return Response(page(), media_type="text/html", headers={"cache-control": "no-cache"})

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
