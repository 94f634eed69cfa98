"""v1 Datastore: a named storage location of a workspace, a local folder or an S3 bucket
(prefix). The default, `workspaceblobstore`, is a folder inside the workspace."""

from __future__ import annotations

import posixpath
import re
import warnings
from pathlib import Path

from runyard.data.paths import DEFAULT_NAME, checked_path
from runyard.data.progress import to_stderr
from runyard.errors import UserErrorException, received

_NAME = re.compile(r"^[A-Za-z0-9_]{1,255}$")


def _validate_name(name) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserErrorException("A datastore name has letters, digits and underscores only "
                                 f"(v1 rule). Received: datastore_name={received(name)}")
    return name


def load_config(workspace, name: str) -> dict:
    """A datastore's config (without its keys through a server)."""
    return workspace.backend.datastores.config(name)


class Datastore:
    """`Datastore(ws, name)` / `Datastore.get(ws, name)`: a registered datastore (the
    workspace's default when name is None)."""

    def __init__(self, workspace, name=None):
        from runyard.data.run_files import ARTIFACT_STORE

        self.workspace = workspace
        self.name = _validate_name(name) if name is not None else default_name(workspace)
        # v1's store of run files: here the runs' artifacts, read through the run history
        self._config = {"kind": "runs", "folder": "runs"} if self.name == ARTIFACT_STORE \
            else load_config(workspace, self.name)

    @property
    def datastore_type(self) -> str:
        return {"local": "LocalFolder", "s3": "S3", "runs": "RunArtifacts"}[self._config["kind"]]

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
        workspace.backend.datastores.register_local_folder(
            _validate_name(datastore_name), folder, overwrite, create_if_not_exists)
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
        workspace.backend.datastores.register_s3(
            datastore_name=datastore_name, bucket_name=bucket_name, prefix=prefix,
            endpoint_url=endpoint_url, region=region, access_key_id=access_key_id,
            secret_access_key=secret_access_key, overwrite=overwrite,
            create_if_not_exists=create_if_not_exists, skip_validation=skip_validation)
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
        self.workspace.backend.datastores.set_default(self.name)

    def unregister(self) -> None:
        self.workspace.backend.datastores.unregister(self.name)

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
        self.workspace.backend.datastores.upload(self.name, pairs, overwrite, emit)

    def download(self, target_path, prefix=None, overwrite=False, show_progress=True) -> int:
        """Copy the files under `prefix` to target_path (keeping their datastore paths);
        returns how many were downloaded."""
        return self.workspace.backend.datastores.download(
            self.name, checked_path(prefix or "", "prefix"), Path(target_path), overwrite, show_progress)


def default_name(workspace) -> str:
    return workspace.backend.datastores.default_name()


def all_datastores(workspace) -> dict[str, Datastore]:
    names = set(workspace.backend.datastores.names()) | {DEFAULT_NAME}
    return {name: Datastore(workspace, name) for name in sorted(names)}
