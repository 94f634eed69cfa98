"""The datastores and datasets of a workspace on this machine (the datastores and datasets
interfaces of backends/__init__.py): datastore configs and registered dataset versions in the
registry, files in folders or buckets read through fsspec.

A dataset travels as a record: {"definition": {"sources", "transforms"}, "manifest": the
pinned file entries of a registered version (None for a dataset that lists its files each
time), "registration": {"name", "version", "id", "description", "tags", "created_at"}}.
"""

from __future__ import annotations

import json
import posixpath
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from runyard.data import filesystems, sources
from runyard.data.paths import DEFAULT_NAME
from runyard.data.progress import Progress, to_stderr
from runyard.errors import AlreadyExistsError, NotFoundError, UserErrorException
from runyard.stores.registry import datasets_table, datastores_table
from runyard.stores.versions import insert_next_version

_PINNED_FIELDS = ("path", "url", "datastore", "size", "sha256", "etag", "last_modified")


class LocalDatastores:
    def __init__(self, workspace):
        self.ws = workspace

    def config(self, name: str) -> dict:
        """The stored config of a datastore (the default one is created on first use)."""
        with self.ws._registry.engine.connect() as conn:
            row = conn.execute(sa.select(datastores_table.c.config)
                               .where(datastores_table.c.name == name)).first()
        if row is not None:
            return json.loads(row[0])
        if name == DEFAULT_NAME:
            folder = self.ws.folder / "datastores" / DEFAULT_NAME
            folder.mkdir(parents=True, exist_ok=True)
            config = {"kind": "local", "folder": str(folder)}
            self._save(name, config, overwrite=True)
            return config
        known = ", ".join(sorted(self.names()) or [DEFAULT_NAME])
        raise NotFoundError(f"No datastore {name!r} in workspace {self.ws.name!r}. Known: "
                            f"{known}. Register one with Datastore.register_local_folder or "
                            "Datastore.register_s3_bucket.")

    def names(self) -> list[str]:
        with self.ws._registry.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(datastores_table.c.name)).all()]

    def default_name(self) -> str:
        return self.ws._registry.get_meta("default_datastore") or DEFAULT_NAME

    def register_local_folder(self, name: str, folder, overwrite: bool, create_if_not_exists: bool) -> None:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            if not create_if_not_exists:
                raise UserErrorException(f"Folder {str(path)!r} does not exist. Create it, or pass "
                                         "create_if_not_exists=True.")
            path.mkdir(parents=True)
        self._save(name, {"kind": "local", "folder": str(path)}, overwrite)

    def register_s3(self, datastore_name: str, bucket_name: str, prefix: str, endpoint_url, region,
                    access_key_id, secret_access_key, overwrite: bool, create_if_not_exists: bool,
                    skip_validation: bool) -> None:
        config = {"kind": "s3", "bucket": bucket_name, "prefix": (prefix or "").strip("/"),
                  "endpoint_url": endpoint_url, "region": region,
                  "access_key_id": access_key_id, "secret_access_key": secret_access_key}
        if not skip_validation or create_if_not_exists:
            fs = filesystems.s3_filesystem(config)
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
                raise filesystems.failure(f"s3://{bucket_name}", exc) from None
        self._save(datastore_name, config, overwrite)

    def set_default(self, name: str) -> None:
        self.config(name)  # (raises when there is none)
        self.ws._registry.set_meta("default_datastore", name)

    def unregister(self, name: str) -> None:
        if name == self.default_name():
            raise UserErrorException(f"{name!r} is the default datastore; make another one "
                                     "the default first (ds.set_as_default()).")
        with self.ws._registry.engine.begin() as conn:
            conn.execute(sa.delete(datastores_table).where(datastores_table.c.name == name))

    def upload(self, name: str, pairs: list[tuple[Path, str]], overwrite: bool, emit) -> None:
        """Copy local files to paths in the datastore. Existing files are refused (unless
        overwrite) before anything is written; each file appears only complete."""
        config = self.config(name)
        if not overwrite:
            existing = _existing(config, [dest for _, dest in pairs])
            if existing:
                shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
                raise AlreadyExistsError(f"Datastore {name!r} already has {shown}. Nothing was "
                                         "uploaded; pass overwrite=True to replace them.")
        progress = Progress(f"Uploading to {name}", len(pairs), sum(p.stat().st_size for p, _ in pairs), emit)
        if config["kind"] == "local":
            from runyard.data.transfer import copy_atomically

            root = Path(config["folder"])
            for src, dest in pairs:
                copy_atomically(src, root / dest)
                progress.advance(src.stat().st_size)
        else:
            # One concurrent batch; an S3 put is atomic: an object appears only complete.
            urls = [_url(config, dest) for _, dest in pairs]
            try:
                filesystems.s3_filesystem(config).put(
                    [str(src) for src, _ in pairs], [filesystems.fs_path(u) for u in urls],
                    callback=progress.file_callback(len(pairs)))
            except Exception as exc:
                failed = next((u for u in urls if filesystems.fs_path(u) in str(exc)), urls[0])
                raise filesystems.failure(failed, exc) from None
        progress.done()

    def download(self, name: str, prefix: str, target: Path, overwrite: bool, show_progress: bool) -> int:
        """Copy the files under `prefix` to target (keeping their datastore paths); returns how
        many were copied."""
        from runyard.data.transfer import copy_out

        pattern = posixpath.join(prefix, "**") if prefix else "**"
        entries = sources.entries_of({"sources": [{"kind": "datastore", "datastore": name,
                                                   "path": pattern}], "transforms": []}, self.config)
        for entry in entries:
            entry["path"] = posixpath.join(prefix, entry["path"]) if prefix else entry["path"]
        copy_out(entries, target, overwrite, self.config, to_stderr(show_progress),
                 f"Downloading from {name}")
        return len(entries)

    def _save(self, name: str, config: dict, overwrite: bool) -> None:
        with self.ws._registry.engine.begin() as conn:
            exists = conn.execute(sa.select(datastores_table.c.name)
                                  .where(datastores_table.c.name == name)).first()
            if exists and not overwrite:
                raise AlreadyExistsError(f"A datastore named {name!r} already exists. Pass "
                                         "overwrite=True to replace it, or pick another name.")
            if exists:
                conn.execute(sa.update(datastores_table).where(datastores_table.c.name == name)
                             .values(config=json.dumps(config)))
            else:
                conn.execute(sa.insert(datastores_table).values(name=name, config=json.dumps(config),
                                                                created_at=time.time()))


def _url(config: dict, path: str) -> str:
    return f"s3://{config['bucket']}/{posixpath.join(config.get('prefix') or '', path)}"


def _existing(config: dict, paths: list[str]) -> list[str]:
    if config["kind"] == "local":
        return [p for p in paths if (Path(config["folder"]) / p).exists()]
    prefix = posixpath.commonpath(paths) if len(paths) > 1 else posixpath.dirname(paths[0])
    root = filesystems.fs_path(_url(config, prefix))
    try:
        found = set(filesystems.s3_filesystem(config).find(root))
    except Exception as exc:
        raise filesystems.failure(_url(config, prefix), exc) from None
    return [p for p in paths if filesystems.fs_path(_url(config, p)) in found]


class LocalDatasets:
    """Also serves datasets made without a workspace (local paths and URLs only)."""

    def __init__(self, workspace):
        self.ws = workspace

    def _config(self, name: str) -> dict:
        if self.ws is None:
            raise UserErrorException(f"Datastore {name!r} needs the dataset's workspace.")
        return self.ws.backend.datastores.config(name)

    def entries(self, definition: dict) -> list[dict]:
        """The files of a dataset that is not pinned, listed now."""
        return sources.entries_of(definition, self._config)

    def pinned(self, definition: dict, show_progress: bool = True) -> list[dict]:
        """The files with content hashes for local files (what a registration stores)."""
        return sources.pinned(self.entries(definition), show_progress)

    def register(self, name: str, definition: dict, description, tags: dict,
                 create_new_version: bool, show_progress: bool = True) -> dict:
        manifest = self.pinned(definition, show_progress)
        tags = {str(k): str(v) for k, v in (tags or {}).items()}

        def unchanged(latest):
            if latest is None:
                return None
            if json.loads(latest.definition) == definition and _same_files(json.loads(latest.manifest), manifest):
                return _record(latest)  # unchanged: v1 returns the existing version
            if not create_new_version:
                raise AlreadyExistsError(
                    f"A dataset named {name!r} is already registered (version {latest.version}) with "
                    "other files. Pass create_new_version=True to register a new version, or use "
                    "another name.")
            return None

        def insert(conn, version: int) -> None:
            conn.execute(sa.insert(datasets_table).values(
                name=name, version=version, id=str(uuid.uuid4()), definition=json.dumps(definition),
                manifest=json.dumps(manifest), description=description, tags=json.dumps(tags),
                created_at=time.time()))

        found = insert_next_version(self.ws._registry.engine, datasets_table, name, insert,
                                    unchanged, "dataset")
        return found if isinstance(found, dict) else _record(self._row(name, found))

    def get_by_name(self, name: str, version="latest") -> dict:
        number = None
        if version not in ("latest", None):
            try:
                number = int(version)
            except (TypeError, ValueError):
                raise UserErrorException(f"version is a number or 'latest'. Received: version={version!r}") from None
        row = self._row(name, number)
        if row is None:
            known = ", ".join(sorted(self.latest_all())) or "none yet"
            what = f"{name!r} version {number}" if number is not None else repr(name)
            raise NotFoundError(f"No dataset {what} in workspace {self.ws.name!r} (registered: "
                                f"{known}). Register one with dataset.register(ws, name).")
        return _record(row)

    def get_by_id(self, dataset_id: str) -> dict:
        with self.ws._registry.engine.connect() as conn:
            row = conn.execute(sa.select(datasets_table).where(datasets_table.c.id == str(dataset_id))).first()
        if row is None:
            raise NotFoundError(f"No dataset with id {dataset_id!r} in workspace {self.ws.name!r}.")
        return _record(row)

    def latest_all(self) -> dict[str, dict]:
        """name -> the latest version of every registered dataset."""
        with self.ws._registry.engine.connect() as conn:
            rows = conn.execute(sa.select(datasets_table)
                                .order_by(datasets_table.c.name, datasets_table.c.version)).all()
        latest = {row.name: row for row in rows}
        return {name: _record(row) for name, row in sorted(latest.items())}

    def versions(self, name: str) -> list[dict]:
        with self.ws._registry.engine.connect() as conn:
            rows = conn.execute(sa.select(datasets_table).where(datasets_table.c.name == name)
                                .order_by(datasets_table.c.version)).all()
        return [_record(row) for row in rows]

    def download(self, record: dict, target: Path, overwrite: bool, label: str) -> list[str]:
        from runyard.data.transfer import copy_out

        entries = record["manifest"] if record["manifest"] is not None else self.entries(record["definition"])
        return copy_out([dict(e) for e in entries], target, overwrite, self._config, to_stderr(True),
                        f"Downloading {label}")

    def mount(self, record: dict, point: Path, label: str) -> None:
        """The files under `point` as links into the cache or in place (data/views.py: no FUSE)."""
        from runyard.data.views import materialize

        entries = record["manifest"] if record["manifest"] is not None else self.entries(record["definition"])
        materialize([dict(e) for e in entries], "mount", point, self._config, to_stderr(True),
                    f"Mounting {label}")

    def _row(self, name: str, version: int | None = None):
        query = sa.select(datasets_table).where(datasets_table.c.name == name)
        if version is not None:
            query = query.where(datasets_table.c.version == version)
        with self.ws._registry.engine.connect() as conn:
            return conn.execute(query.order_by(datasets_table.c.version.desc()).limit(1)).first()


def _same_files(a: list[dict], b: list[dict]) -> bool:
    key = lambda entries: [tuple(e.get(f) for f in _PINNED_FIELDS) for e in entries]  # noqa: E731
    return key(a) == key(b)


def _record(row) -> dict:
    return {"definition": json.loads(row.definition), "manifest": json.loads(row.manifest),
            "registration": {"name": row.name, "version": row.version, "id": row.id,
                             "description": row.description, "tags": json.loads(row.tags or "{}"),
                             "created_at": row.created_at}}
