"""Uploading a folder's new and changed files while a job writes them (./logs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


class FolderSync:
    def __init__(self, folder: Path, artifact_prefix: str, upload: Callable[[Path, str], None]):
        self.folder = folder
        self.prefix = artifact_prefix
        self.upload = upload
        self._seen: dict[str, tuple[int, int]] = {}

    def sync(self) -> int:
        """Upload what changed since the last call; returns how many files went up."""
        if not self.folder.is_dir():
            return 0
        count = 0
        for path in self.folder.rglob("*"):
            try:
                if not path.is_file():
                    continue
                stat = path.stat()
            except FileNotFoundError:
                continue
            rel = path.relative_to(self.folder)
            key = (stat.st_mtime_ns, stat.st_size)
            if self._seen.get(str(rel)) == key:
                continue
            parent = rel.parent.as_posix()
            self.upload(path, self.prefix if parent == "." else f"{self.prefix}/{parent}")
            self._seen[str(rel)] = key
            count += 1
        return count
