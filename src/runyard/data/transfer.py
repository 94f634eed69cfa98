"""Client-side copies of dataset files into a user's folder (FileDataset.download,
Datastore.download, uploads to folder datastores): real, writable copies, never links into
the shared cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from runyard.compat import unlink_if_present
from runyard.data import cache
from runyard.data.progress import Progress
from runyard.data.views import check_local, fetch_blobs, is_local
from runyard.errors import AlreadyExistsError

CHUNK = 16 * 1024 * 1024  # bytes copied between two progress reports


def copy_atomically(source, dest: Path, progress: Progress | None = None) -> None:
    """Copy a file so that `dest` appears only complete (a temporary name, then a rename);
    with `progress`, its bytes are reported as they are copied (a large file shows progress)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.copying")
    try:
        if progress is None:
            shutil.copyfile(source, tmp)
        else:
            with open(source, "rb") as src, open(tmp, "wb") as out:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    out.write(chunk)
                    progress.advance(len(chunk), files=0)
            progress.advance(0)
        os.replace(tmp, dest)
    finally:
        unlink_if_present(tmp)


def refuse_existing(dests: list[Path]) -> None:
    """A download that would replace files raises before anything is written."""
    existing = [str(d) for d in dests if d.exists()]
    if existing:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise AlreadyExistsError(f"{', '.join(existing[:3])}{more} already exist. Nothing was "
                                 "downloaded; pass overwrite=True to replace them.")


def copy_out(entries: list[dict], target: Path, overwrite: bool, datastores, emit,
             label: str) -> list[str]:
    """Copy every entry to target/<entry path>. Existing files are refused (unless overwrite)
    before anything is copied; each file appears only complete. Returns the paths."""
    target = Path(target).expanduser().absolute()
    dests = [target / e["path"] for e in entries]
    if not overwrite:
        refuse_existing(dests)
    check_local(entries)
    fetch_blobs([e for e in entries if not is_local(e)], datastores, emit, label)
    progress = Progress(label, len(entries), sum(e["size"] or 0 for e in entries), emit)
    for entry, dest in zip(entries, dests):
        copy_atomically(entry["url"] if is_local(entry) else cache.blob_path(entry["sha256"]), dest, progress)
    progress.done()
    return [str(d) for d in dests]
