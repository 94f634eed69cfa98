"""Dataset.File.upload_directory: a folder's files into a datastore, as a FileDataset."""

from __future__ import annotations

import fnmatch
import posixpath
from pathlib import Path

from runyard.data.progress import to_stderr
from runyard.errors import UserErrorException, received


def upload_directory(src_dir, target, pattern, overwrite: bool, show_progress: bool):
    from runyard.data.datapath import DataPath
    from runyard.data.datastore import Datastore
    from runyard.data.file_dataset import FileDataset

    if isinstance(target, DataPath):
        target = (target.datastore, target.path_on_datastore)
    if not (isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], Datastore)
            and isinstance(target[1], str)):
        raise UserErrorException("target is (datastore, 'path') or datastore.path('path'). "
                                 f"Received: target={received(target)}")
    from runyard.archives import plain_files
    from runyard.data.paths import checked_path

    datastore, prefix = target[0], checked_path(target[1], "target path")
    src = Path(src_dir).expanduser()
    if not src.is_dir():
        raise UserErrorException(f"src_dir {str(src_dir)!r} is not a folder.")
    files = [(path, rel) for path, rel in plain_files(src, "src_dir")
             if pattern is None or fnmatch.fnmatch(rel, pattern)]
    if not files:
        raise UserErrorException(f"No files to upload in {str(src)!r}"
                                 + (f" matching {pattern!r}" if pattern else "") + ".")
    pairs = [(path, posixpath.join(prefix, rel)) for path, rel in files]
    datastore._put(pairs, overwrite, to_stderr(show_progress))
    sources = [{"kind": "datastore", "datastore": datastore.name, "path": dest} for _, dest in pairs]
    if pattern is None:
        sources = [{"kind": "datastore", "datastore": datastore.name,
                    "path": posixpath.join(prefix, "**") if prefix else "**"}]
    return FileDataset._from_sources(sources, datastore.workspace)
