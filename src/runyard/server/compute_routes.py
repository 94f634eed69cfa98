"""Compute target routes: create, attach, list, status, nodes and delete run on the server,
which holds the clusters' tokens and whose supervisors connect to them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from runyard.errors import UserErrorException


def add_routes(router: APIRouter, ws) -> None:
    from runyard.compute import remote, store
    from runyard.compute.targets import (
        AmlComputeProvisioningConfiguration,
        ComputeTarget,
        RayAttachConfiguration,
    )

    def target(name: str) -> ComputeTarget:
        store.validate_name(name)
        return ComputeTarget(ws, name)

    @router.get("/compute")
    def list_targets():
        return [remote.public(record) for record in store.list_all(ws)]

    @router.get("/compute/one")
    def get_target(name: str):
        return remote.public(store.get(ws, name))

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
        await run_in_threadpool(ComputeTarget.create, ws, name, config)
        return remote.public(store.get(ws, name))

    @router.post("/compute/attach")
    async def attach(request: Request):
        body = await request.json()
        try:
            config = RayAttachConfiguration(address=body["address"], auth_token=body.get("auth_token"))
            name = body["name"]
        except (TypeError, KeyError) as exc:
            raise UserErrorException(f"POST /compute/attach takes {{name, address, auth_token}}: {exc!r}") from None
        await run_in_threadpool(ComputeTarget.attach, ws, name, config)
        return remote.public(store.get(ws, name))

    @router.get("/compute/status")
    def status(name: str):
        return vars(target(name).get_status())

    @router.get("/compute/nodes")
    def nodes(name: str):
        return target(name).list_nodes()

    @router.delete("/compute/one")
    def delete(name: str):
        target(name).delete()
        return {"deleted": name}
