"""The server's ASGI application: MLflow's own app (tracking and registry REST, the artifact
proxy, the UI) with runyard's routes placed ahead of its catch-all, behind the token guard."""

from __future__ import annotations

import os

from runyard.server.auth import TokenGuard


def configure_mlflow(ws) -> None:
    """Point MLflow's server code at the workspace's stores (it reads these at import and per
    request); artifacts are always proxied, so clients need no access to the store itself."""
    from mlflow.server.constants import (
        ARTIFACT_ROOT_ENV_VAR,
        ARTIFACTS_DESTINATION_ENV_VAR,
        BACKEND_STORE_URI_ENV_VAR,
        REGISTRY_STORE_URI_ENV_VAR,
        SERVE_ARTIFACTS_ENV_VAR,
    )

    os.environ[BACKEND_STORE_URI_ENV_VAR] = ws.tracking_uri
    os.environ[REGISTRY_STORE_URI_ENV_VAR] = ws.tracking_uri
    os.environ[ARTIFACT_ROOT_ENV_VAR] = ws.artifact_root_uri
    os.environ[SERVE_ARTIFACTS_ENV_VAR] = "true"
    os.environ[ARTIFACTS_DESTINATION_ENV_VAR] = ws._stores["artifacts_destination"]


def create_app(ws, token: str | None):
    configure_mlflow(ws)
    from fastapi.responses import Response
    from mlflow.server.fastapi_app import create_fastapi_app
    from starlette.routing import Mount

    from runyard.errors import RunyardError
    from runyard.server.api import build_router, error_response
    from runyard.server.serving_routes import build_proxy

    app = create_fastapi_app()
    app.include_router(build_router(ws))
    app.include_router(build_proxy(ws))
    # MLflow mounts its Flask app at "/" and matches routes in order: runyard's go first.
    routes = app.router.routes
    catch_all = [r for r in routes if isinstance(r, Mount) and r.path == ""]
    for route in catch_all:
        routes.remove(route)
        routes.append(route)

    @app.exception_handler(RunyardError)
    async def runyard_error(_request, exc: RunyardError) -> Response:
        return error_response(exc)

    return TokenGuard(app, token)
