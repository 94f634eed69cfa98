"""Helpers shared by the command groups."""

from __future__ import annotations

import sys

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


STATUS_COLOURS = {"Completed": "green", "Succeeded": "green", "Healthy": "green", "Failed": "red",
                  "Unhealthy": "red", "Canceled": "yellow", "Running": "cyan", "Transitioning": "cyan"}


def print_table(header: list[str], rows: list[list], status_column: int | None = None) -> None:
    """Every command's table: aligned columns with full values and one line per row, also when
    piped (`| grep Failed` sees whole rows; nothing is cut or wrapped); status words coloured on
    a terminal only."""
    cells = [[str(h).upper() for h in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    colour = sys.stdout.isatty()
    for index, row in enumerate(cells):
        parts = []
        for i, cell in enumerate(row):
            text = cell.ljust(widths[i]) if i < len(row) - 1 else cell
            if colour and index and i == status_column and cell in STATUS_COLOURS:
                text = click.style(text, fg=STATUS_COLOURS[cell])
            elif colour and index == 0:
                text = click.style(text, bold=True)
            parts.append(text)
        click.echo("  ".join(parts).rstrip())


def stopped_following(run_id: str) -> str:
    """What Ctrl-C while following a run says: the run goes on, and the commands for it."""
    return (f"Stopped following; run {run_id} goes on. Follow it again with `runyard runs logs -f "
            f"{run_id}`, stop it with `runyard runs cancel {run_id}`.")
