"""What MLflow's model registry shows of a registered version: an `MLmodel` file beside the
registered file or folder (MLflow's UI reads the version's schema from `<source>/MLmodel`), and a
description that links to the version's runyard page (the endpoints serving it change after
registration; that page reads them live).

The MLmodel names a `runyard` flavor only: it describes the files, it does not make them loadable
with `mlflow.pyfunc`. A folder that already is an MLflow model keeps its own MLmodel.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

MLMODEL = "MLmodel"


def write(version_folder: Path, asset: str, framework: str | None) -> bool:
    """Write `version_folder/MLmodel` for the registered `asset` in it; False when the version's
    MLflow source should stay the asset itself (it is an MLflow model, or named MLmodel)."""
    from runyard.models.signature import model_signature

    path = version_folder / asset
    if asset == MLMODEL or (path / MLMODEL).is_file():
        return False
    description: dict = {"artifact_path": asset,
                         "flavors": {"runyard": {"asset": asset, "framework": framework or "Custom"}}}
    signature = model_signature(path)
    if signature is not None:
        description["flavors"]["runyard"]["signature_name"] = signature["name"]
        description["signature"] = {"inputs": json.dumps(signature["inputs"])}
        if signature["outputs"]:  # (MLflow refuses an empty list: a Keras file's outputs are unknown)
            description["signature"]["outputs"] = json.dumps(signature["outputs"])
    # JSON is YAML: MLflow and its UI read the file with a YAML parser.
    (version_folder / MLMODEL).write_text(json.dumps(description, indent=2) + "\n")
    return True


def page_path(name: str, version: int) -> str:
    return f"/runyard/models/{quote(name)}/{version}"


def description(user_description: str | None, name: str, version: int) -> str:
    link = f"[Endpoints serving this version, its files and run: its runyard page]({page_path(name, version)})"
    return f"{user_description}\n\n{link}" if user_description else link
