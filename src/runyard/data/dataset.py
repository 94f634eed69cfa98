"""v1 Dataset: `Dataset.File.from_files(...)`, `Dataset.get_by_name(ws, name)` and friends."""

from __future__ import annotations

import os
from pathlib import Path

from runyard.errors import UserErrorException, received


class FileDatasetFactory:
    @staticmethod
    def from_files(path, validate=True, partition_format=None, is_file=False):
        """A FileDataset over local paths and globs, http(s)/s3 URLs, (datastore, 'path/**')
        tuples or DataPaths. validate=True lists the files now: a missing path, a 404 or bad
        credentials fail here, naming the path."""
        from runyard.data.datastore import Datastore
        from runyard.data.file_dataset import FileDataset

        if partition_format is not None:
            raise UserErrorException("partition_format is not supported for file datasets here; "
                                     "remove it (the files are still all included).")
        sources = normalize(path, Datastore)
        items = path if isinstance(path, list) else [path]
        workspace = next((_workspace_of(i) for i in items if _workspace_of(i) is not None), None)
        dataset = FileDataset._from_sources(sources, workspace)
        if validate:
            dataset._entries()
        return dataset

    @staticmethod
    def upload_directory(src_dir, target, pattern=None, overwrite=False, show_progress=True):
        """Upload a folder's files (those matching `pattern`, a glob) to (datastore, path);
        returns a FileDataset over them."""
        from runyard.data.upload import upload_directory

        return upload_directory(src_dir, target, pattern, overwrite, show_progress)


class _TabularFactory:
    def __getattr__(self, name):
        raise UserErrorException(
            f"Dataset.Tabular.{name}: tabular datasets are not available in runyard; use "
            "Dataset.File.from_files and read the files with pandas in the script.")


def _workspace_of(item):
    from runyard.data.datapath import DataPath

    if isinstance(item, DataPath):
        return item.datastore.workspace
    if isinstance(item, tuple) and item and hasattr(item[0], "workspace"):
        return item[0].workspace
    return None


class Dataset:
    File = FileDatasetFactory()
    Tabular = _TabularFactory()

    @staticmethod
    def get_by_name(workspace, name, version="latest", **kwargs):
        from runyard.data.file_dataset import FileDataset, validate_dataset_name

        record = workspace.backend.datasets.get_by_name(validate_dataset_name(name), version or "latest")
        return FileDataset._from_record(workspace, record)

    @staticmethod
    def get_by_id(workspace, id, **kwargs):
        from runyard.data.file_dataset import FileDataset

        return FileDataset._from_record(workspace, workspace.backend.datasets.get_by_id(id))

    @staticmethod
    def get_all(workspace) -> dict:
        from runyard.data.file_dataset import FileDataset

        return {name: FileDataset._from_record(workspace, record)
                for name, record in workspace.backend.datasets.latest_all().items()}


def normalize(path, datastore_type) -> list[dict]:
    """from_files(path=...) into sources: a string, a (datastore, path) tuple, a DataPath,
    or a list of those."""
    from runyard.data.datapath import DataPath
    from runyard.data.filesystems import scheme

    items = path if isinstance(path, list) else [path]
    if not items:
        raise UserErrorException("Dataset.File.from_files needs at least one path. Received: path=[]")
    sources = []
    for item in items:
        if isinstance(item, DataPath):
            item = (item.datastore, item.path_on_datastore)
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], datastore_type) or not isinstance(item[1], str):
                raise UserErrorException(
                    "A datastore path is a (datastore, 'path/**') tuple with a Datastore from "
                    f"Datastore.get(ws, name). Received: {received(item)}")
            sources.append({"kind": "datastore", "datastore": item[0].name,
                            "path": item[1].lstrip("/") or "**"})
        elif isinstance(item, (str, os.PathLike)):
            text = os.fspath(item)
            kind = scheme(text)
            if kind in ("http", "https", "s3"):
                sources.append({"kind": "url", "url": text})
            elif kind in ("", "file") or (len(kind) == 1 and os.name == "nt"):
                local = text[len("file://"):] if kind == "file" else text
                sources.append({"kind": "local", "path": str(Path(local).expanduser().absolute())})
            else:
                raise UserErrorException(
                    f"Unsupported path {text!r}: use a local path or glob, an http(s):// or "
                    "s3:// URL, or a (datastore, 'path/**') tuple.")
        else:
            raise UserErrorException(
                "Dataset.File.from_files takes paths, URLs or (datastore, path) tuples. "
                f"Received: {received(item)} ({type(item).__name__})")
    return sources
