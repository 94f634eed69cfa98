"""`runyard model register|list|show|download`."""

from __future__ import annotations

import json

import click

from runyard.cli.common import console, key_values, print_table, workspace, workspace_option


def get_model(ws, ref: str):
    from runyard.models.model import Model

    name, _, version = ref.partition(":")
    return Model(ws, name, version=version or None)


@click.group()
def model() -> None:
    """Registered models: register files or run outputs as versions, list, download."""


@model.command("register")
@click.argument("name")
@click.argument("path")
@click.option("--run", "run_id", default=None, help="PATH is a path in this run's artifacts (e.g. outputs/model).")
@click.option("--framework", default=None, help="TensorFlow, TfKeras, ScikitLearn, Onnx, PyTorch, Custom.")
@click.option("--framework-version", default=None)
@click.option("--description", default=None)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE")
@click.option("--cpu", type=float, default=None, help="CPU cores a deployment asks for.")
@click.option("--memory-gb", type=float, default=None, help="Memory a deployment asks for.")
@workspace_option
def register(name, path, run_id, framework, framework_version, description, tags, properties,
             cpu, memory_gb, workspace_config):
    """Register PATH (a local file or folder, or with --run a run's artifact path) as model NAME."""
    from runyard.models.model import Model
    from runyard.models.resource_configuration import ResourceConfiguration

    ws = workspace(workspace_config)
    resources = ResourceConfiguration(cpu, memory_gb) if cpu or memory_gb else None
    options = dict(tags=key_values(tags, "--tag"), properties=key_values(properties, "--property"),
                   model_framework=framework, model_framework_version=framework_version,
                   description=description, resource_configuration=resources)
    if run_id:
        from runyard.runs.run import Run

        registered = Run.get(ws, run_id).register_model(name, path, **options)
    else:
        registered = Model.register(ws, path, name, **options)
    console().print(f"Registered model {registered.name!r} version {registered.version} "
                    f"({registered.url})")


@model.command("list")
@click.option("--name", default=None)
@click.option("--latest", is_flag=True, help="Only the newest version of each model.")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]")
@click.option("--json", "as_json", is_flag=True)
@workspace_option
def list_(name, latest, tags, as_json, workspace_config):
    """Registered models, newest first."""
    from runyard.models.model import Model

    filters = [list(t.split("=", 1)) if "=" in t else t for t in tags]
    found = Model.list(workspace(workspace_config), name=name, tags=filters or None, latest=latest)
    if as_json:
        click.echo(json.dumps([m.serialize() for m in found], indent=1))
        return
    print_table(["name", "version", "framework", "run", "tags", "registered"],
                [[m.name, m.version, m.model_framework or "", m.run_id or "",
                  ", ".join(f"{k}={v}" for k, v in m.tags.items()),
                  m.created_time.astimezone().strftime("%Y-%m-%d %H:%M")] for m in found])


@model.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@workspace_option
def show(ref, workspace_config):
    """One model version, as JSON."""
    click.echo(json.dumps(get_model(workspace(workspace_config), ref).serialize(), indent=1))


@model.command("download")
@click.argument("ref", metavar="NAME[:VERSION]")
@click.argument("target", default=".")
@click.option("--exist-ok", is_flag=True, help="Replace what is already there.")
@workspace_option
def download(ref, target, exist_ok, workspace_config):
    """Copy a model's file or folder into TARGET (default: the current folder)."""
    path = get_model(workspace(workspace_config), ref).download(target, exist_ok=exist_ok)
    console().print(f"Downloaded to {path}")
