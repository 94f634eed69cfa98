"""Making a dataset's pinned files available at a path: the consumption side of datasets.

"download": every file is a hard link to its blob in the shared cache (a copy where the cache
    is on another filesystem). The first use copies or downloads into the cache; later uses
    only link (no bytes move).
"mount": no FUSE. Local files are symbolic links to the source files, checked against the
    pin first; remote files are downloaded into the cache on first use and linked. The
    folders of the view are read-only: files cannot be added, removed or renamed there.

Before anything is linked every file is checked against the manifest: a local file that
changed since it was pinned (size/mtime differ and the content hash does too), a missing file
or a changed remote object (ETag) fails with the path and the cause.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from runyard.compat import unlink_if_present
from runyard.data import cache, filesystems
from runyard.data.progress import Progress
from runyard.data.sources import sha256_file
from runyard.errors import UserErrorException

MODES = ("mount", "download")


def is_local(entry: dict) -> bool:
    return not entry["url"].startswith(filesystems.REMOTE_PREFIXES)


def materialize(entries: list[dict], mode: str, target: Path, datastores: Callable[[str], dict],
                emit: Callable[[str], None] | None, label: str) -> Path:
    """Build the view of `entries` under `target` (created; must not exist or be empty).
    Fills in the sha256 of remote files as used. Returns the path a script receives: the
    file itself for a one-file dataset, else the folder."""
    if mode not in MODES:
        raise ValueError(mode)
    check_local(entries)
    need_blob = [e for e in entries if mode == "download" or not is_local(e)]
    fetch_blobs(need_blob, datastores, emit, label)
    target.mkdir(parents=True, exist_ok=True)
    root = str(target)
    folders = {root}
    for entry in entries:
        dest = os.path.join(root, entry["path"])
        parent = os.path.dirname(dest)
        if parent not in folders:
            os.makedirs(parent, exist_ok=True)
            folders.add(parent)
        if mode == "mount" and is_local(entry):
            os.symlink(entry["url"], dest)
        elif mode == "mount":
            os.symlink(cache.blob_path(entry["sha256"]), dest)
        else:
            _link_or_copy(cache.blob_path(entry["sha256"]), dest)
    if mode == "mount":
        for folder in sorted(folders, key=len, reverse=True):
            os.chmod(folder, 0o555)
    if len(entries) == 1:
        return target / entries[0]["path"]
    return target


def remove_view(target: Path) -> None:
    """Delete a view (mount views have read-only folders)."""
    if not target.exists() and not target.is_symlink():
        return
    for folder, _dirs, _files in os.walk(target):
        os.chmod(folder, stat.S_IRWXU)
    shutil.rmtree(target, ignore_errors=True)


def _link_or_copy(blob: Path, dest: Path) -> None:
    try:
        os.link(blob, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(blob, dest)


def _changed(entry: dict, how: str) -> UserErrorException:
    return UserErrorException(
        f"{entry['url']}: changed since the dataset version was registered ({how}). A registered "
        "version is immutable: register a new version (create_new_version=True) to use the new "
        "content.")


def check_local(entries: list[dict]) -> None:
    """Every local file is still the pinned one (git's rule: same size and mtime, or the
    same content hash)."""
    for entry in entries:
        if not is_local(entry) or "sha256" not in entry:
            continue  # remote, or listed just now (not pinned)
        try:
            st = os.stat(entry["url"])
        except FileNotFoundError:
            raise UserErrorException(f"{entry['url']}: missing. The dataset file was deleted or moved "
                                     "since the dataset was registered.") from None
        if st.st_size == entry["size"] and st.st_mtime_ns == entry.get("mtime_ns"):
            continue
        actual = sha256_file(entry["url"])
        if actual != entry["sha256"]:
            raise _changed(entry, f"size {entry['size']} -> {st.st_size} bytes, content hash differs")
        entry["mtime_ns"] = st.st_mtime_ns  # touched, not changed


def fetch_blobs(entries: list[dict], datastores, emit, label: str) -> None:
    """Make sure every entry's content is in the cache (entry['sha256'] set)."""
    missing = []
    for entry in entries:
        if is_local(entry):
            continue
        sha = cache.lookup_remote(entry)
        if sha is not None and sha == entry.get("sha256", sha):
            entry["sha256"] = sha
        else:
            missing.append(entry)
    local = [e for e in entries if is_local(e) and not cache.has_blob(e["sha256"], e["size"])]
    total = len(local) + len(missing)
    if total == 0:
        return
    nbytes = sum(e["size"] or 0 for e in local + missing)
    progress = Progress(f"{label}: caching", total, nbytes, emit)
    for entry in local:
        cache.put_local(entry["url"], entry["sha256"])
        progress.advance(entry["size"])
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for entry in missing:
        groups[(filesystems.scheme(entry["url"]), entry.get("datastore"))].append(entry)
    for (kind, datastore), group in groups.items():
        config = datastores(datastore) if datastore else None
        fs = filesystems.filesystem(group[0]["url"], config)
        if kind == "s3":
            _check_s3(fs, group)
        else:
            _check_http(fs, group)
        _download(fs, group, progress)
    progress.done()


def _check_s3(fs, entries: list[dict]) -> None:
    """One listing of the entries' common prefix: every object still there, same ETag."""
    names = [filesystems.fs_path(e["url"]) for e in entries]
    common = posixpath.commonpath(names) if len(names) > 1 else posixpath.dirname(names[0])
    try:
        listing = fs.find(common, detail=True)
    except Exception as exc:
        raise filesystems.failure(f"s3://{common}", exc) from None
    for entry, name in zip(entries, names):
        info = listing.get(name)
        if info is None:
            raise UserErrorException(f"{entry['url']}: not found (deleted since the dataset was "
                                     "registered?).")
        etag = str(info.get("ETag") or "").strip('"') or None
        if entry.get("etag") and etag != entry["etag"]:
            raise _changed(entry, f"ETag {entry['etag']} -> {etag}")


def _check_http(fs, entries: list[dict]) -> None:
    for entry in entries:
        try:
            info = fs.info(entry["url"])
        except Exception as exc:
            raise filesystems.failure(entry["url"], exc) from None
        for field, header in (("etag", "ETag"), ("last_modified", "Last-Modified"), ("size", "size")):
            was, now = entry.get(field), info.get(header)
            if was is not None and now is not None and was != now:
                raise _changed(entry, f"{header} {was} -> {now}")


def _download(fs, entries: list[dict], progress: Progress) -> None:
    tmps = cache.tmp_paths(len(entries))
    try:
        try:
            fs.get([filesystems.fs_path(e["url"]) for e in entries], [str(t) for t in tmps],
                   callback=progress.file_callback(len(entries)))
        except Exception as exc:
            # fsspec stops at the first failed file and names it in the exception
            failed = next((e["url"] for e in entries if filesystems.fs_path(e["url"]) in str(exc)),
                          entries[0]["url"])
            raise filesystems.failure(failed, exc) from None
        for entry, tmp in zip(entries, tmps):
            size = tmp.stat().st_size
            if entry.get("size") is not None and size != entry["size"]:
                raise UserErrorException(
                    f"{entry['url']}: the transfer gave {size} bytes where {entry['size']} were "
                    "expected (interrupted, or the file changed).")
            sha = sha256_file(tmp)
            if entry.get("sha256") and sha != entry["sha256"]:
                raise _changed(entry, "content hash differs")
            cache.add_blob(tmp, sha)
            entry["sha256"] = sha
            cache.remember_remote(entry, sha)
    finally:
        for tmp in tmps:
            unlink_if_present(tmp)
