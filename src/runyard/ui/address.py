"""Where a workspace's pages are served: `runyard ui` records its address in the workspace
(`ui.json`, removed when it stops), a team server's workspace is its server. Runs print their
page's address from here (`run.get_portal_url()`, v1's "Web View")."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT = "http://127.0.0.1:5000"  # where a plain `runyard ui` serves


def _marker(ws) -> Path:
    return Path(ws.folder) / "ui.json"


def record_served(ws, url: str) -> Path:
    marker = _marker(ws)
    tmp = marker.with_name(f".ui.json.{os.getpid()}")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    tmp.replace(marker)
    return marker


def forget_served(ws) -> None:
    marker = _marker(ws)
    try:
        if json.loads(marker.read_text()).get("pid") == os.getpid():
            marker.unlink()
    except (OSError, ValueError):
        pass


def served_url(ws) -> str | None:
    """The address of the UI serving this workspace now, or None."""
    server = getattr(ws, "server_url", None)
    if server:
        return server
    try:
        found = json.loads(_marker(ws).read_text())
        os.kill(int(found["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(found["url"])


def page(ws, *segments) -> str:
    """One of runyard's pages (`page(ws, "runs", run_id)`): on the UI serving the workspace, else
    where `runyard ui` would serve it."""
    from runyard.ui.layout import href

    return f"{(served_url(ws) or DEFAULT).rstrip('/')}{href(*segments)}"


def mlflow_page(ws, fragment: str) -> str:
    """A page of MLflow's UI on the same server (`#/experiments/<id>`)."""
    return f"{(served_url(ws) or DEFAULT).rstrip('/')}/{fragment}"


def run_page(ws, run_id: str) -> str:
    return page(ws, "runs", run_id)
