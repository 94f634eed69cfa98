"""v1 Datastore: a named storage location of a workspace, a local folder or an S3 bucket
(prefix). The default, `workspaceblobstore`, is a folder inside the workspace."""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
import warnings
from pathlib import Path

from runyard.data import remote
from runyard.data.progress import Progress, to_stderr
from runyard.errors import AlreadyExistsError, NotFoundError, UserErrorException, received

DEFAULT_NAME = "workspaceblobstore"
_NAME = re.compile(r"^[A-Za-z0-9_]{1,255}$")


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


def _validate_name(name) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserErrorException("A datastore name has letters, digits and underscores only "
                                 f"(v1 rule). Received: datastore_name={received(name)}")
    return name


def _store():
    """SQLAlchemy and the datastores table, imported on use: `from runyard.core import Run`
    must work in job environments that only have the standard library."""
    import sqlalchemy as sa

    from runyard.stores.registry import datastores_table

    return sa, datastores_table


def load_config(workspace, name: str) -> dict:
    """The stored config of a datastore (the default one is created on first use)."""
    if workspace.is_remote:  # without its keys: the server reads and writes its files
        from runyard.data import served

        return served.datastore_config(workspace, name)
    sa, table = _store()
    with workspace._registry.engine.connect() as conn:
        row = conn.execute(sa.select(table.c.config).where(table.c.name == name)).first()
    if row is not None:
        return json.loads(row[0])
    if name == DEFAULT_NAME:
        folder = workspace.location / "datastores" / DEFAULT_NAME
        folder.mkdir(parents=True, exist_ok=True)
        config = {"kind": "local", "folder": str(folder)}
        _save(workspace, name, config, overwrite=True)
        return config
    known = ", ".join(sorted(list_names(workspace)) or [DEFAULT_NAME])
    raise NotFoundError(f"No datastore {name!r} in workspace {workspace.name!r}. Known: "
                             f"{known}. Register one with Datastore.register_local_folder or "
                             "Datastore.register_s3_bucket.")


def list_names(workspace) -> list[str]:
    if workspace.is_remote:
        from runyard.data import served

        return served.datastores(workspace)["names"]
    sa, table = _store()
    with workspace._registry.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(table.c.name)).all()]


def _save(workspace, name: str, config: dict, overwrite: bool) -> None:
    sa, table = _store()
    engine = workspace._registry.engine
    with engine.begin() as conn:
        exists = conn.execute(sa.select(table.c.name).where(table.c.name == name)).first()
        if exists and not overwrite:
            raise AlreadyExistsError(f"A datastore named {name!r} already exists. Pass "
                                     "overwrite=True to replace it, or pick another name.")
        if exists:
            conn.execute(sa.update(table).where(table.c.name == name)
                         .values(config=json.dumps(config)))
        else:
            conn.execute(sa.insert(table).values(name=name, config=json.dumps(config),
                                                 created_at=time.time()))


class Datastore:
    """`Datastore(ws, name)` / `Datastore.get(ws, name)`: a registered datastore (the
    workspace's default when name is None)."""

    def __init__(self, workspace, name=None):
        self.workspace = workspace
        self.name = _validate_name(name) if name is not None else default_name(workspace)
        self._config = load_config(workspace, self.name)

    @property
    def datastore_type(self) -> str:
        return {"local": "LocalFolder", "s3": "S3"}[self._config["kind"]]

    @property
    def container_name(self) -> str:
        """The bucket (S3) or the folder (local): what v1 calls the container."""
        return self._config.get("bucket") or self._config["folder"]

    def __repr__(self) -> str:
        where = (f"s3://{self._config['bucket']}/{self._config.get('prefix') or ''}"
                 if self._config["kind"] == "s3" else self._config["folder"])
        return f"Datastore(name={self.name!r}, type={self.datastore_type!r}, location={where!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Datastore) and (self.workspace, self.name) == (other.workspace, other.name)

    def __hash__(self) -> int:
        return hash(self.name)

    # -- lookup and registration -----------------------------------------------------------
    @staticmethod
    def get(workspace, datastore_name: str) -> Datastore:
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace) -> Datastore:
        return Datastore(workspace)

    @staticmethod
    def register_local_folder(workspace, datastore_name: str, folder, overwrite: bool = False,
                              create_if_not_exists: bool = False) -> Datastore:
        """A folder on this machine (or a shared file system every compute sees)."""
        _validate_name(datastore_name)
        if workspace.is_remote:
            raise UserErrorException(
                "register_local_folder names a folder of this machine, which the runyard server "
                "cannot read. Register it with `runyard` on the server's machine, or upload the "
                "files to a datastore (ws.get_default_datastore().upload(...)).")
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            if not create_if_not_exists:
                raise UserErrorException(f"Folder {str(path)!r} does not exist. Create it, or pass "
                                         "create_if_not_exists=True.")
            path.mkdir(parents=True)
        _save(workspace, datastore_name, {"kind": "local", "folder": str(path)}, overwrite)
        return Datastore(workspace, datastore_name)

    @staticmethod
    def register_s3_bucket(workspace, datastore_name: str, bucket_name: str, prefix: str = "",
                           endpoint_url: str | None = None, region: str | None = None,
                           access_key_id: str | None = None, secret_access_key: str | None = None,
                           overwrite: bool = False, create_if_not_exists: bool = False,
                           skip_validation: bool = False) -> Datastore:
        """An S3 (or S3-compatible: MinIO, Ceph, moto) bucket. Without keys, jobs use the
        AWS_* environment variables / ~/.aws of the machine they run on."""
        _validate_name(datastore_name)
        if not isinstance(bucket_name, str) or not bucket_name or "/" in bucket_name:
            raise UserErrorException(f"bucket_name is a bucket's name (no slashes, no s3://). "
                                     f"Received: bucket_name={received(bucket_name)}")
        if bool(access_key_id) != bool(secret_access_key):
            raise UserErrorException("Pass both access_key_id and secret_access_key, or neither "
                                     "(to use the machine's AWS credentials).")
        if workspace.is_remote:  # the server checks the bucket and keeps the keys
            from runyard.data import served

            served.register_s3(workspace, datastore_name=datastore_name, bucket_name=bucket_name,
                               prefix=prefix, endpoint_url=endpoint_url, region=region,
                               access_key_id=access_key_id, secret_access_key=secret_access_key,
                               overwrite=overwrite, create_if_not_exists=create_if_not_exists,
                               skip_validation=skip_validation)
            return Datastore(workspace, datastore_name)
        config = {"kind": "s3", "bucket": bucket_name, "prefix": (prefix or "").strip("/"),
                  "endpoint_url": endpoint_url, "region": region,
                  "access_key_id": access_key_id, "secret_access_key": secret_access_key}
        if not skip_validation or create_if_not_exists:
            fs = remote.s3_filesystem(config)
            try:
                try:
                    fs.ls(bucket_name)  # checks the bucket and the credentials
                except FileNotFoundError:
                    if not create_if_not_exists:
                        raise UserErrorException(
                            f"s3://{bucket_name}: bucket not found. Create it, or pass "
                            "create_if_not_exists=True.") from None
                    fs.mkdir(bucket_name)
            except UserErrorException:
                raise
            except Exception as exc:
                raise remote.failure(f"s3://{bucket_name}", exc) from None
        _save(workspace, datastore_name, config, overwrite)
        return Datastore(workspace, datastore_name)

    @staticmethod
    def register_azure_blob_container(workspace, datastore_name, container_name, account_name,
                                      **_kwargs):
        raise UserErrorException(
            "Azure Blob Storage is not reachable from runyard. Register the data's location as "
            "an S3-compatible bucket (Datastore.register_s3_bucket) or a folder "
            "(Datastore.register_local_folder); ws.get_default_datastore() is a local folder.")

    register_azure_file_share = register_azure_blob_container
    register_azure_data_lake_gen2 = register_azure_blob_container

    def set_as_default(self) -> None:
        if self.workspace.is_remote:
            from runyard.data import served

            return served.set_default(self.workspace, self.name)
        self.workspace._registry.set_meta("default_datastore", self.name)

    def unregister(self) -> None:
        if self.workspace.is_remote:
            from runyard.data import served

            return served.unregister(self.workspace, self.name)
        if self.name == default_name(self.workspace):
            raise UserErrorException(f"{self.name!r} is the default datastore; make another one "
                                     "the default first (ds.set_as_default()).")
        sa, table = _store()
        with self.workspace._registry.engine.begin() as conn:
            conn.execute(sa.delete(table).where(table.c.name == self.name))

    # -- paths and consumption --------------------------------------------------------------
    def path(self, path=None, data_reference_name=None):
        from runyard.data.datapath import DataPath

        return DataPath(self, path or "", data_reference_name)

    def as_mount(self, path_on_compute=None):
        warnings.warn("Datastore.as_mount is deprecated (as in v1): use "
                      "Dataset.File.from_files((datastore, '**')).as_mount()", DeprecationWarning, stacklevel=2)
        return self.path("").as_mount(path_on_compute)

    def as_download(self, path_on_compute=None):
        warnings.warn("Datastore.as_download is deprecated (as in v1): use "
                      "Dataset.File.from_files((datastore, '**')).as_download()", DeprecationWarning, stacklevel=2)
        return self.path("").as_download(path_on_compute)

    # -- transfers --------------------------------------------------------------------------
    def upload(self, src_dir, target_path=None, overwrite=False, show_progress=True) -> None:
        warnings.warn("Datastore.upload is deprecated (as in v1): use "
                      "Dataset.File.upload_directory", DeprecationWarning, stacklevel=2)
        src = Path(src_dir)
        if not src.is_dir():
            raise UserErrorException(f"src_dir {str(src_dir)!r} is not a folder.")
        from runyard.archives import plain_files

        target = checked_path(target_path or "", "target_path")
        pairs = [(path, posixpath.join(target, rel)) for path, rel in plain_files(src, "src_dir")]
        self._put(pairs, overwrite, to_stderr(show_progress))

    def upload_files(self, files, relative_root=None, target_path=None, overwrite=False,
                     show_progress=True) -> None:
        target = checked_path(target_path or "", "target_path")
        pairs = []
        for file in files:
            path = Path(file)
            if not path.is_file():
                raise UserErrorException(f"{str(file)!r} is not a file; nothing was uploaded.")
            try:
                rel = path.absolute().relative_to(Path(relative_root).absolute()) if relative_root \
                    else Path(path.name)
            except ValueError:
                raise UserErrorException(f"{str(file)!r} is not inside relative_root="
                                         f"{str(relative_root)!r}; nothing was uploaded.") from None
            pairs.append((path, posixpath.join(target, rel.as_posix())))
        self._put(pairs, overwrite, to_stderr(show_progress))

    def _put(self, pairs: list[tuple[Path, str]], overwrite: bool, emit) -> None:
        """Copy local files to paths in this datastore. Existing files are refused (unless
        overwrite) before anything is written; each file appears only complete."""
        pairs = [(src, checked_path(dest, "path")) for src, dest in pairs]
        if self.workspace.is_remote:  # the server checks and stores them the same way
            from runyard.data import served

            progress = Progress(f"Uploading to {self.name}", len(pairs),
                                sum(p.stat().st_size for p, _ in pairs), emit)
            served.upload(self.workspace, self.name, pairs, overwrite, progress)
            return progress.done()
        if not overwrite:
            existing = self._existing([dest for _, dest in pairs])
            if existing:
                shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
                raise AlreadyExistsError(f"Datastore {self.name!r} already has {shown}. Nothing was "
                                         "uploaded; pass overwrite=True to replace them.")
        progress = Progress(f"Uploading to {self.name}", len(pairs),
                            sum(p.stat().st_size for p, _ in pairs), emit)
        if self._config["kind"] == "local":
            from runyard.data.transfer import copy_atomically

            root = Path(self._config["folder"])
            for src, dest in pairs:
                copy_atomically(src, root / dest)
                progress.advance(src.stat().st_size)
        else:
            # One concurrent batch; an S3 put is atomic: an object appears only complete.
            urls = [self._url(dest) for _, dest in pairs]
            try:
                remote.s3_filesystem(self._config).put(
                    [str(src) for src, _ in pairs], [remote.fs_path(u) for u in urls],
                    callback=progress.file_callback(len(pairs)))
            except Exception as exc:
                failed = next((u for u in urls if remote.fs_path(u) in str(exc)), urls[0])
                raise remote.failure(failed, exc) from None
        progress.done()

    def _existing(self, paths: list[str]) -> list[str]:
        if self._config["kind"] == "local":
            return [p for p in paths if (Path(self._config["folder"]) / p).exists()]
        prefix = posixpath.commonpath(paths) if len(paths) > 1 else posixpath.dirname(paths[0])
        root = remote.fs_path(self._url(prefix))
        try:
            found = set(remote.s3_filesystem(self._config).find(root))
        except Exception as exc:
            raise remote.failure(self._url(prefix), exc) from None
        return [p for p in paths if remote.fs_path(self._url(p)) in found]

    def _url(self, path: str) -> str:
        prefix = self._config.get("prefix") or ""
        return f"s3://{self._config['bucket']}/{posixpath.join(prefix, path)}"

    def download(self, target_path, prefix=None, overwrite=False, show_progress=True) -> int:
        """Copy the files under `prefix` to target_path (keeping their datastore paths);
        returns how many were downloaded."""
        if self.workspace.is_remote:
            from runyard.data import served

            return served.download_datastore(self.workspace, self.name, prefix, Path(target_path), overwrite)
        from runyard.data.file_dataset import FileDataset

        base = checked_path(prefix or "", "prefix")
        pattern = posixpath.join(base, "**") if base else "**"
        dataset = FileDataset._from_sources([{"kind": "datastore", "datastore": self.name,
                                              "path": pattern}], self.workspace)
        entries = dataset._entries()
        for entry in entries:
            entry["path"] = posixpath.join(base, entry["path"]) if base else entry["path"]
        from runyard.data.transfer import copy_out

        copy_out(entries, Path(target_path), overwrite, lambda name: load_config(self.workspace, name),
                 to_stderr(show_progress), f"Downloading from {self.name}")
        return len(entries)


def default_name(workspace) -> str:
    if workspace.is_remote:
        from runyard.data import served

        return served.datastores(workspace)["default"]
    return workspace._registry.get_meta("default_datastore") or DEFAULT_NAME


def all_datastores(workspace) -> dict[str, Datastore]:
    names = set(list_names(workspace)) | {DEFAULT_NAME}
    return {name: Datastore(workspace, name) for name in sorted(names)}
