"""The HTML a notebook shows for runyard's objects (v1's `_repr_html_`: a one-row table with a
link to the object's page). Plain strings, no third-party import; a value that cannot be read
(a server gone, a record deleted) shows as an error cell instead of breaking the notebook."""

from __future__ import annotations

import html

_STYLE = "border-collapse:collapse;text-align:left"


def table(cells: list[tuple[str, object]]) -> str:
    """(column, value) pairs; a value that is a (text, url) pair becomes a link (new tab)."""
    head = "".join(f"<th>{html.escape(column)}</th>" for column, _ in cells)
    row = "".join(f"<td>{_cell(value)}</td>" for _, value in cells)
    return f'<table style="{_STYLE}"><tr>{head}</tr><tr>{row}</tr></table>'


def _cell(value) -> str:
    if isinstance(value, tuple):
        text, url = value
        return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html.escape(str(text))}</a>'
    return html.escape("" if value is None else str(value))


def safely(render, fallback: str) -> str:
    """`render()`, or the plain repr with the reason when it cannot be built now."""
    try:
        return render()
    except Exception as exc:  # noqa: BLE001  a notebook's display must not raise
        return f"<pre>{html.escape(fallback)}</pre><div>({html.escape(type(exc).__name__)}: {html.escape(str(exc))})</div>"


def run(run) -> str:
    from runyard.ui import address
    from runyard.ui.pages import mlflow_link

    def render() -> str:
        return table([("Experiment", run.experiment.name), ("Id", run.id), ("Name", run.display_name),
                      ("Type", run.type), ("Status", run.get_status()),
                      ("Details Page", ("Link to runyard", run.get_portal_url())),
                      ("MLflow", ("Run in MLflow", address.mlflow_page(run._ws, mlflow_link(run._record).lstrip("/"))))])
    return safely(render, f"Run({run.id})")


def experiment(exp) -> str:
    from runyard.ui import address

    def render() -> str:
        latest = next(iter(exp.workspace.backend.runs.list(exp.name, limit=1)), None)
        report = (("Runs in MLflow", address.mlflow_page(exp.workspace, f"#/experiments/{latest['mlflow_experiment_id']}"))
                  if latest else "no runs yet")
        return table([("Name", exp.name), ("Workspace", exp.workspace.name), ("Report Page", report)])
    return safely(render, f"Experiment({exp.name})")


def workspace(ws) -> str:
    from runyard.ui import address

    return safely(lambda: table([("Name", ws.name), ("Location", ws.location),
                                 ("Console", ("Link to runyard", address.page(ws, "")))]), f"Workspace({ws.name})")


def model(m) -> str:
    from runyard.ui import address

    return safely(lambda: table([("Name", m.name), ("Version", m.version), ("Framework", m.model_framework),
                                 ("Details Page", ("Link to runyard", address.page(m.workspace, "models", m.name, m.version)))]),
                  f"Model({m.id})")


def webservice(service) -> str:
    from runyard.ui import address

    return safely(lambda: table([("Name", service.name), ("State", service.state), ("Scoring URI", service.scoring_uri),
                                 ("Details Page", ("Link to runyard", address.page(service.workspace, "endpoints", service.name)))]),
                  f"Webservice({service.name})")
