"""Snapshots of a source directory: ignore files, size limits, content-addressed storage.

A snapshot is a manifest (path -> content hash, mode) stored under its own hash; file
contents are stored once per hash, so an unchanged file costs nothing on the next submit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pathspec

from runyard.errors import SnapshotException

MAX_BYTES = int(os.environ.get("RUNYARD_SNAPSHOT_MAX_MB", "300")) * 1024 * 1024
MAX_FILES = int(os.environ.get("RUNYARD_SNAPSHOT_MAX_FILES", "2000"))
# .amlignore wins over .runyardignore, which wins over .gitignore (v1: .amlignore > .gitignore).
IGNORE_FILES = (".amlignore", ".runyardignore", ".gitignore")
ALWAYS_IGNORED = [".git/", "__pycache__/", "*.pyc"]


@dataclass(frozen=True)
class SnapshotFile:
    path: str  # posix path relative to the source directory
    size: int
    mode: int


def ignore_spec(source_dir: Path) -> tuple[pathspec.GitIgnoreSpec, str | None]:
    """The ignore rules of a source directory and the name of the file they came from."""
    for name in IGNORE_FILES:
        candidate = source_dir / name
        if candidate.is_file():
            lines = candidate.read_text().splitlines()
            return pathspec.GitIgnoreSpec.from_lines(ALWAYS_IGNORED + lines), name
    return pathspec.GitIgnoreSpec.from_lines(ALWAYS_IGNORED), None


def collect(source_dir: Path) -> list[SnapshotFile]:
    """Files of the source directory that the ignore rules keep, checked against the limits."""
    spec, _ = ignore_spec(source_dir)
    files: list[SnapshotFile] = []
    for root, dirs, names in os.walk(source_dir):
        rel_root = Path(root).relative_to(source_dir)
        # Prune ignored folders early: a venv or a data folder is never walked.
        dirs[:] = [d for d in dirs if not spec.match_file((rel_root / d).as_posix() + "/")]
        for name in names:
            rel = (rel_root / name).as_posix()
            full = Path(root) / name
            if spec.match_file(rel) or not full.is_file():
                continue
            st = full.stat()
            files.append(SnapshotFile(rel, st.st_size, st.st_mode & 0o777))
    _check_limits(source_dir, files)
    return files


def _check_limits(source_dir: Path, files: list[SnapshotFile]) -> None:
    total = sum(f.size for f in files)
    if total <= MAX_BYTES and len(files) <= MAX_FILES:
        return
    by_entry: dict[str, list[int]] = {}
    for f in files:
        top = f.path.split("/", 1)[0] + ("/" if "/" in f.path else "")
        entry = by_entry.setdefault(top, [0, 0])
        entry[0] += f.size
        entry[1] += 1
    biggest = sorted(by_entry.items(), key=lambda kv: (kv[1][0], kv[1][1]), reverse=True)[:5]
    listing = "; ".join(f"{name} ({_mb(size)}, {count} files)" for name, (size, count) in biggest)
    _, ignore_name = ignore_spec(source_dir)
    where = (f"add them to {source_dir / ignore_name}" if ignore_name
             else f"list them in {source_dir / '.amlignore'} (or .runyardignore, gitignore syntax)")
    raise SnapshotException(
        f"The snapshot of {source_dir} is {_mb(total)} in {len(files)} files; the limits are "
        f"{_mb(MAX_BYTES)} and {MAX_FILES} files. Biggest entries: {listing}. Keep data and "
        f"environments out of the source directory: {where}, or pass data as a dataset."
    )


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def take(source_dir: Path, store: Path) -> str:
    """Snapshot `source_dir` into `store`; returns the snapshot id (the manifest's hash)."""
    files = collect(source_dir)
    blobs = store / "blobs"
    entries = []
    for f in sorted(files, key=lambda f: f.path):
        digest = _hash_file(source_dir / f.path)
        blob = blobs / digest[:2] / digest
        if not blob.exists():
            blob.parent.mkdir(parents=True, exist_ok=True)
            tmp = blob.with_name(f".{digest}.{uuid.uuid4().hex}")
            shutil.copyfile(source_dir / f.path, tmp)
            tmp.replace(blob)  # atomic: a blob is complete or absent
        entries.append({"path": f.path, "sha256": digest, "size": f.size, "mode": f.mode})
    manifest = json.dumps({"files": entries}, sort_keys=True).encode()
    snapshot_id = hashlib.sha256(manifest).hexdigest()
    target = store / "manifests" / f"{snapshot_id}.json"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{snapshot_id}.{uuid.uuid4().hex}")
        tmp.write_bytes(manifest)
        tmp.replace(target)
    return snapshot_id


def manifest(store: Path, snapshot_id: str) -> list[dict]:
    return json.loads((store / "manifests" / f"{snapshot_id}.json").read_text())["files"]


def restore(store: Path, snapshot_id: str, target: Path) -> None:
    """Materialise a snapshot as plain files (copies: the job may edit them freely)."""
    for entry in manifest(store, snapshot_id):
        dest = target / entry["path"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store / "blobs" / entry["sha256"][:2] / entry["sha256"], dest)
        os.chmod(dest, entry["mode"])
