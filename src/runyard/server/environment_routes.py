"""Registered environments (names travel as query parameters: they may hold any character)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from runyard.errors import UserErrorException


def add_routes(router: APIRouter, ws) -> None:
    store = ws.backend.environments

    @router.get("/environments")
    def list_environments():
        return store.latest_all()

    @router.get("/environments/one")
    def get_environment(name: str, version: str | None = None):
        definition, found = store.get(name, version)
        return {"definition": definition, "version": found}

    @router.post("/environments")
    async def register_environment(name: str, request: Request):
        from runyard.environments.environment import Environment

        definition = await request.json()
        try:
            Environment.from_definition(definition)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            raise UserErrorException(
                f"POST /environments takes an environment definition (Environment.definition()): {exc!r}") from None
        version = await run_in_threadpool(store.register, name, definition)
        return {"version": version}
