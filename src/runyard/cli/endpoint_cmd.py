"""`runyard deploy` and `runyard endpoint list|logs|invoke|keys|restart|delete`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from runyard.cli.common import console, print_table, workspace, workspace_option


@click.command()
@click.argument("name")
@click.argument("models", nargs=-1, required=True, metavar="MODEL[:VERSION]...")
@click.option("--entry-script", default=None, help="score.py with init() and run(raw_data); "
              "without it TensorFlow/Keras models are served as they are.")
@click.option("--source-dir", default=".", show_default=True, help="Folder holding the entry script.")
@click.option("--environment", "environment", default=None, metavar="NAME[:VERSION]",
              help="A registered environment for the entry script.")
@click.option("--port", type=int, default=None, help="Default: any free port.")
@click.option("--local", is_flag=True, help="A LocalWebservice (else an AciWebservice, served here).")
@click.option("--auth", is_flag=True, help="Require a key (AciWebservice only).")
@click.option("--max-batch-size", type=int, default=64, show_default=True)
@click.option("--batch-timeout-micros", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a service of the same name.")
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting until it serves.")
@workspace_option
def deploy(name, models, entry_script, source_dir, environment, port, local, auth, max_batch_size,
           batch_timeout_micros, overwrite, no_wait, workspace_config):
    """Serve registered MODELS over HTTP as service NAME."""
    from runyard.cli.model_cmd import get_model
    from runyard.errors import UserErrorException
    from runyard.models.model import Model
    from runyard.serving.configs import InferenceConfig
    from runyard.serving.webservice import AciWebservice, LocalWebservice

    ws = workspace(workspace_config)
    chosen = [get_model(ws, ref) for ref in models]
    inference = None
    if entry_script:
        env = None
        if environment:
            from runyard.environments.environment import Environment

            env_name, _, version = environment.partition(":")
            env = Environment.get(ws, env_name, version or None)
        inference = InferenceConfig(entry_script=entry_script, source_directory=source_dir, environment=env)
    elif environment:
        raise UserErrorException("--environment goes with --entry-script.")
    batching = dict(port=port, max_batch_size=max_batch_size, batch_timeout_micros=batch_timeout_micros)
    if local:
        if auth:
            raise UserErrorException("--auth is for AciWebservice services: leave out --local.")
        config = LocalWebservice.deploy_configuration(**batching)
    else:
        config = AciWebservice.deploy_configuration(auth_enabled=auth, **batching)
    service = Model.deploy(ws, name, chosen, inference, config, overwrite=overwrite)
    if no_wait:
        console().print(f"Deploying {name}; follow it with `runyard endpoint logs {name}`.")
        return
    service.wait_for_deployment(show_output=False)
    console().print(f"Service {name} is Healthy. Scoring URI: {service.scoring_uri}")
    if auth:
        console().print(f"Keys: runyard endpoint keys {name}")


@click.group()
def endpoint() -> None:
    """Deployed services: list, logs, invoke, keys, restart, delete."""


def _service(ws, name):
    from runyard.serving.webservice import Webservice

    return Webservice(ws, name)


@endpoint.command("list")
@click.option("--json", "as_json", is_flag=True)
@workspace_option
def list_(as_json, workspace_config):
    """Services with their state, models and scoring URI."""
    from runyard.serving.webservice import Webservice

    services = [s.serialize() for s in Webservice.list(workspace(workspace_config))]
    if as_json:
        click.echo(json.dumps(services, indent=1))
        return
    print_table(["name", "type", "state", "models", "scoring URI", "error"],
                [[s["name"], s["computeType"], s["state"], ", ".join(s["models"]), s["scoringUri"] or "",
                  (s["error"] or "").replace("\n", " ")] for s in services], status_column=2)


@endpoint.command("logs")
@click.argument("name")
@click.option("-n", "--lines", type=int, default=200, show_default=True)
@click.option("-f", "--follow", "follow_log", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@workspace_option
def logs(name, lines, follow_log, workspace_config):
    """The last lines of a service's log (its server and entry script output)."""
    from runyard.runs.follow import follow

    ws = workspace(workspace_config)
    click.echo(_service(ws, name).get_logs(num_lines=lines), nl=False)
    if follow_log:
        try:
            for text in follow(ws.backend.endpoints.log_source(name), lambda: False, from_start=False):
                click.echo(text, nl=False)
        except KeyboardInterrupt:
            pass


@endpoint.command("invoke")
@click.argument("name")
@click.option("--data", "data", default=None, help="The JSON body (default: read standard input).")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A file holding the JSON body.")
@workspace_option
def invoke(name, data, file, workspace_config):
    """POST a JSON body to the service's scoring URI and print the answer."""
    body = data if data is not None else Path(file).read_text() if file else sys.stdin.read()
    click.echo(json.dumps(_service(workspace(workspace_config), name).run(body)))


@endpoint.command("keys")
@click.argument("name")
@click.option("--regenerate", type=click.Choice(["Primary", "Secondary"]), default=None)
@workspace_option
def keys(name, regenerate, workspace_config):
    """The service's primary and secondary keys (--regenerate one of them)."""
    service = _service(workspace(workspace_config), name)
    if regenerate:
        service.regen_key(regenerate)
    primary, secondary = service.get_keys()
    click.echo(f"primary:   {primary}\nsecondary: {secondary}")


@endpoint.command("restart")
@click.argument("name", required=False)
@click.option("--all", "all_stopped", is_flag=True,
              help="Every service whose server is not running (e.g. in an @reboot job).")
@workspace_option
def restart(name, all_stopped, workspace_config):
    """Start a service's server again from its recorded configuration (after a reboot)."""
    from runyard.errors import UserErrorException, WebserviceException
    from runyard.serving import store as endpoint_store
    from runyard.serving.webservice import Webservice

    ws = workspace(workspace_config)
    if all_stopped == bool(name):
        raise UserErrorException("Give a service NAME or --all.")
    services = [_service(ws, name)] if name else [
        s for s in Webservice.list(ws) if s.state in ("Unhealthy", "Failed") and not endpoint_store.server_alive(s._record)]
    failed = []
    for service in services:
        try:
            service.reload(wait=True)
        except WebserviceException as exc:
            failed.append(service.name)
            console(stderr=True).print(str(exc))
            continue
        console().print(f"Service {service.name} is Healthy. Scoring URI: {service.scoring_uri}")
    if failed:
        raise WebserviceException(f"Could not restart: {', '.join(failed)} (see above).")


@endpoint.command("delete")
@click.argument("name")
@workspace_option
def delete(name, workspace_config):
    """Stop a service and remove it."""
    _service(workspace(workspace_config), name).delete()
    console().print(f"Deleted service {name}")
