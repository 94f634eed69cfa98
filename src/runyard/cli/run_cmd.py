"""`runyard run`: submit a script as a tracked run and stream it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from runyard.cli.common import console, stopped_following, workspace, workspace_option


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
@click.option("--gpus", "gpu_count", type=click.IntRange(min=0), default=None, metavar="N",
              help="GPUs per node the run holds (default: all the node has; 0: none, never waits for one).")
@click.option("--detach", "-d", is_flag=True, help="Return at once; follow with `runyard runs logs -f`.")
@workspace_option
def run(script, script_args, env_ref, requirements, workers, ps_count, chief, mpi,
        processes_per_node, nodes, rerun, experiment, source_dir, compute, max_duration, tags,
        display_name, gpu_count, detach, workspace_config):
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
        script_args = _script_arguments(script, script_args)
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
                                   source_dir, compute, max_duration, tags, distributed, gpu_count)
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
    except ExperimentExecutionException:
        out.print(f"[yellow]{stopped_following(submitted.id)}[/]")
        sys.exit(130)
    if details["status"] != "Completed":
        sys.exit(1)  # (the summary above said why)


# runyard run's own long options: given after the script they would reach the script instead.
OWN_OPTIONS = ("--env", "--requirements", "--workers", "--ps", "--chief", "--mpi", "--processes-per-node",
               "--nodes", "--rerun", "--experiment", "--source-dir", "--compute", "--max-duration", "--tag",
               "--name", "--gpus", "--detach", "--workspace")


def _script_arguments(script: str, script_args: tuple) -> list[str]:
    """The script's arguments, refusing the mix-ups that would start a run bound to fail."""
    from runyard.errors import UserErrorException

    if script.startswith("-"):
        raise UserErrorException(
            f"{script} is not an option of runyard run. runyard's options go before the script and "
            f"the script's own options after it: runyard run [OPTIONS] train.py {script} ...")
    args = list(script_args)
    if "--" in args:  # everything after -- is the script's, whatever it looks like
        cut = args.index("--")
        before, after = args[:cut], args[cut + 1:]
    else:
        before, after = args, []
    for arg in before:
        option = arg.split("=", 1)[0]
        if option in OWN_OPTIONS:
            raise UserErrorException(
                f"{option} is an option of runyard run, given after the script, so {script} would get "
                f"it. Put it before the script (runyard run {option} ... {script} ARGS), or, if "
                f"{script} takes {option} itself, put -- before its arguments: runyard run {script} -- ARGS.")
    return before + after


def _submit_script(ws, script, script_args, env_ref, requirements, experiment, source_dir,
                   compute, max_duration, tags, distributed, gpu_count=None):
    from runyard.runs.experiment import Experiment

    config, source = script_config(ws, script, script_args, env_ref, requirements, source_dir,
                                   compute, max_duration, distributed)
    config.run_config.gpu_count = gpu_count
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
    _check_paths_reach_the_job(script_args, source)
    suffix = script_path.suffix.lower()
    if suffix == ".ipynb":
        raise UserErrorException(
            f"{script} is a notebook; runyard run runs a Python or shell script. Convert it first "
            f"(jupyter nbconvert --to script {script}), or log from the notebook itself with "
            "Experiment(ws, name).start_logging().")
    script_kwargs: dict = {"script": script_rel.as_posix(), "arguments": list(script_args)}
    if suffix in (".sh", ".bash"):  # a shell script runs with bash, from the snapshot
        if not (source / script_rel).is_file():
            raise UserErrorException(f"{script} was not found in {str(source.resolve())!r}.")
        script_kwargs = {"command": ["bash", script_rel.as_posix(), *map(str, script_args)]}
    config = ScriptRunConfig(
        source_directory=str(source), **script_kwargs,
        compute_target=compute, environment=environment, distributed_job_config=distributed,
        max_run_duration_seconds=max_duration or DEFAULT_MAX_RUN_DURATION_SECONDS)
    return config, source


def _check_paths_reach_the_job(script_args, source: Path) -> None:
    """A relative path argument that exists here but not in the snapshot would make the script
    fail seconds later (the job runs in its snapshot's folder): say so now."""
    from runyard.errors import UserErrorException

    if Path.cwd().resolve() == source.resolve():
        return
    for arg in script_args:
        value = str(arg).split("=", 1)[-1] if str(arg).startswith("--") else str(arg)
        if not value or value.startswith("-") or Path(value).is_absolute():
            continue
        if Path(value).exists() and not (source / value).exists():
            raise UserErrorException(
                f"{value!r} exists in this folder but not in the run's source folder "
                f"{str(source.resolve())!r}, where the script runs. Pass its absolute path "
                f"({Path(value).resolve()}), use --source-dir to snapshot the folder that holds both, "
                "or register it as a dataset.")
