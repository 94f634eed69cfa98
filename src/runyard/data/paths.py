"""Paths inside datastores: each stays inside its datastore, locally and on a server."""

from __future__ import annotations

import os

from runyard.errors import UserErrorException, received

DEFAULT_NAME = "workspaceblobstore"  # every workspace's (data/local.py creates it on first use)


def checked_path(path, what: str = "path") -> str:
    """A path inside a datastore, as a clean relative posix path: a leading / means the
    datastore's root (as in v1), and a path that climbs out of it (..) is refused."""
    if not isinstance(path, str) or "\0" in path:
        raise UserErrorException(f"A datastore {what} is a string. Received: {what}={received(path)}")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UserErrorException(
            f"A datastore {what} stays inside its datastore: '..' is not allowed. "
            f"Received: {what}={received(path)}")
    return "/".join(parts)


def inside_folder(folder: str, files: list[str], shown: str) -> None:
    """Refuse files of a folder datastore that resolve outside its folder (through a link)."""
    root = os.path.realpath(folder)
    outside = [f for f in files if os.path.commonpath([root, os.path.realpath(f)]) != root]
    if outside:
        raise UserErrorException(f"{shown}: {len(outside)} file(s) lead outside the datastore's "
                                 f"folder through links, e.g. {outside[0]}; they are not read.")
