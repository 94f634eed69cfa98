"""Snapshot routes: which blobs the server lacks, and a snapshot's upload (checked whole)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from runyard.errors import UserErrorException
from runyard.runs import snapshot
from runyard.server.responses import spooled


def add_routes(router: APIRouter, ws) -> None:
    @router.post("/snapshots/missing")
    async def missing_blobs(request: Request):
        body = await request.json()
        blobs = body.get("blobs") if isinstance(body, dict) else None
        if not isinstance(blobs, list):
            raise UserErrorException('POST /snapshots/missing takes {"blobs": [sha256, ...]}.')
        return {"missing": [b for b in blobs if not snapshot.is_digest(b)
                            or not snapshot.blob_path(ws.snapshots_dir, b).exists()]}

    @router.put("/snapshots/{snapshot_id}")
    async def put_snapshot(snapshot_id: str, request: Request):
        with await spooled(request, ws.snapshots_dir) as spool:
            await run_in_threadpool(snapshot.store_upload, ws.snapshots_dir, snapshot_id, spool)
        return {"snapshot_id": snapshot_id}
