"""`runyard ui`'s application: MLflow's own server app (tracking and registry REST, artifacts,
the UI) on the workspace's stores, in this process, with MLflow's page opening on runs."""

from __future__ import annotations

import os


def point_mlflow_at(ws) -> None:
    """MLflow's server code reads its stores from these, at import and per request."""
    from mlflow.server.constants import (
        ARTIFACT_ROOT_ENV_VAR,
        BACKEND_STORE_URI_ENV_VAR,
        REGISTRY_STORE_URI_ENV_VAR,
    )

    os.environ[BACKEND_STORE_URI_ENV_VAR] = ws.tracking_uri
    os.environ[REGISTRY_STORE_URI_ENV_VAR] = ws.tracking_uri
    os.environ[ARTIFACT_ROOT_ENV_VAR] = ws.artifact_root_uri


def create_app(ws):
    point_mlflow_at(ws)
    from mlflow.server.fastapi_app import create_fastapi_app

    from runyard.ui import console, index, pages

    app = create_fastapi_app()
    index.add_route(app)
    pages.add_routes(app, ws)
    console.add_routes(app, ws)
    move_catch_all_last(app)
    return app


def move_catch_all_last(app) -> None:
    """MLflow mounts its Flask app at "/" and routes match in order: runyard's go first."""
    from starlette.routing import Mount

    routes = app.router.routes
    for route in [r for r in routes if isinstance(r, Mount) and r.path == ""]:
        routes.remove(route)
        routes.append(route)
