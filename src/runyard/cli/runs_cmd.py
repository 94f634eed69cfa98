"""`runyard runs list|show|logs|cancel|download`."""

from __future__ import annotations

import json
import sys
import time

import click

from runyard.cli.common import (
    console,
    get_run,
    print_table,
    stopped_following,
    workspace,
    workspace_option,
)


@click.group()
def runs() -> None:
    """Runs of the workspace."""


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def _duration(record: dict) -> str:
    from runyard.runs.mlflow_fields import ran_seconds

    seconds = ran_seconds(record)
    return "" if seconds is None else f"{seconds:.1f} s"


STATUSES = ("Queued", "Preparing", "Starting", "Running", "Finalizing", "CancelRequested",
            "NotResponding", "Completed", "Failed", "Canceled")


@runs.command("list")
@click.option("--experiment", "-e", default=None, help="Only this experiment's runs.")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              help=f"Only runs in this status (repeatable): {', '.join(STATUSES)}.")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="Only runs with this tag (repeatable).")
@click.option("--limit", "-n", default=20, show_default=True, help="How many runs, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@workspace_option
def list_runs(experiment, statuses, tags, limit, as_json, workspace_config):
    """Recent runs, newest first."""
    from runyard.errors import UserErrorException
    from runyard.runs import mlflow_fields

    ws = workspace(workspace_config)
    known = {s.lower(): s for s in STATUSES}
    wanted_status = set()
    for status in statuses:
        if status.lower() not in known:
            raise UserErrorException(f"--status is one of {', '.join(STATUSES)}. Received: {status!r}")
        wanted_status.add(known[status.lower()])
    wanted_tags = [tag.partition("=") for tag in tags]
    if experiment is not None and experiment not in ws.backend.runs.experiments():
        raise UserErrorException(f"No experiment {experiment!r} in workspace {ws.name!r}. Experiments: "
                                 f"{', '.join(sorted(ws.backend.runs.experiments())) or 'none yet'}.")
    filtered = bool(wanted_status or wanted_tags)
    records = []
    for record in ws.backend.runs.list(experiment=experiment, limit=None if filtered else limit):
        if wanted_status and record["status"].value not in wanted_status:
            continue
        if any(key not in record["tags"] or (sep and record["tags"][key] != value)
               for key, sep, value in wanted_tags):
            continue
        records.append(record)
        if len(records) >= limit:
            break
    if as_json:
        click.echo(json.dumps([{"runId": r["run_id"], "displayName": mlflow_fields.name_of(r),
                                "experiment": r["experiment"], "status": r["status"].value,
                                "created": r["created_at"], "target": r["target"], "tags": r["tags"]}
                               for r in records], indent=2))
        return
    if not records:
        click.echo("No runs match those filters." if filtered else "No runs yet. Start one with: runyard run train.py")
        return
    print_table(["run id", "name", "experiment", "status", "created", "duration"],
                [[r["run_id"], mlflow_fields.name_of(r), r["experiment"], r["status"].value,
                  _when(r["created_at"]), _duration(r)] for r in records], status_column=3)


def _decoded(properties: dict) -> dict:
    """Property values that hold JSON (a trial's sampled values) as JSON, not as a string."""
    out = {}
    for key, value in properties.items():
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def run_summary(run) -> dict:
    """What `runs show` prints: the run's facts, flat."""
    from runyard.runs import mlflow_fields

    record = run._refresh()
    spec = record["spec"]
    seconds = mlflow_fields.ran_seconds(record)
    return {
        "runId": run.id, "displayName": mlflow_fields.name_of(record), "experiment": record["experiment"],
        "status": record["status"].value, "created": _when(record["created_at"]),
        "started": _when(record.get("start_time")), "ended": _when(record.get("end_time")),
        "durationSeconds": None if seconds is None else round(seconds, 3),
        "computeTarget": record["target"], "environment": mlflow_fields.environment_label(spec.get("environment")),
        "processes": mlflow_fields.layout(spec.get("distribution")),
        "command": spec.get("command") or [spec.get("script"), *map(str, spec.get("arguments") or [])],
        "parentRunId": record.get("parent_run_id"), "tags": record["tags"],
        "properties": _decoded(record["properties"]),
        "inputs": [{"name": i["name"], "mode": i.get("mode"), "data": i.get("label")} for i in spec.get("inputs") or []],
        "exitCode": record.get("exit_code"), "error": record.get("error"), "page": run.get_portal_url(),
        "resources": mlflow_fields.resources_text(record["properties"])}


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run's facts, metrics and files as JSON.")
@workspace_option
def show(run_id, as_json, workspace_config):
    """Details, metrics and files of a run."""
    run = get_run(workspace(workspace_config), run_id)
    summary = run_summary(run)
    metrics = run.get_metrics()
    files = run.get_file_names()
    if as_json:
        click.echo(json.dumps({**summary, "metrics": metrics, "files": files}, indent=2, default=str))
        return
    out = console()
    out.print(f"[bold]{summary['displayName']}[/]  {summary['runId']}  {summary['status']}", markup=True)
    duration = "-" if summary["durationSeconds"] is None else f"{summary['durationSeconds']:.1f} s"
    for label, value in (("experiment", summary["experiment"]), ("command", " ".join(map(str, summary["command"]))),
                         ("compute", summary["computeTarget"]), ("environment", summary["environment"]),
                         ("processes", summary["processes"]), ("created", summary["created"]),
                         ("started", summary["started"] or "-"), ("ended", summary["ended"] or "-"),
                         ("duration", duration), ("resources", summary["resources"]),
                         ("parent", summary["parentRunId"]),
                         ("exit code", summary["exitCode"]), ("page", summary["page"])):
        if value is not None:
            out.print(f"  {label + ':':<13}{value}", markup=False, highlight=False)
    if summary["error"]:
        out.print(f"  [red]error:       {summary['error'].get('message')}[/]")
    if summary["tags"]:
        out.print("tags:")
        for key, value in sorted(summary["tags"].items()):
            out.print(f"  {key}: {value}", markup=False, highlight=False)
    if summary["inputs"]:
        out.print("inputs:")
        for item in summary["inputs"]:
            out.print(f"  {item['name']} ({item['mode']}): {item['data']}", markup=False, highlight=False)
    if hasattr(run, "trials_table"):  # a sweep: its metrics are its trials'
        out.print("trials (best first):")
        out.print(run.trials_table(), markup=False, highlight=False)
        metrics = {}
    if metrics:
        out.print("metrics:")
        for name, value in sorted(metrics.items()):
            shown = value if not isinstance(value, list) or len(value) <= 6 else \
                f"{value[:3]} ... {value[-2:]} ({len(value)} values)"
            out.print(f"  {name}: {shown}", markup=False, highlight=False)
    if files:
        out.print("files:")
        for name in files:
            out.print(f"  {name}", markup=False, highlight=False)


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
        console(stderr=True).print(f"[yellow]{stopped_following(run.id)}[/]")
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
