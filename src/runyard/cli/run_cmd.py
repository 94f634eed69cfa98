"""`runyard run`: submit a script as a tracked run and stream it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from runyard.cli.common import console, workspace, workspace_option


def _experiment_name(source_dir: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "-", source_dir.resolve().name).strip("-_")
    return name or "default"


def _parse_tags(tags: tuple[str, ...]) -> dict[str, str]:
    parsed = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"tags are KEY=VALUE. Received: {tag!r}", param_hint="--tag")
        parsed[key] = value
    return parsed


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("script", required=False)
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--env", "env_ref", default=None, metavar="NAME[:VERSION]",
              help="A registered or curated environment (default: this interpreter).")
@click.option("--requirements", "-r", default=None, metavar="FILE",
              help="Run in an environment built from this pip requirements file.")
@click.option("--workers", type=int, default=None, metavar="N",
              help="TensorFlow job with N worker processes (TensorflowConfiguration).")
@click.option("--ps", "ps_count", type=int, default=0, show_default=True, metavar="N",
              help="Parameter servers (with --workers).")
@click.option("--chief", is_flag=True,
              help="Add a chief task, which TF2's ParameterServerStrategy needs (with --workers).")
@click.option("--mpi", is_flag=True, help="An MPI job launched with mpirun (MpiConfiguration).")
@click.option("--processes-per-node", type=int, default=1, show_default=True, metavar="N",
              help="MPI ranks per node (with --mpi).")
@click.option("--nodes", type=int, default=1, show_default=True, metavar="N",
              help="Nodes for an MPI job (more than 1 needs a cluster compute target).")
@click.option("--rerun", default=None, metavar="RUN_ID",
              help="Run again with RUN_ID's snapshot, environment, script and arguments.")
@click.option("--experiment", "-e", default=None,
              help="Experiment name (default: the source folder's name).")
@click.option("--source-dir", "-s", default=None, metavar="DIR",
              help="Folder snapshotted and copied to the compute (default: the script's folder).")
@click.option("--compute", "-c", default="local", show_default=True, help="Compute target name.")
@click.option("--max-duration", type=float, default=None, metavar="SECONDS",
              help="Stop the run after this many seconds (max_run_duration_seconds).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag the run (repeatable).")
@click.option("--name", "display_name", default=None, metavar="TEXT",
              help="The run's display name (shown by the UI; default: generated).")
@click.option("--detach", "-d", is_flag=True, help="Return at once; follow with `runyard runs logs -f`.")
@workspace_option
def run(script, script_args, env_ref, requirements, workers, ps_count, chief, mpi,
        processes_per_node, nodes, rerun, experiment, source_dir, compute, max_duration, tags,
        display_name, detach, workspace_config):
    """Run SCRIPT with ARGS as a tracked run; options after SCRIPT go to the script.

    \b
    runyard run train.py --epochs 3
    runyard run --detach -e digits examples/digits/tf_mnist.py --data-folder data
    """
    from runyard.errors import ExperimentExecutionException, UserErrorException

    if display_name is not None and not display_name.strip():
        raise UserErrorException("--name needs some text (or leave it out for a generated name).")
    ws = workspace(workspace_config)
    if rerun:
        if script or env_ref or requirements:
            raise UserErrorException("--rerun takes the script, arguments and environment from "
                                     "the earlier run; give no script or --env with it.")
        from runyard.runs.rerun import rerun as rerun_run
        from runyard.runs.run import Run

        submitted = rerun_run(Run.get(ws, rerun), tags=_parse_tags(tags))
    else:
        if not script:
            raise UserErrorException("Name the script to run: runyard run train.py [ARGS]...")
        distributed = None
        if mpi and workers is not None:
            raise UserErrorException("Choose --mpi or --workers, not both.")
        if mpi:
            from runyard.distributed.configs import MpiConfiguration

            distributed = MpiConfiguration(processes_per_node, nodes)
        elif workers is not None:
            from runyard.distributed.configs import TensorflowConfiguration

            distributed = TensorflowConfiguration(workers, ps_count, chief=chief)
        elif ps_count or chief:
            raise UserErrorException("--ps and --chief go with --workers N.")
        submitted = _submit_script(ws, script, script_args, env_ref, requirements, experiment,
                                   source_dir, compute, max_duration, tags, distributed)
    if display_name is not None:
        submitted.display_name = display_name
    out = console(stderr=True)
    if detach:
        click.echo(submitted.id)
        out.print(f"[dim]Submitted to experiment {submitted.experiment.name}. Follow it with: "
                  f"runyard runs logs -f {submitted.id}[/]")
        return
    try:
        details = submitted.wait_for_completion(show_output=True, raise_on_error=False)
    except ExperimentExecutionException as exc:
        out.print(f"[yellow]{exc}[/]")
        sys.exit(130)
    if details["status"] != "Completed":
        error = details.get("error", {}).get("error", {})
        out.print(f"[red]Run {submitted.id} {details['status']}: {error.get('message', '')}[/]")
        sys.exit(1)


def _submit_script(ws, script, script_args, env_ref, requirements, experiment, source_dir,
                   compute, max_duration, tags, distributed):
    from runyard.runs.experiment import Experiment

    config, source = script_config(ws, script, script_args, env_ref, requirements, source_dir,
                                   compute, max_duration, distributed)
    return Experiment(ws, experiment or _experiment_name(source)).submit(config, tags=_parse_tags(tags))


def script_config(ws, script, script_args, env_ref, requirements, source_dir, compute,
                  max_duration, distributed=None):
    """The ScriptRunConfig of a script named on the command line, and its source folder."""
    from runyard.cli.env_cmd import load_env
    from runyard.errors import UserErrorException
    from runyard.runs.config import DEFAULT_MAX_RUN_DURATION_SECONDS, ScriptRunConfig

    environment = load_env(ws, env_ref, None, requirements) if (env_ref or requirements) else None
    script_path = Path(script)
    source = Path(source_dir) if source_dir else script_path.parent
    if source_dir:
        try:
            script_rel = script_path.resolve().relative_to(source.resolve())
        except ValueError:
            script_rel = script_path  # taken as relative to the source folder
    else:
        script_rel = Path(script_path.name)
    if not source.is_dir():
        raise UserErrorException(f"--source-dir {str(source)!r} is not a folder.")
    config = ScriptRunConfig(
        source_directory=str(source), script=script_rel.as_posix(), arguments=list(script_args),
        compute_target=compute, environment=environment, distributed_job_config=distributed,
        max_run_duration_seconds=max_duration or DEFAULT_MAX_RUN_DURATION_SECONDS)
    return config, source
