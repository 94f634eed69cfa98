"""The content-addressed data cache shared by runs: $RUNYARD_CACHE/data/.

  blobs/<sha256[:2]>/<sha256>   one file per distinct content, read-only
  remote/<key>                  remote file (URL + validator) -> the sha256 of its blob
  tmp/                          transfers in progress (same filesystem: rename is atomic)

A blob appears only complete (written to tmp/, hashed, renamed), so a broken transfer leaves
nothing in the cache. Blobs are hard-linked into runs; their mtime is a fixed sentinel, so a
job that wrote through a link (root ignores the read-only mode) is noticed and the blob
fetched again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from pathlib import Path

from runyard import settings

BLOB_MTIME_NS = 946_684_800 * 10**9  # 2000-01-01: set on every blob, checked on every use


def root() -> Path:
    return settings.runyard_cache() / "data"


# Hot paths (thousands of files per dataset) use plain strings: pathlib costs more than the
# file system calls here.
_roots: dict[str, str] = {}


def _root() -> str:
    key = os.environ.get(settings.CACHE, "")  # (the variable only: this runs per file)
    found = _roots.get(key)
    if found is None:
        found = _roots[key] = str(root())
    return found


def blob_path(sha256: str) -> str:
    return os.path.join(_root(), "blobs", sha256[:2], sha256)


def tmp_paths(count: int) -> list[Path]:
    """Fresh names for transfers in progress."""
    folder = root() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / uuid.uuid4().hex for _ in range(count)]


def has_blob(sha256: str, size: int | None = None) -> bool:
    try:
        st = os.stat(blob_path(sha256))
    except FileNotFoundError:
        return False
    return st.st_mtime_ns == BLOB_MTIME_NS and (size is None or st.st_size == size)


def add_blob(tmp, sha256: str) -> str:
    """Move a fully written and hashed temporary file into the cache."""
    target = blob_path(sha256)
    os.chmod(tmp, 0o444)
    os.utime(tmp, ns=(BLOB_MTIME_NS, BLOB_MTIME_NS))
    try:
        os.replace(tmp, target)
    except FileNotFoundError:  # the first blob of this prefix
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(tmp, target)
    return target


def put_local(source: str, sha256: str) -> str:
    """Copy a local file whose content hash is known (checked by the caller) into the cache."""
    if has_blob(sha256):
        return blob_path(sha256)
    tmp = os.path.join(_root(), "tmp", uuid.uuid4().hex)
    try:
        try:
            shutil.copyfile(source, tmp)
        except FileNotFoundError:
            if not os.path.exists(source):
                raise
            os.makedirs(os.path.dirname(tmp), exist_ok=True)  # the cache's first transfer
            shutil.copyfile(source, tmp)
        return add_blob(tmp, sha256)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remote_key(entry: dict) -> str | None:
    """The cache key of a remote file version, or None when nothing tells its versions
    apart (no ETag or Last-Modified): such a file is downloaded on every use."""
    validator = entry.get("etag") or entry.get("last_modified")
    if not validator:
        return None
    raw = f"{entry['url']}\n{validator}\n{entry.get('size')}"
    return hashlib.sha256(raw.encode()).hexdigest()


def lookup_remote(entry: dict) -> str | None:
    key = remote_key(entry)
    if key is None:
        return None
    try:
        sha = (root() / "remote" / key).read_text().strip()
    except FileNotFoundError:
        return None
    return sha if has_blob(sha, entry.get("size")) else None


def remember_remote(entry: dict, sha256: str) -> None:
    key = remote_key(entry)
    if key is None:
        return
    folder = root() / "remote"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = tmp_paths(1)[0]
    tmp.write_text(sha256)
    os.replace(tmp, folder / key)

