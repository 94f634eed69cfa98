"""`runyard ui`: the MLflow UI on the workspace (runs, metrics, tags, artifacts, models)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import click

from runyard.cli.common import workspace, workspace_option


def ui_command(ws, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", ws.tracking_uri,
            "--default-artifact-root", ws.artifacts_dir.as_uri(), "--host", host,
            "--port", str(port), "--workers", "1"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=5000, show_default=True, help="Port to listen on.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@workspace_option
def ui(host, port, no_browser, workspace_config):
    """Serve the MLflow UI on this workspace until Ctrl-C."""
    from runyard.errors import UserErrorException

    if importlib.util.find_spec("mlflow.server") is None or \
            importlib.util.find_spec("mlflow.server.js") is None and not _has_ui_assets():
        raise UserErrorException(
            "The MLflow UI is not installed (mlflow-skinny has no UI). Install it with: "
            "pip install 'runyard[ui]'")
    ws = workspace(workspace_config)
    url = f"http://{host}:{port}"
    click.echo(f"MLflow UI for workspace {ws.name!r} ({ws.location}) at {url}  (Ctrl-C stops it)")
    if not no_browser:
        import threading
        import webbrowser

        threading.Timer(3.0, webbrowser.open, args=(url,)).start()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(ui_command(ws, host, port), env=env)
    try:
        sys.exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)


def _has_ui_assets() -> bool:
    import mlflow

    return os.path.isdir(os.path.join(os.path.dirname(mlflow.__file__), "server", "js", "build"))
