"""`runyard runs list|show|logs|cancel|download`."""

from __future__ import annotations

import json
import sys
import time

import click

from runyard.cli.common import console, get_run, workspace, workspace_option


@click.group()
def runs() -> None:
    """Runs of the workspace."""


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def _duration(record: dict) -> str:
    start, end = record.get("start_time"), record.get("end_time")
    if not start:
        return ""
    return f"{(end or time.time()) - start:.1f} s"


@runs.command("list")
@click.option("--experiment", "-e", default=None, help="Only this experiment's runs.")
@click.option("--limit", "-n", default=20, show_default=True, help="How many runs, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@workspace_option
def list_runs(experiment, limit, as_json, workspace_config):
    """Recent runs, newest first."""
    from rich.table import Table


    ws = workspace(workspace_config)
    records = list(ws.backend.runs.list(experiment=experiment, limit=limit))
    if as_json:
        click.echo(json.dumps([{"runId": r["run_id"], "experiment": r["experiment"],
                                "status": r["status"].value, "created": r["created_at"],
                                "target": r["target"]} for r in records], indent=2))
        return
    if not records:
        click.echo("No runs yet. Start one with: runyard run train.py")
        return
    table = Table(box=None)
    table.add_column("RUN ID", no_wrap=True, overflow="fold", min_width=len(records[0]["run_id"]))
    for column in ("EXPERIMENT", "STATUS", "CREATED", "DURATION"):
        table.add_column(column)
    colors = {"Completed": "green", "Failed": "red", "Canceled": "yellow", "Running": "cyan"}
    for r in records:
        status = r["status"].value
        table.add_row(r["run_id"], r["experiment"], f"[{colors.get(status, 'white')}]{status}[/]",
                      _when(r["created_at"]), _duration(r))
    console().print(table)


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the details and metrics as JSON.")
@workspace_option
def show(run_id, as_json, workspace_config):
    """Details, metrics and files of a run."""
    run = get_run(workspace(workspace_config), run_id)
    details = run.get_details()
    metrics = run.get_metrics()
    files = run.get_file_names()
    if as_json:
        click.echo(json.dumps({"details": details, "metrics": metrics, "files": files},
                              indent=2, default=str))
        return
    out = console()
    out.print(f"[bold]{run.id}[/]  {details['status']}")
    definition = details["runDefinition"]
    command = definition["command"] or [definition["script"], *definition["arguments"]]
    out.print(f"  command:   {' '.join(command)}")
    out.print(f"  started:   {details['startTimeUtc'] or '-'}")
    out.print(f"  ended:     {details['endTimeUtc'] or '-'}")
    if "exitCode" in details:
        out.print(f"  exit code: {details['exitCode']}")
    if details.get("error"):
        out.print(f"  [red]error: {details['error']['error'].get('message')}[/]")
    if hasattr(run, "trials_table"):  # a sweep: its metrics are its trials'
        out.print("trials (best first):")
        out.print(run.trials_table(), markup=False, highlight=False)
        metrics = {}
    if metrics:
        out.print("metrics:")
        for name, value in sorted(metrics.items()):
            shown = value if not isinstance(value, list) or len(value) <= 6 else \
                f"{value[:3]} ... {value[-2:]} ({len(value)} values)"
            out.print(f"  {name}: {shown}")
    if files:
        out.print("files:")
        for name in files:
            out.print(f"  {name}")


@runs.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the run ends.")
@workspace_option
def logs(run_id, follow, workspace_config):
    """Print a run's output (user_logs/std_log.txt)."""
    run = get_run(workspace(workspace_config), run_id)
    if not follow:
        sys.stdout.write((run._read_log("std_log") or b"").decode("utf-8", errors="replace"))
        return
    try:
        for text in run.follow_logs():
            sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        sys.exit(130)
    status = run.get_status()
    console(stderr=True).print(f"[dim]Run {run.id}: {status}[/]")
    sys.exit(0 if status == "Completed" else 1)


@runs.command("cancel")
@click.argument("run_id")
@click.option("--wait", is_flag=True, help="Wait until the run has stopped.")
@workspace_option
def cancel(run_id, wait, workspace_config):
    """Stop every process of a run."""
    run = get_run(workspace(workspace_config), run_id)
    run.cancel()
    if wait:
        while not run._is_done():
            time.sleep(0.2)
    click.echo(f"{run.id}: {run.get_status()}")


@runs.command("download")
@click.argument("run_id")
@click.option("--prefix", "-p", default=None, help="Only files under this prefix (e.g. outputs/model).")
@click.option("--output", "-o", "output_dir", default=".", show_default=True, help="Target folder.")
@click.option("--strip-prefix", is_flag=True, help="Drop the prefix from the local paths.")
@workspace_option
def download(run_id, prefix, output_dir, strip_prefix, workspace_config):
    """Download a run's files."""
    run = get_run(workspace(workspace_config), run_id)
    written = run.download_files(prefix=prefix, output_directory=output_dir,
                                 append_prefix=not strip_prefix)
    for path in written:
        click.echo(path)
