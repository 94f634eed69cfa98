"""Where a FileDataset's files come from: `from_files` paths normalised into sources, and the
listing of a source into file entries (a dataset's manifest).

A source is a small dict stored with the dataset:
  {"kind": "local", "path": "/abs/dir/**"}
  {"kind": "url", "url": "https://host/file.gz" | "s3://bucket/prefix/**"}
  {"kind": "datastore", "datastore": "name", "path": "prefix/**"}
An entry is one file: {"path" (relative, shown by to_path), "url" (absolute local path or
URL), "datastore", "size", and what pins its content: "sha256" and "mtime_ns" for local files,
"etag" / "last_modified" for remote ones}.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import os
import posixpath
import random
from pathlib import Path
from urllib.parse import urlsplit

from runyard.data import filesystems
from runyard.errors import UserErrorException

GLOB_CHARS = set("*?[")
HASH_CHUNK = 1 << 20


def list_files(sources: list[dict], datastores) -> list[dict]:
    """Every file of the sources, with sizes and validators (no content hashes). `datastores`
    maps a datastore name to its config (a callable). Raises with the path and the cause."""
    entries: list[dict] = []
    bases: list[str] = []
    for source in sources:
        found, base = _list_source(source, datastores)
        if not found:
            raise UserErrorException(f"{describe_source(source)}: no files found. Check the path "
                                     "(a folder, a file, a glob such as 'data/**', or a URL).")
        entries.extend(found)
        bases.append(base)
    seen: dict[str, dict] = {}
    for entry in entries:
        seen.setdefault(entry["key"], entry)  # overlapping globs: each file once
    entries = sorted(seen.values(), key=lambda e: e["key"])
    prefix = _common_dir([e["key"] for e in entries] + bases)
    for entry in entries:
        entry["path"] = entry.pop("key")[len(prefix):].lstrip("/")
    return entries


def describe_source(source: dict) -> str:
    if source["kind"] == "local":
        return source["path"]
    if source["kind"] == "url":
        return source["url"]
    return f"datastore {source['datastore']!r} path {source['path']!r}"


def _list_source(source: dict, datastores) -> tuple[list[dict], str]:
    if source["kind"] == "local":
        return _list_local(source["path"], None, source["path"])
    if source["kind"] == "url":
        url = source["url"]
        if filesystems.scheme(url) == "s3":
            return _list_s3(url, None, None)
        if filesystems.scheme(url) not in ("http", "https"):
            raise UserErrorException(f"Unsupported URL {url!r}: use http(s):// or s3://.")
        return _list_http(url)
    from runyard.data.paths import checked_path, inside_folder

    name = source["datastore"]
    path = checked_path(source["path"]) or "**"
    config = datastores(name)
    if config["kind"] == "local":
        found, base = _list_local(str(Path(config["folder"]) / path), name, f"{name}/{path}")
        inside_folder(config["folder"], [entry["url"] for entry in found], f"{name}/{path}")
        return found, base
    url = f"s3://{config['bucket']}/{posixpath.join(config.get('prefix') or '', path)}"
    return _list_s3(url, name, config)


def _split_glob(path: str, sep: str = "/") -> tuple[str, bool]:
    """The part of a pattern before its first glob component, and whether it has one."""
    parts = path.split(sep)
    for i, part in enumerate(parts):
        if GLOB_CHARS & set(part):
            return sep.join(parts[:i]), True
    return path, False


def _list_local(pattern: str, datastore: str | None, shown: str) -> tuple[list[dict], str]:
    base, is_glob = _split_glob(pattern)
    if is_glob:
        paths = [p for p in globlib.glob(pattern, recursive=True) if os.path.isfile(p)]
    elif os.path.isfile(pattern):
        paths, base = [pattern], os.path.dirname(pattern)
    elif os.path.isdir(pattern):
        paths = [os.path.join(root, f) for root, _, files in os.walk(pattern) for f in files]
    else:
        raise UserErrorException(f"{shown}: not found. Check the path (it is resolved on this "
                                 "machine, relative to the current folder).")
    entries = []
    for path in paths:
        st = os.stat(path)
        absolute = os.path.abspath(path)
        entries.append({"key": absolute, "url": absolute, "datastore": datastore,
                        "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return entries, os.path.abspath(base or "/")


def _list_s3(url: str, datastore: str | None, config: dict | None) -> tuple[list[dict], str]:
    fs = filesystems.s3_filesystem(config)
    path = filesystems.fs_path(url)
    base, is_glob = _split_glob(path)
    try:
        if is_glob:
            found = fs.glob(path, detail=True)
        else:
            info = fs.info(path)
            if info["type"] == "directory":
                found = fs.find(path, detail=True)
            else:
                found, base = {info["name"]: info}, posixpath.dirname(path)
    except Exception as exc:
        raise filesystems.failure(url, exc) from None
    entries = [{"key": name, "url": f"s3://{name}", "datastore": datastore, "size": int(info["size"]),
                "etag": str(info.get("ETag") or info.get("etag") or "").strip('"') or None}
               for name, info in found.items() if info.get("type", "file") == "file"]
    return entries, base


def _list_http(url: str) -> tuple[list[dict], str]:
    try:
        info = filesystems.http_filesystem().info(url)
    except Exception as exc:
        raise filesystems.failure(url, exc) from None
    parts = urlsplit(url)
    key = f"{parts.netloc}{parts.path}"
    entry = {"key": key, "url": url, "datastore": None, "size": info.get("size"),
             "etag": info.get("ETag"), "last_modified": info.get("Last-Modified")}
    return [entry], posixpath.dirname(key)


def _common_dir(keys: list[str]) -> str:
    """The longest common folder of the keys (a prefix ending at a '/')."""
    if not keys:
        return ""
    prefix = os.path.commonprefix(keys)
    if all(k == prefix or k.startswith(prefix.rstrip("/") + "/") for k in keys):
        return prefix.rstrip("/") + "/" if prefix else ""
    cut = prefix.rfind("/")
    return prefix[:cut + 1] if cut >= 0 else ""


def sha256_file(path: str | Path, progress=None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):  # (no := : a job may run Python 3.7)
            digest.update(chunk)
    if progress is not None:
        progress.advance(os.path.getsize(path))
    return digest.hexdigest()


def pin(entries: list[dict], progress=None) -> list[dict]:
    """Content hashes for the local files (a registered version is immutable); remote files
    are pinned by their validators (ETag) and hashed when a run first downloads them."""
    for entry in entries:
        if not filesystems.scheme(entry["url"]):
            entry["sha256"] = sha256_file(entry["url"], progress)
    return entries


def apply_transforms(entries: list[dict], transforms: list) -> list[dict]:
    for transform in transforms:
        kind = transform[0]
        if kind == "take":
            entries = entries[:transform[1]]
        elif kind == "skip":
            entries = entries[transform[1]:]
        elif kind == "sample":
            _, fraction, seed, part = transform
            rng = random.Random(seed)
            entries = [e for e in entries if (rng.random() < fraction) == (part == 0)]
    return entries


def entries_of(definition: dict, datastores) -> list[dict]:
    """A dataset's files, listed now: its sources, then its transforms."""
    return apply_transforms(list_files(definition["sources"], datastores), definition["transforms"])


def pinned(entries: list[dict], show_progress: bool = True) -> list[dict]:
    """`entries` with content hashes for their local files, with progress (pin())."""
    from runyard.data.progress import Progress, to_stderr

    local_bytes = sum(e["size"] for e in entries if not filesystems.scheme(e["url"]))
    progress = Progress("Hashing dataset files", len(entries), local_bytes, to_stderr(show_progress))
    entries = pin(entries, progress)
    progress.done()
    return entries
