"""`runyard sweep`: a HyperDrive sweep of a script without writing Python."""

from __future__ import annotations

import ast
import sys

import click

from runyard.cli.common import console, workspace, workspace_option

POLICIES = {"bandit": "BanditPolicy", "median": "MedianStoppingPolicy",
            "truncation": "TruncationSelectionPolicy", "none": "NoTerminationPolicy"}
SAMPLINGS = {"random": "RandomParameterSampling", "grid": "GridParameterSampling",
             "bayesian": "BayesianParameterSampling"}


def parse_param(text: str) -> tuple[str, list]:
    """'--lr=loguniform(-6,-1)' -> ('--lr', ['loguniform', [-6, -1]]): one of v1's parameter
    expressions with literal arguments (nothing else is evaluated)."""
    from runyard.errors import UserErrorException
    from runyard.train import hyperdrive

    name, sep, expression = text.partition("=")
    usage = ("--param takes NAME=EXPRESSION, e.g. --param --lr='loguniform(-6,-1)' or "
             f"--param --batch-size='choice(32,64)'. Received: {text!r}")
    if not sep or not name or not expression:
        raise UserErrorException(usage)
    try:
        call = ast.parse(expression.strip(), mode="eval").body
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.keywords
                and call.func.id in hyperdrive.sampling.EXPRESSIONS):
            raise ValueError("not an expression")
        args = [ast.literal_eval(arg) for arg in call.args]
    except (SyntaxError, ValueError):
        raise UserErrorException(f"{usage}. The expressions: "
                                 f"{', '.join(hyperdrive.sampling.EXPRESSIONS)}.") from None
    return name, getattr(hyperdrive, call.func.id)(*args)


def parse_policy(text: str):
    """'bandit:slack_factor=0.1,evaluation_interval=2' -> BanditPolicy(...)."""
    from runyard.errors import UserErrorException
    from runyard.train import hyperdrive

    kind, _, settings = text.partition(":")
    if kind.lower() not in POLICIES:
        raise UserErrorException(f"--policy is one of {', '.join(POLICIES)}, with KEY=VALUE settings "
                                 f"after a colon (bandit:slack_factor=0.1). Received: {text!r}")
    values = {}
    for item in filter(None, settings.split(",")):
        key, sep, value = item.partition("=")
        try:
            values[key.strip()] = ast.literal_eval(value.strip())
        except (SyntaxError, ValueError):
            raise UserErrorException(f"--policy settings are KEY=NUMBER. Received: {item!r}") from None
    try:
        return getattr(hyperdrive, POLICIES[kind.lower()])(**values)
    except TypeError as exc:
        raise UserErrorException(f"--policy {text!r}: {exc}") from None


@click.command()
@click.argument("script")
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=EXPRESSION",
              help="A hyperparameter: the script's argument and a v1 expression (repeatable).")
@click.option("--metric", required=True, help="The primary metric, as the script logs it.")
@click.option("--goal", type=click.Choice(["max", "min"]), default="max", show_default=True)
@click.option("--sampling", type=click.Choice(sorted(SAMPLINGS)), default="random", show_default=True)
@click.option("--trials", type=int, default=10, show_default=True, help="max_total_runs.")
@click.option("--concurrency", type=int, default=None, help="max_concurrent_runs (default: all).")
@click.option("--max-minutes", type=float, default=10080, show_default=True, help="max_duration_minutes.")
@click.option("--policy", default="none", show_default=True, metavar="KIND[:KEY=VALUE,...]",
              help="bandit, median, truncation or none, e.g. bandit:slack_factor=0.1.")
@click.option("--seed", type=int, default=None, help="Repeatable random draws.")
@click.option("--env", "env_ref", default=None, metavar="NAME[:VERSION]",
              help="A registered or curated environment (default: this interpreter).")
@click.option("--requirements", "-r", default=None, metavar="FILE",
              help="Run the trials in an environment built from this requirements file.")
@click.option("--experiment", "-e", default=None, help="Experiment name (default: the folder's name).")
@click.option("--source-dir", "-s", default=None, metavar="DIR", help="Default: the script's folder.")
@click.option("--compute", "-c", default="local", show_default=True, help="Compute target name.")
@click.option("--detach", "-d", is_flag=True, help="Return at once with the sweep's run id.")
@workspace_option
def sweep(script, script_args, params, metric, goal, sampling, trials, concurrency, max_minutes,
          policy, seed, env_ref, requirements, experiment, source_dir, compute, detach,
          workspace_config):
    """Sweep SCRIPT's hyperparameters (v1 HyperDrive); its fixed arguments go after --.

    \b
    runyard sweep train.py --param --lr='loguniform(-6,-1)' --param --batch-size='choice(32,64)' \\
        --metric validation_acc --goal max --trials 20 --concurrency 4 \\
        --policy bandit:slack_factor=0.1 -- --epochs 5
    """
    from runyard.cli.run_cmd import _experiment_name, script_config
    from runyard.runs.experiment import Experiment
    from runyard.train import hyperdrive

    ws = workspace(workspace_config)
    space = dict(parse_param(p) for p in params)
    config, source = script_config(ws, script, script_args, env_ref, requirements, source_dir,
                                   compute, None)
    hyperdrive_config = hyperdrive.HyperDriveConfig(
        run_config=config,
        hyperparameter_sampling=getattr(hyperdrive, SAMPLINGS[sampling])(
            space, properties={"seed": seed} if seed is not None else None),
        policy=parse_policy(policy), primary_metric_name=metric,
        primary_metric_goal=hyperdrive.PrimaryMetricGoal.MAXIMIZE if goal == "max"
        else hyperdrive.PrimaryMetricGoal.MINIMIZE,
        max_total_runs=trials, max_concurrent_runs=concurrency,
        max_duration_minutes=max_minutes)
    run = Experiment(ws, experiment or _experiment_name(source)).submit(hyperdrive_config)
    out = console(stderr=True)
    if detach:
        click.echo(run.id)
        out.print(f"[dim]Follow it with: runyard runs logs -f {run.id}; the trials: "
                  f"runyard runs show {run.id}[/]")
        return
    details = run.wait_for_completion(show_output=True, raise_on_error=False)
    if details["status"] != "Completed":
        out.print(f"[red]Sweep {run.id} {details['status']}[/]")
        sys.exit(1)
