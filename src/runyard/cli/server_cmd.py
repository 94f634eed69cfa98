"""`runyard server`: serve one workspace to many machines on one port (team mode)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import click

from runyard.cli.common import workspace, workspace_option
from runyard.stores.failures import masked
from runyard.workspace.workspace import STORE_URI_ENV, without_password


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_secret_file(path: str, option: str) -> str:
    from runyard.errors import UserErrorException

    try:
        return Path(path).expanduser().read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserErrorException(f"Cannot read {option} {path}: {exc}") from None


def read_token(token_file: str | None) -> str | None:
    from runyard.errors import UserErrorException
    from runyard.server.auth import TOKEN_ENV

    if token_file:
        token = read_secret_file(token_file, "--token-file")
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if token_file and not token:
        raise UserErrorException(f"--token-file {token_file} is empty; put the workspace token in it.")
    if token and len(token) < 16:
        raise UserErrorException(
            "The workspace token must be at least 16 characters. Make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return token or None


def _has_runs(ws) -> bool:
    if not ws._stores and not (ws.folder / "runyard.db").exists():
        return False
    return next(iter(ws._registry.list_runs(limit=1)), None) is not None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=5000, show_default=True, help="Port to listen on.")
@click.option("--workspace-dir", type=click.Path(file_okay=False), default=None,
              help="The server's workspace folder (created if missing; default: the workspace "
                   "that --workspace or the current folder names).")
@click.option("--backend-store-uri", default=None, metavar="URL", envvar="RUNYARD_BACKEND_STORE_URI",
              help="Database for the run history and registry, e.g. "
                   "postgresql://user@host:5432/runyard (default: what the workspace used last, "
                   "else its SQLite files). Give a password in $RUNYARD_BACKEND_STORE_URI or "
                   "--backend-store-uri-file, not here: command lines are visible to every user.")
@click.option("--backend-store-uri-file", default=None, metavar="PATH",
              help="A file holding the database URL (with its password).")
@click.option("--artifacts-destination", default=None, metavar="URL",
              help="Where artifacts are kept: s3://bucket/prefix or a folder (default: what the "
                   "workspace used last, else its artifacts/ folder). Clients reach them through "
                   "this server.")
@click.option("--public-url", default=None, metavar="URL",
              help="The URL jobs and clients use to reach this server (default: from --host "
                   "and --port).")
@click.option("--token-file", default=None, metavar="PATH",
              help="A file holding the workspace token (default: $RUNYARD_SERVER_TOKEN).")
@click.option("--no-token", is_flag=True,
              help="Serve without a token on a non-loopback address (anyone who reaches the "
                   "port can use the workspace).")
@workspace_option
def server(host, port, workspace_dir, backend_store_uri, backend_store_uri_file,
           artifacts_destination, public_url, token_file, no_token, workspace_config):
    """Serve this workspace on one port: MLflow's tracking and model registry API and UI, and
    runyard's API for submitting and following runs. Clients name the server in config.json:
    {"workspace_name": "team", "server_url": "http://HOST:PORT"} and send the token in
    RUNYARD_WORKSPACE_TOKEN."""
    from runyard.errors import UserErrorException
    from runyard.workspace import Workspace

    token = read_token(token_file)
    if backend_store_uri_file:
        backend_store_uri = read_secret_file(backend_store_uri_file, "--backend-store-uri-file")
    if token is None and not _is_loopback(host) and not no_token:
        raise UserErrorException(
            f"Serving on {host} without a workspace token would open the workspace to anyone "
            "who can reach the port. Set RUNYARD_SERVER_TOKEN (or --token-file), or pass "
            "--no-token to accept that.")
    if workspace_dir:
        folder = Path(workspace_dir).expanduser().resolve()
        ws = Workspace(workspace_name=folder.name, location=folder)
    else:
        ws = workspace(workspace_config)
    stores = ws._stores
    backend = backend_store_uri or stores.get("backend_store_uri")
    if backend and not backend.startswith(("postgresql", "sqlite:", "mysql")):
        raise UserErrorException(
            "--backend-store-uri takes a database URL such as "
            f"postgresql://user:password@host:5432/runyard. Received: {masked(backend)}")
    if backend and backend != without_password(backend) and not backend_store_uri_file and \
            os.environ.get(STORE_URI_ENV) != backend:
        click.echo("Warning: the database password is on the command line, where every user of "
                   f"this machine can read it; set {STORE_URI_ENV} or use --backend-store-uri-file.",
                   err=True)
    stored = stores.get("backend_store_uri")
    if (backend and without_password(backend)) != (stored and without_password(stored)) and _has_runs(ws):
        raise UserErrorException(
            f"Workspace {ws.name!r} keeps its runs in {masked(ws.tracking_uri)}; serving it from "
            f"{masked(backend or 'its SQLite files')} would leave them behind. Start the server "
            "with the same --backend-store-uri, or use a new --workspace-dir.")
    destination = artifacts_destination or stores.get("artifacts_destination") \
        or ws.artifacts_dir.as_uri()
    if "://" not in destination:
        destination = Path(destination).expanduser().resolve().as_uri()
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = (public_url or f"http://{connect_host}:{port}").rstrip("/")
    if backend:  # for the processes this server starts (supervisors, endpoints): not on disk
        os.environ[STORE_URI_ENV] = backend
    ws.configure_stores(backend, destination, url)
    ws._registry.get_meta("schema")  # create runyard's tables now, not on the first request

    import warnings

    # MLflow's app mounts Flask through Starlette's WSGI adapter, which warns on import.
    warnings.filterwarnings("ignore", message="starlette.middleware.wsgi is deprecated")
    from runyard.server.app import create_app

    app = create_app(ws, token)
    click.echo(f"runyard server for workspace {ws.name!r} ({ws.location}) at {url}")
    click.echo(f"  run history: {masked(ws.tracking_uri)}")
    click.echo(f"  artifacts:   {masked(destination)}")
    click.echo("  token:       " + ("required" if token else "none (loopback only)" if not no_token
                                   else "none (--no-token)"))
    click.echo(f'  clients:     config.json {{"workspace_name": "{ws.name}", "server_url": "{url}"}}')
    import uvicorn

    from runyard import httpd
    from runyard.execution.processes import keep_environment_private

    httpd.harden_process()
    keep_environment_private()  # it holds the token and the database password
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                **httpd.uvicorn_options())
