"""The server's ASGI application: MLflow's own app (tracking and registry REST, the artifact
proxy, the UI) with runyard's routes placed ahead of its catch-all, behind the token guard."""

from __future__ import annotations

import os
import sys

from runyard.server.auth import TokenGuard


def configure_mlflow(ws) -> None:
    """Point MLflow's server code at the workspace's stores (it reads these at import and per
    request); artifacts are always proxied, so clients need no access to the store itself."""
    from mlflow.server.constants import ARTIFACTS_DESTINATION_ENV_VAR, SERVE_ARTIFACTS_ENV_VAR

    from runyard.ui.app import point_mlflow_at

    point_mlflow_at(ws)
    os.environ[SERVE_ARTIFACTS_ENV_VAR] = "true"
    os.environ[ARTIFACTS_DESTINATION_ENV_VAR] = ws._stores["artifacts_destination"]


# Request bodies: what each route may receive, and which keep theirs in memory (JSON routes)
# rather than spooling it to disk or streaming it on (uploads, artifacts, scoring).
JSON_BODY_LIMIT = 64 * 1024 * 1024
IN_MEMORY_BUDGET = 256 * 1024 * 1024  # JSON bodies held at once, across requests


def body_limit(scope) -> tuple[int, bool]:
    from runyard import settings
    from runyard.runs import snapshot
    from runyard.server import API_PREFIX
    from runyard.server.auth import SCORING_PREFIX
    from runyard.serving.server import MAX_BODY

    path, method = scope["path"], scope["method"]
    if path.startswith(SCORING_PREFIX):
        return MAX_BODY, False
    if method == "PUT" and path.startswith(f"{API_PREFIX}/snapshots/"):
        return snapshot.MAX_UPLOAD, False
    if (method, path) in (("POST", f"{API_PREFIX}/models"), ("PUT", f"{API_PREFIX}/datastores/files")) \
            or path.startswith("/api/2.0/mlflow-artifacts/"):
        return settings.upload_max_bytes(), False
    return JSON_BODY_LIMIT, True


def create_app(ws, token: str | None):
    configure_mlflow(ws)
    from fastapi.responses import Response
    from mlflow.server.fastapi_app import create_fastapi_app

    from runyard import httpd
    from runyard.errors import RunyardError
    from runyard.server.codes import ErrorCode
    from runyard.server.responses import error, error_response
    from runyard.server.routes import build_router
    from runyard.server.serving_routes import build_proxy
    from runyard.ui.app import add_runyard_pages

    app = create_fastapi_app()
    app.include_router(build_router(ws))
    app.include_router(build_proxy(ws))
    add_runyard_pages(app, ws)

    @app.exception_handler(RunyardError)
    async def runyard_error(_request, exc: RunyardError) -> Response:
        return error_response(exc)

    # A body over its limit, too slow, or no room for it now; raised while a route reads it
    # (wrapped in a group when a middleware's task group read it for the route).
    groups = (ExceptionGroup,) if sys.version_info >= (3, 11) else ()  # noqa: F821
    for limit in (*httpd.STATUS, *groups):
        @app.exception_handler(limit)
        async def refused(_request, exc) -> Response:
            found = httpd.limit_error(exc)
            if found is None:
                raise exc
            response = error(ErrorCode.REQUEST_REFUSED, str(found))
            response.status_code = httpd.STATUS[type(found)]
            response.headers["connection"] = "close"
            return response

    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    from runyard.stores.failures import store_error

    @app.exception_handler(DBAPIError)
    async def database_failed(_request, exc: DBAPIError) -> Response:
        # PostgreSQL down or restarting: say so (as MLflow's routes do), not a bare 500.
        unavailable = isinstance(exc, (OperationalError, InterfaceError))
        return error(ErrorCode.TEMPORARILY_UNAVAILABLE if unavailable else ErrorCode.INTERNAL_ERROR,
                     str(store_error(exc, "The server's database")))

    limited = httpd.BodyLimits(app, body_limit, httpd.InFlight(IN_MEMORY_BUDGET))
    return TokenGuard(limited, token, run_active=lambda run_id: _run_active(ws, run_id))


def _run_active(ws, run_id: str) -> bool:
    record = ws._registry.find_run(run_id)
    return record is not None and not record["status"].is_terminal()
