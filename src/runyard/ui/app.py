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

    app = create_fastapi_app()
    add_runyard_pages(app, ws)
    return app


def add_runyard_pages(app, ws) -> None:
    """runyard's pages and index on MLflow's app (`runyard ui`, `runyard server`), before
    MLflow's catch-all mount of its Flask app at "/" (routes match in order)."""
    from starlette.routing import Mount

    from runyard.ui import catalog, console, index, pages

    index.add_route(app)
    pages.add_routes(app, ws)
    console.add_routes(app, ws)
    catalog.add_routes(app, ws)

    routes = app.router.routes  # (the mount moved last)
    for route in [r for r in routes if isinstance(r, Mount) and r.path == ""]:
        routes.remove(route)
        routes.append(route)
