"""`runyard tensorboard RUN [RUN ...]`: TensorBoard on runs' event files, following active
runs, until Ctrl-C, SIGTERM or SIGHUP (which stop TensorBoard too)."""

from __future__ import annotations

import signal
import threading

import click

from runyard.cli.common import workspace, workspace_option


@click.command()
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN [RUN ...]")
@click.option("--port", "-p", default=6006, show_default=True, help="Port TensorBoard listens on.")
@click.option("--logdir", default=None, help="Keep the copied event files in this folder (default: a temporary one).")
@workspace_option
def tensorboard(run_ids, port, logdir, workspace_config):
    """Serve TensorBoard on the runs' logs/ (each run under its display name) until Ctrl-C."""
    from runyard.runs.run import Run
    from runyard.tensorboard import Tensorboard

    ws = workspace(workspace_config)
    runs = [Run.get(ws, run_id) for run_id in run_ids]
    board = Tensorboard(runs, local_root=logdir, port=port)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        url = board.start()
        click.echo(f"runyard tensorboard: {len(runs)} run(s) at {url} (Ctrl-C stops it)")
        while not stopped.wait(1.0):
            pass
    finally:
        board.stop()
