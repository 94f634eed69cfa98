"""The `runyard` command. Command groups load on first use so `runyard --help` stays fast."""

from __future__ import annotations

import importlib
import sys

import click

from runyard._version import __version__

# command name -> (module, attribute, one-line help shown by --help without importing it)
COMMANDS = {
    "run": ("runyard.cli.run_cmd", "run", "Run a script as a tracked run (streams its output)."),
    "runs": ("runyard.cli.runs_cmd", "runs", "List, show, follow, cancel and download runs."),
    "sweep": ("runyard.cli.sweep_cmd", "sweep",
              "Sweep a script's hyperparameters (HyperDrive) and show the trials."),
    "env": ("runyard.cli.env_cmd", "env", "List, show, build and prune environments."),
    "data": ("runyard.cli.data_cmd", "data", "Register, list, show and download datasets."),
    "model": ("runyard.cli.model_cmd", "model", "Register, list, show and download models."),
    "deploy": ("runyard.cli.endpoint_cmd", "deploy", "Serve registered models over HTTP."),
    "endpoint": ("runyard.cli.endpoint_cmd", "endpoint",
                 "List, inspect, invoke, restart and delete deployed services."),
    "compute": ("runyard.cli.compute_cmd", "compute",
                "Create, attach, inspect and delete Ray cluster compute targets."),
    "ui": ("runyard.cli.ui_cmd", "ui", "Browse runs, metrics and artifacts in the MLflow UI."),
    "tensorboard": ("runyard.cli.tensorboard_cmd", "tensorboard",
                    "Serve TensorBoard on runs' event files, following active runs."),
    "server": ("runyard.cli.server_cmd", "server",
               "Serve this workspace to other machines (team mode, one port)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runyard")
def cli() -> None:
    """runyard: train TensorFlow and Keras models with the Azure ML SDK v1 workflow,
    on this machine, with zero set-up.

    \b
    runyard run train.py --epochs 3      run a script as a tracked run
    runyard runs list                    recent runs
    runyard runs logs -f RUN_ID          follow a run's output
    runyard model register digits outputs/model --run RUN_ID --framework TensorFlow
    runyard deploy digits-svc digits     serve it over HTTP
    runyard ui                           browse runs in the MLflow UI
    """


def main(argv: list[str] | None = None) -> None:
    from runyard import settings

    try:
        cli.main(args=argv, prog_name="runyard", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        from runyard.errors import RunyardError
        from runyard.stores.failures import store_error

        shown = exc if isinstance(exc, RunyardError) else store_error(exc, "A database of the workspace")
        if settings.debug() or shown is None:
            raise
        click.secho(f"Error: {shown}", fg="red", err=True)
        sys.exit(2)
