"""`runyard env list|show|build|prune`."""

from __future__ import annotations

import json
import time

import click

from runyard.cli.common import console, print_table, workspace, workspace_option


def parse_env_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition(":")
    return name, version or None


def load_env(ws, ref: str | None, conda_file: str | None, requirements: str | None):
    from runyard.environments.environment import Environment
    from runyard.errors import UserErrorException

    given = [x for x in (ref, conda_file, requirements) if x]
    if len(given) != 1:
        raise UserErrorException("Name one environment: NAME[:VERSION], --file conda.yml or "
                                 "--requirements requirements.txt.")
    if conda_file:
        return Environment.from_conda_specification("from-file", conda_file)
    if requirements:
        return Environment.from_pip_requirements("from-requirements", requirements)
    name, version = parse_env_ref(ref)
    return Environment.get(ws, name, version)


def _size(num: int) -> str:
    return f"{num / 1024 / 1024:.0f} MB"


@click.group()
def env() -> None:
    """Environments: registered, curated and cached."""


@env.command("list")
@workspace_option
def list_envs(workspace_config):
    """Registered and curated environments, and the build cache with its size."""
    from runyard.environments import builder
    from runyard.environments.environment import Environment

    ws = workspace(workspace_config)
    rows = []
    for name, found in sorted(Environment.list(ws).items()):
        cd = found.python.conda_dependencies
        packages = [*cd.conda_packages, *cd.pip_packages]
        rows.append([name, found.version, cd.get_python_version() or "-",
                     ", ".join(packages) if len(packages) < 6 else f"{len(packages)} packages"])
    print_table(["name", "version", "python", "packages"], rows)
    out = console()
    cached = builder.cached()
    total = builder.disk_usage(builder.envs_dir()) if cached else 0
    out.print(f"\nBuild cache {builder.envs_dir()}: {len(cached)} environments, {_size(total)} "
              "on disk (packages are hardlinked from uv's cache). `runyard env prune` frees it.")
    for info in cached:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(info["last_used"]))
        state = "" if info["complete"] else "  (incomplete)"
        out.print(f"  {info['hash']}  {info.get('name', '?'):<32} python {info.get('python', '?'):<8} "
                  f"last used {used}  {_size(info['bytes'])}{state}")


@env.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@workspace_option
def show(ref, workspace_config):
    """An environment's definition."""
    found = load_env(workspace(workspace_config), ref, None, None)
    click.echo(json.dumps(found.definition(), indent=2))


@env.command("build")
@click.argument("ref", metavar="NAME[:VERSION]", required=False)
@click.option("--file", "conda_file", default=None, help="A conda specification (YAML).")
@click.option("--requirements", "-r", default=None, help="A pip requirements file.")
@workspace_option
def build(ref, conda_file, requirements, workspace_config):
    """Build (or find cached) an environment now, showing the build."""
    from runyard.environments import builder, plan

    found = load_env(workspace(workspace_config), ref, conda_file, requirements)
    python = builder.materialize(plan.plan(found.definition()), click.echo)
    click.echo(f"Interpreter: {python}")


@env.command("prune")
@click.option("--older-than", "days", default=30.0, show_default=True, metavar="DAYS",
              help="Remove environments not used for this many days.")
@click.option("--all", "everything", is_flag=True, help="Remove every cached environment not in use.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@workspace_option
def prune(days, everything, dry_run, workspace_config):
    """Remove cached environments that no active run uses."""
    from runyard.environments import builder

    ws = workspace(workspace_config)
    removed = builder.prune(days, everything, _in_use(ws), dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    freed = sum(info["bytes"] for info in removed)
    for info in removed:
        click.echo(f"{verb} {info['hash']} ({info.get('name', '?')}, {_size(info['bytes'])})")
    click.echo(f"{verb} {len(removed)} environments, {_size(freed)}.")


def _in_use(ws) -> set[str]:
    """Hashes of the environments of this workspace's active runs."""
    from runyard.environments import plan
    from runyard.runs import liveness

    hashes = set()
    for record in ws.backend.runs.list():
        definition = record["spec"].get("environment")
        if record["status"] in liveness.ACTIVE and definition and \
                not definition["python"]["userManagedDependencies"]:
            try:
                hashes.add(plan.plan(definition).hash)
            except Exception:  # cannot be built: nothing cached to protect
                continue
    return hashes
