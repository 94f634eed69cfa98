"""`runyard data register|list|show|download`."""

from __future__ import annotations

import click

from runyard.cli.common import console, key_values, print_table, workspace, workspace_option


def _get(ws, ref: str):
    from runyard.core import Dataset

    name, _, version = ref.partition(":")
    return Dataset.get_by_name(ws, name, version or "latest")


def _mb(entries) -> str:
    return f"{sum(e['size'] or 0 for e in entries) / 1e6:,.1f} MB"


@click.group()
def data() -> None:
    """Datasets: register files (local, http(s), s3) as versions, list, show, download."""


@data.command("register")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("--description", default=None)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE")
@click.option("--new-version/--no-new-version", default=True, show_default=True,
              help="Register changed files as a new version (else: refuse).")
@workspace_option
def register(name, paths, description, tags, new_version, workspace_config):
    """Register PATHS (folders, globs, URLs, or DATASTORE:path) as dataset NAME."""
    from runyard.core import Dataset, Datastore

    ws = workspace(workspace_config)
    items = []
    for path in paths:
        store, sep, rest = path.partition(":")
        if sep and "/" not in store and store in ws.datastores:
            items.append((Datastore.get(ws, store), rest or "**"))
        else:
            items.append(path)
    dataset = Dataset.File.from_files(items).register(ws, name, description,
                                                      key_values(tags, "--tag"), new_version)
    entries = dataset._entries()
    console().print(f"Registered dataset {dataset.name!r} version {dataset.version}: "
                    f"{len(entries):,} files, {_mb(entries)} (id {dataset.id})")


@data.command("list")
@workspace_option
def list_datasets(workspace_config):
    """Registered datasets (latest versions)."""
    from runyard.core import Dataset

    print_table(["name", "version", "files", "size", "description"],
                [[name, dataset.version, f"{len(dataset._manifest):,} files", _mb(dataset._manifest),
                  dataset.description or ""]
                 for name, dataset in Dataset.get_all(workspace(workspace_config)).items()])


@data.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.option("--files/--no-files", default=True, show_default=True)
@workspace_option
def show(ref, files, workspace_config):
    """A dataset version: its sources, description, tags and files."""
    import datetime

    from runyard.data.sources import describe_source

    dataset = _get(workspace(workspace_config), ref)
    out = console()
    entries = dataset._manifest
    created = datetime.datetime.fromtimestamp(dataset._registration["created_at"]).isoformat(" ", "seconds")
    out.print(f"{dataset.name} version {dataset.version} (id {dataset.id}), registered {created}")
    if dataset.description:
        out.print(f"description: {dataset.description}")
    if dataset.tags:
        out.print("tags: " + ", ".join(f"{k}={v}" for k, v in dataset.tags.items()))
    for source in dataset._definition["sources"]:
        out.print(f"source: {describe_source(source)}")
    out.print(f"{len(entries):,} files, {_mb(entries)}")
    if files:
        for entry in entries:
            pin = (entry.get("sha256") or entry.get("etag") or "")[:12]
            out.print(f"  {entry['path']}  {entry['size'] or 0:,} B  {pin}")


@data.command("download")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("target", default=".")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist in TARGET.")
@workspace_option
def download(ref, target, overwrite, workspace_config):
    """Copy a dataset version's files into TARGET (default: the current folder)."""
    dataset = _get(workspace(workspace_config), ref)
    paths = dataset.download(target_path=target, overwrite=overwrite)
    console().print(f"Downloaded {len(paths):,} files to {target}")
