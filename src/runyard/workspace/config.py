"""Finding and reading config.json, the file that names a workspace (SDK v1 compatible)."""

from __future__ import annotations

import json
from pathlib import Path

from runyard.errors import UserErrorException

# Searched in each folder from the current one upward; the first found wins.
CONFIG_CANDIDATES = (".runyard/config.json", "config.json", ".azureml/config.json")
AZURE_ONLY_KEYS = ("subscription_id", "resource_group")


def find_config(start: Path, file_name: str | None = None) -> Path | None:
    """The nearest config file at or above `start`, or None."""
    candidates = (file_name,) if file_name else CONFIG_CANDIDATES
    for folder in (start, *start.parents):
        for candidate in candidates:
            found = folder / candidate
            if found.is_file():
                return found
    return None


def read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # (a file that is not UTF-8 JSON too)
        raise UserErrorException(
            f"Cannot read the workspace config {path}: {exc}. "
            "Fix the JSON or delete the file to use the default workspace."
        ) from None
    if not isinstance(data, dict) or not (data.get("location") or data.get("workspace_name")):
        raise UserErrorException(
            f"The workspace config {path} names no workspace. Expected a JSON object with "
            f'"workspace_name" and "location" (a folder). Received: {data!r}'
        )
    return data
