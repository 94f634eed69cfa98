"""runyard's API on the server's port, one router module per resource, composed here. Every
route works on the server's workspace with the same functions an embedded workspace uses; the
client (client.py) turns them back into the v1 objects."""

from __future__ import annotations

from fastapi import APIRouter

from runyard.server import (
    API_PREFIX,
    compute_routes,
    data_routes,
    environment_routes,
    model_routes,
    run_routes,
    serving_routes,
    snapshot_routes,
)

RESOURCES = (run_routes, snapshot_routes, environment_routes, model_routes, compute_routes,
             data_routes, serving_routes)


def build_router(ws) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for resource in RESOURCES:
        resource.add_routes(router, ws)
    return router
