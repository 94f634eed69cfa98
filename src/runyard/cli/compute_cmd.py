"""`runyard compute create|attach|list|show|delete`: Ray cluster compute targets."""

from __future__ import annotations

import json
import os

import click

from runyard.cli.common import console, print_table, workspace, workspace_option


@click.group()
def compute() -> None:
    """Compute targets: a Ray cluster on this machine, or an attached one."""


@compute.command("create")
@click.argument("name")
@click.option("--max-nodes", type=int, default=1, show_default=True,
              help="Ray nodes to start on this machine (one job slot each).")
@click.option("--vm-size", default="", help="Recorded (v1 compatibility).")
@click.option("--no-wait", is_flag=True, help="Return while the nodes are still starting.")
@workspace_option
def create(name, max_nodes, vm_size, no_wait, workspace_config):
    """Start a Ray cluster of MAX_NODES nodes on this machine as compute target NAME."""
    from runyard.compute.targets import AmlCompute, ComputeTarget

    ws = workspace(workspace_config)
    target = ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(
        vm_size=vm_size, max_nodes=max_nodes))
    if no_wait:
        console().print(f"Creating {name!r} (runyard compute show {name})")
        return
    target.wait_for_completion(show_output=False, timeout_in_minutes=15)
    console().print(f"Compute target {name!r}: {max_nodes} Ray node(s) at {target.address}")


@compute.command("attach")
@click.argument("name")
@click.option("--address", required=True, help="The Ray cluster's GCS address, host:port.")
@click.option("--token-env", default=None, metavar="VAR",
              help="Environment variable holding the cluster's Ray auth token.")
@workspace_option
def attach(name, address, token_env, workspace_config):
    """Attach a running Ray cluster as compute target NAME."""
    from runyard.compute.targets import ComputeTarget, RayCompute

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise click.UsageError(f"--token-env {token_env}: that variable is not set.")
    ws = workspace(workspace_config)
    target = ComputeTarget.attach(ws, name, RayCompute.attach_configuration(address, token))
    console().print(f"Attached {name!r}: {target.get_status().current_node_count} node(s) at {address}")


@compute.command("list")
@click.option("--json", "as_json", is_flag=True)
@workspace_option
def list_targets(as_json, workspace_config):
    """Compute targets of the workspace."""
    from runyard.compute.targets import ComputeTarget

    ws = workspace(workspace_config)
    targets = [t.serialize() for t in ComputeTarget.list(ws)]
    if as_json:
        click.echo(json.dumps(targets, indent=1))
        return
    print_table(["name", "type", "state", "nodes", "address"],
                [["local", "local", "Succeeded", "1", "this machine"]]
                + [[t["name"], t["type"], t["provisioningState"], t["properties"].get("max_nodes", ""),
                    t["address"] or ""] for t in targets], status_column=2)


@compute.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@workspace_option
def show(name, as_json, workspace_config):
    """Status and nodes of compute target NAME."""
    from runyard.compute.targets import ComputeTarget

    target = ComputeTarget(workspace(workspace_config), name)
    status = target.get_status().serialize()
    nodes = target.list_nodes()
    if as_json:
        click.echo(json.dumps({**status, "nodes": nodes}, indent=1))
        return
    out = console()
    out.print(f"{name}: {target.type}, {status['provisioningState']}, "
              f"{status['currentNodeCount']} node(s) alive at {status['address'] or '-'}")
    for error in status["provisioningErrors"] or []:
        out.print(f"[red]{error['error']['message']}[/red]")
    if nodes:
        print_table(["node id", "ip", "state", "run", "head"],
                    [[node["nodeId"], node["privateIpAddress"], node["nodeState"], node["runId"] or "",
                      "yes" if node["isHead"] else ""] for node in nodes])


@compute.command("delete")
@click.argument("name")
@workspace_option
def delete(name, workspace_config):
    """Stop a runyard-started cluster and remove it (an attached one is only forgotten)."""
    from runyard.compute.targets import ComputeTarget

    ComputeTarget(workspace(workspace_config), name).delete()
    console().print(f"Deleted compute target {name!r}")
