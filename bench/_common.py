"""Helpers for the benchmark scripts: an isolated workspace and simple statistics."""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path


def isolated_home() -> Path:
    """Point RUNYARD_HOME, TMPDIR and KERAS_HOME at a fresh folder for this benchmark run."""
    root = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    os.environ["RUNYARD_HOME"] = str(root / "home")
    (root / "tmp").mkdir()
    os.environ["TMPDIR"] = str(root / "tmp")
    os.environ["KERAS_HOME"] = str(root / "keras")
    tempfile.tempdir = str(root / "tmp")
    return root


def source_folder(root: Path, script_name: str, body: str) -> Path:
    """A source directory under `root` holding one script."""
    src = root / "src"
    src.mkdir(exist_ok=True)
    (src / script_name).write_text(body)
    return src


def median(values) -> float:
    return statistics.median(values)


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n## {title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
