"""Snapshots of a source directory: ignore files, size limits, content-addressed storage.

A snapshot is a manifest (path -> content hash, mode) stored under its own hash; file
contents are stored once per hash, so an unchanged file costs nothing on the next submit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pathspec

from runyard import archives, settings
from runyard.errors import SnapshotException, UserErrorException

MAX_BYTES = settings.snapshot_max_bytes()
MAX_FILES = settings.snapshot_max_files()
WALK_LIMIT = 100_000  # files counted before a folder is called too big without walking the rest
MAX_MANIFEST = 4 * 1024 * 1024  # bytes of manifest.json an upload may carry
MAX_UPLOAD = MAX_BYTES + MAX_MANIFEST + (MAX_FILES + 2) * 1536  # an upload archive (with headers)
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
    if source_dir.resolve() == Path(source_dir.resolve().anchor):
        raise SnapshotException(f"source_directory={str(source_dir)!r} is the file system's root: "
                                "use the folder that holds the script.")
    if not os.access(source_dir, os.R_OK | os.X_OK):
        raise SnapshotException(f"source_directory {str(source_dir)!r} cannot be read by this user. "
                                "Use the folder that holds the script.")
    spec, _ = ignore_spec(source_dir)
    # Ignored folders are pruned early (a venv or a data folder is never walked). A link to a
    # file inside the folder is copied as that file; links that point outside it or to a
    # folder are refused, naming them: the job would not see what the user sees.
    try:
        found = archives.plain_files(
            source_dir, "The source directory", links_inside=True,
            skip=lambda rel, is_dir: spec.match_file(rel + "/" if is_dir else rel),
            max_files=WALK_LIMIT)
    except UserErrorException as exc:
        raise SnapshotException(str(exc)) from None
    files = []
    for path, rel in found:
        st = path.stat()
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
        f"The snapshot of {source_dir} is {'over ' if len(files) > WALK_LIMIT else ''}"
        f"{_mb(total)} in {len(files)} files; the limits are "
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


def blob_path(store: Path, digest: str) -> Path:
    return store / "blobs" / digest[:2] / digest


def manifest_path(store: Path, snapshot_id: str) -> Path:
    return store / "manifests" / f"{snapshot_id}.json"


def check_present(store: Path, snapshot_id: str) -> None:
    """Refuse a snapshot this store does not hold (a re-run after it was removed, or one a
    client did not upload)."""
    if not is_digest(snapshot_id) or not manifest_path(store, snapshot_id).exists():
        raise UserErrorException(f"Snapshot {snapshot_id} is not in this workspace: it was not "
                                 "uploaded, or it was removed. Submit from the source folder.")


def is_digest(value) -> bool:
    """A sha256 hex digest: what names blobs and snapshots."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _write_once(target: Path, write) -> None:
    """Create `target` atomically with write(tmp_path), unless it exists: complete or absent."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    write(tmp)
    tmp.replace(target)


def take(source_dir: Path, store: Path) -> str:
    """Snapshot `source_dir` into `store`; returns the snapshot id (the manifest's hash)."""
    files = collect(source_dir)
    entries = []
    for f in sorted(files, key=lambda f: f.path):
        source = source_dir / f.path
        digest = _hash_file(source)
        _write_once(blob_path(store, digest), lambda tmp, source=source: shutil.copyfile(source, tmp))
        entries.append({"path": f.path, "sha256": digest, "size": f.size, "mode": f.mode})
    manifest = json.dumps({"files": entries}, sort_keys=True).encode()
    snapshot_id = hashlib.sha256(manifest).hexdigest()
    _write_once(manifest_path(store, snapshot_id), lambda tmp: tmp.write_bytes(manifest))
    return snapshot_id


def manifest(store: Path, snapshot_id: str) -> list[dict]:
    return json.loads(manifest_path(store, snapshot_id).read_text())["files"]


# -- moving a snapshot to another store (a client to `runyard server`) --------------------------
# The archive: manifest.json, and blobs/<sha256> for each blob the receiving store lacks.

def pack_upload(store: Path, snapshot_id: str, missing, spool) -> None:
    with tarfile.open(fileobj=spool, mode="w") as archive:
        archive.add(manifest_path(store, snapshot_id), arcname="manifest.json")
        for digest in sorted(missing):
            archive.add(blob_path(store, digest), arcname=f"blobs/{digest}")
    spool.seek(0)


def store_upload(store: Path, snapshot_id: str, spool) -> None:
    """Unpack an archive made by pack_upload, checking every hash and path: the snapshot is
    stored complete and correct, or not at all."""
    if not is_digest(snapshot_id):
        raise SnapshotException(f"A snapshot id is a sha256 hex digest. Received: {snapshot_id!r}")
    manifest_bytes = None
    try:
        archive = tarfile.open(fileobj=spool, mode="r:")
    except tarfile.TarError as exc:
        raise SnapshotException(f"The snapshot upload is not a tar archive: {exc}") from None
    total = 0
    with archive:
        for count, member in enumerate(archive):
            total += member.size
            if count > MAX_FILES or total > MAX_BYTES + MAX_MANIFEST:
                raise SnapshotException(f"The snapshot upload is over the limits ({_mb(MAX_BYTES)}, "
                                        f"{MAX_FILES} files; RUNYARD_SNAPSHOT_MAX_MB and _MAX_FILES).")
            if not member.isreg() or member.issparse():
                raise SnapshotException(f"Snapshot archive entry {member.name!r} is not a file.")
            source = archive.extractfile(member)
            assert source is not None  # (a regular file's member always has one)
            if member.name == "manifest.json" and member.size <= MAX_MANIFEST:
                manifest_bytes = source.read()
                if hashlib.sha256(manifest_bytes).hexdigest() != snapshot_id:
                    raise SnapshotException("The snapshot manifest does not match its id.")
            elif member.name.startswith("blobs/") and is_digest(member.name[6:]):
                _store_blob(store, member.name[6:], source)
            else:
                raise SnapshotException(
                    f"Snapshot archive entry {member.name[:200]!r} is neither manifest.json nor "
                    "blobs/<sha256 of its content>.")
    if manifest_bytes is None:
        raise SnapshotException("The snapshot upload has no manifest.json.")
    entries = _checked_manifest(manifest_bytes)
    absent = [e["path"] for e in entries if not blob_path(store, e["sha256"]).exists()]
    if absent:
        raise SnapshotException(f"The snapshot upload lacks the content of {absent[:5]}.")
    _write_once(manifest_path(store, snapshot_id), lambda tmp: tmp.write_bytes(manifest_bytes))


def _store_blob(store: Path, digest: str, source) -> None:
    """Stream an uploaded blob into the store, hashing it on the way: kept only when its
    content has the hash it is named by."""
    target = blob_path(store, digest)
    if target.exists():
        return
    tmp = store / "blobs" / f".{digest}.{uuid.uuid4().hex}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() != digest:
            raise SnapshotException(f"Snapshot blob {digest} does not have that sha256.")
        target.parent.mkdir(exist_ok=True)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _checked_manifest(data: bytes) -> list[dict]:
    """A manifest from another machine, restored on this one: relative paths that stay inside
    the job's folder, each once and none inside another, sha256 digests, whole-number sizes
    and modes, within the snapshot limits."""
    try:
        entries = json.loads(data)["files"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TypeError("files is not a list of objects")
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotException(f"The snapshot manifest is not valid: {exc}") from None
    paths = set()
    for entry in entries:
        path, mode, size = entry.get("path"), entry.get("mode"), entry.get("size")
        parts = path.split("/") if isinstance(path, str) else []
        if not parts or any(p in ("", ".", "..") or "\0" in p for p in parts) or \
                not is_digest(entry.get("sha256")) or type(mode) is not int or not 0 <= mode <= 0o7777 \
                or type(size) is not int or size < 0:
            raise SnapshotException(f"Snapshot entry {str(path)[:200]!r} is not a relative path with "
                                    "a sha256, a size and a mode.")
        paths.add(path)
    clashing = [p for p in paths if any("/".join(p.split("/")[:i]) in paths
                                        for i in range(1, p.count("/") + 1))]
    if len(paths) != len(entries) or clashing:
        raise SnapshotException("The snapshot manifest names a path twice, or a file inside a file.")
    if len(entries) > MAX_FILES or sum(e["size"] for e in entries) > MAX_BYTES:
        raise SnapshotException(f"The snapshot is over the limits ({_mb(MAX_BYTES)}, {MAX_FILES} files).")
    return entries


def restore(store: Path, snapshot_id: str, target: Path) -> None:
    """Materialise a snapshot as plain files (copies: the job may edit them freely). Modes
    keep only whether a file is executable: never setuid, never writable by others."""
    for entry in manifest(store, snapshot_id):
        dest = target / entry["path"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blob_path(store, entry["sha256"]), dest)
        os.chmod(dest, 0o755 if entry["mode"] & 0o111 else 0o644)
