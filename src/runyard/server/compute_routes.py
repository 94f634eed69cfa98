"""Compute target routes: create, attach, list, status, nodes and delete run on the server,
which holds the clusters' tokens and whose supervisors connect to them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from runyard.errors import UserErrorException


def add_routes(router: APIRouter, ws) -> None:
    from runyard.compute import store
    from runyard.compute.configs import AmlComputeProvisioningConfiguration, RayAttachConfiguration
    from runyard.compute.remote import public

    targets = ws.backend.compute

    @router.get("/compute")
    def list_targets():
        return [public(record) for record in targets.list()]

    @router.get("/compute/one")
    def get_target(name: str):
        return public(targets.get(name))

    @router.post("/compute")
    async def create(request: Request):
        body = await request.json()
        try:
            config = AmlComputeProvisioningConfiguration(**body["provisioning"])
            name = body["name"]
        except (TypeError, KeyError) as exc:
            raise UserErrorException(
                "POST /compute takes {name, provisioning: AmlCompute.provisioning_configuration "
                f"fields}}: {exc!r}") from None
        store.validate_name(name)
        config.validate()
        await run_in_threadpool(targets.create, name, config)
        return public(targets.get(name))

    @router.post("/compute/attach")
    async def attach(request: Request):
        body = await request.json()
        try:
            config = RayAttachConfiguration(address=body["address"], auth_token=body.get("auth_token"))
            name = body["name"]
        except (TypeError, KeyError) as exc:
            raise UserErrorException(f"POST /compute/attach takes {{name, address, auth_token}}: {exc!r}") from None
        store.validate_name(name)
        await run_in_threadpool(targets.attach, name, config)
        return public(targets.get(name))

    @router.get("/compute/status")
    def status(name: str):
        return targets.status(store.validate_name(name))

    @router.get("/compute/nodes")
    def nodes(name: str):
        return targets.nodes(store.validate_name(name))

    @router.delete("/compute/one")
    def delete(name: str):
        targets.delete(store.validate_name(name))
        return {"deleted": name}
