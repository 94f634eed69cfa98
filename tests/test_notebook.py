"""Notebooks: a real notebook executed by a real Jupyter kernel (nbclient) submits a run, shows
RunDetails while it trains, logs interactively with start_logging, and shows runyard's objects
as HTML; the widget state the kernel produced holds the run's status and metrics. The notebook
is then rendered to HTML with that state (nbconvert) and opened in headless Chromium, with the
widget renderer served from this machine (scripts/bootstrap.sh fetched it)."""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import threading
from pathlib import Path

import pytest

from browser import shot, wait_for_text

pytestmark = pytest.mark.notebook

RENDERER = Path(sys.prefix) / "share" / "runyard-tests" / "widget-renderer"

TRAIN = """
import time
from runyard.core import Run
run = Run.get_context()
for epoch in range(20):
    run.log("loss", 1.0 / (epoch + 1))
    print(f"epoch {epoch}", flush=True)
    time.sleep(0.4)
"""


def _cells(source: Path) -> list[str]:
    return [
        "from runyard.core import Experiment, ScriptRunConfig, Workspace\n"
        "from runyard.widgets import RunDetails\n"
        "ws = Workspace.from_config()",
        f"run = Experiment(ws, 'notebook').submit(ScriptRunConfig({str(source)!r}, script='train.py'))\n"
        "details = RunDetails(run)\n"
        "details.show()",
        "import time\n"  # the widget follows the run while it trains
        "deadline = time.time() + 60\n"
        "while 'epoch 2' not in details.widget.value and time.time() < deadline:\n"
        "    time.sleep(0.1)\n"
        "print('LIVE', run.get_status(), 'epoch 2' in details.widget.value)",
        "run.wait_for_completion()\n"
        "data = details.refresh()\n"
        "print('STATUS', data['status'], sorted(data['metrics']), len(data['metrics']['loss']))",
        "with Experiment(ws, 'notebook').start_logging(outputs=False) as interactive:\n"
        "    interactive.log('accuracy', 0.93)\n"
        "print('INTERACTIVE', interactive.get_status(), interactive.get_metrics())",
        "run",
    ]


def _serve(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_notebook_shows_run_details_logs_interactively_and_renders(ws, src, tmp_path, browser):
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    assert (RENDERER / "embed-amd.js").is_file(), "run scripts/bootstrap.sh: it fetches the widget renderer"
    src.write("train.py", TRAIN)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in _cells(src.path)])
    NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.outputs for cell in notebook.cells]

    text = "".join(o.get("text", "") for cell in outputs for o in cell if o.output_type == "stream")
    assert "LIVE Running True" in text
    assert "STATUS Completed ['loss'] 20" in text
    assert "INTERACTIVE Completed {'accuracy': 0.93}" in text
    view = next(o for o in outputs[1] if o.output_type == "display_data")
    model_id = view.data["application/vnd.jupyter.widget-view+json"]["model_id"]
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = state[model_id]["state"]["value"]  # what the kernel's widget holds at the end
    assert "Completed" in shown and 'aria-label="loss"' in shown and "20 points" in shown and "epoch 19" in shown
    run_html = next(o for o in outputs[5] if o.output_type == "execute_result").data["text/html"]
    assert "Link to runyard" in run_html and "/runyard/runs/notebook_" in run_html

    exporter = HTMLExporter(widget_renderer_url="renderer/embed-amd.js", require_js_url="renderer/require.js",
                            mathjax_url="")
    page, _ = exporter.from_notebook_node(notebook)
    site = tmp_path / "site"
    site.mkdir()
    (site / "notebook.html").write_text(page)
    shutil.copytree(RENDERER, site / "renderer")
    server = _serve(site)
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/notebook.html")
        wait_for_text(browser, "20 points")  # the widget, drawn from the saved state
        shot(browser, "12-notebook-run-details")
    finally:
        server.shutdown()
        server.server_close()


def test_html_reprs_link_each_object_to_its_page(ws, src, tmp_path):
    from runyard.core import Experiment, Model, ScriptRunConfig

    src.write("train.py", "print('done')")
    run = Experiment(ws, "reprs").submit(ScriptRunConfig(str(src.path), script="train.py"))
    run.wait_for_completion()
    assert "Runs in MLflow" in Experiment(ws, "reprs")._repr_html_()
    assert "#/experiments/" in Experiment(ws, "reprs")._repr_html_()
    assert "no runs yet" in Experiment(ws, "empty")._repr_html_()
    assert ws.name in ws._repr_html_() and "/runyard/" in ws._repr_html_()
    (tmp_path / "w.json").write_text("{}")
    model = Model.register(ws, str(tmp_path / "w.json"), "weights", description="<b>not bold</b>")
    shown = model._repr_html_()
    assert "/runyard/models/weights/1" in shown and "<td>weights</td>" in shown
    run.display_name = "<i>first</i>"
    assert "<td>&lt;i&gt;first&lt;/i&gt;</td>" in run._repr_html_() and run.id in run._repr_html_()
