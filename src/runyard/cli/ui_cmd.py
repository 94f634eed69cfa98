"""`runyard ui`: the MLflow UI on the workspace (runs, metrics, params, artifacts, models),
opened in its model-training view, served by this process alone: Ctrl-C, SIGTERM or SIGHUP
stop all of it."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import socket
import warnings

import click

from runyard.cli.common import workspace, workspace_option


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=5000, show_default=True, help="Port to listen on.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@workspace_option
def ui(host, port, no_browser, workspace_config):
    """Serve the MLflow UI on this workspace until Ctrl-C."""
    from runyard.errors import UserErrorException

    if importlib.util.find_spec("mlflow.server") is None or not _has_ui_assets():
        raise UserErrorException(
            "The MLflow UI is not installed (mlflow-skinny has no UI). Install it with: "
            "pip install 'runyard[ui]'")
    ws = workspace(workspace_config)
    listening = _listen(host, port)
    # MLflow's server code warns at import about things that do not concern a user here.
    warnings.filterwarnings("ignore")
    for name in ("mlflow", "alembic", "uvicorn.error", "huey"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import uvicorn

    from runyard.ui.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(ws), log_level="error", access_log=False))
    # uvicorn stops on SIGINT and SIGTERM; a closed terminal (SIGHUP) stops it the same way.
    signal.signal(signal.SIGHUP, lambda signum, frame: server.handle_exit(signal.SIGTERM, frame))
    url = f"http://{host}:{port}"
    click.echo(f"runyard ui: workspace {ws.name!r} at {url} (Ctrl-C stops it)")
    if not no_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    from runyard.ui import address

    address.record_served(ws, url)
    try:
        server.run(sockets=[listening])
    finally:
        address.forget_served(ws)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, taken before anything starts: a taken port is told at once."""
    from runyard.errors import UserErrorException

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserErrorException(f"--host {host!r} is not an address of this machine ({exc}).") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UserErrorException(
            f"Cannot listen on {host}:{port}: {exc.strerror}. Another program (perhaps another "
            f"`runyard ui`) uses it; choose another port with --port, e.g. --port {port + 1}.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _has_ui_assets() -> bool:
    import mlflow

    return os.path.isdir(os.path.join(os.path.dirname(mlflow.__file__), "server", "js", "build"))
