"""Helpers shared by the command groups."""

from __future__ import annotations

import click


def workspace(config: str | None):
    from runyard.workspace import Workspace

    return Workspace.from_config(path=config) if config else Workspace.from_config()


workspace_option = click.option(
    "--workspace", "-w", "workspace_config", metavar="PATH", default=None,
    help="A workspace config.json, or a folder to search upward from "
         "(default: the current folder, else the default workspace).")


def get_run(ws, run_id: str):
    from runyard.runs.run import Run

    return Run.get(ws, run_id)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def key_values(pairs, option: str) -> dict[str, str]:
    """KEY=VALUE option values as a dict."""
    from runyard.errors import UserErrorException

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserErrorException(f"{option} takes KEY=VALUE. Received: {pair!r}")
        out[key] = value
    return out
