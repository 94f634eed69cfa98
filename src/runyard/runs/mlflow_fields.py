"""What MLflow's UI shows of a run besides its metrics: a readable display name, the script's
arguments as params (a sweep's sampled values among them), runyard's facts as tags (its status
word, compute target, environment, distributed layout, who submitted it) and, once it ended
other than Completed, a description saying why. Written when the run is recorded and when it
ends, so the MLflow UI (`runyard ui`) lists runs the way a v1 user reads them."""

from __future__ import annotations

import hashlib

STATUS_TAG = "runyard.status"
DISPLAY_NAME = "runyard.displayName"  # the run's property holding its display name
# The run's properties its supervisor sets from what the job used (supervisor/resources.py)
PEAK_MEMORY = "runyard.peakMemoryMB"
MEAN_CPU = "runyard.meanCpuPercent"  # of the machine's cores
MEAN_GPU = "runyard.meanGpuPercent"  # over the run's GPUs
DEVICES = "runyard.devices"
MLFLOW_PARAM_VALUE_MAX = 6000  # MLflow refuses longer param values
MLFLOW_DESCRIPTION = "mlflow.note.content"  # the tag MLflow's UI shows as a run's description

_ADJECTIVES = ("amber", "brave", "calm", "clever", "coral", "crisp", "eager", "fond", "gentle",
               "golden", "happy", "honest", "jolly", "keen", "khaki", "lively", "lucid", "mellow",
               "misty", "nimble", "olive", "plucky", "quiet", "rapid", "shy", "silver", "sleek",
               "sunny", "tidy", "witty")
_NOUNS = ("anchor", "apple", "badger", "beacon", "brook", "cactus", "cloud", "comet", "falcon",
          "fern", "garden", "harbor", "island", "kettle", "lantern", "maple", "meadow", "nectar",
          "otter", "pebble", "pepper", "plum", "river", "rocket", "sail", "spruce", "tiger",
          "tulip", "walrus", "yarn")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def display_name(run_id: str) -> str:
    """A name for people, the way Azure ML names runs (`keen_otter_2gbl3gnq`); the same for
    the same run id."""
    digest = hashlib.sha256(run_id.encode()).digest()
    suffix = "".join(_BASE36[b % 36] for b in digest[2:10])
    return f"{_ADJECTIVES[digest[0] % len(_ADJECTIVES)]}_{_NOUNS[digest[1] % len(_NOUNS)]}_{suffix}"


def name_of(record: dict) -> str:
    """A recorded run's display name: the one set, else the generated one."""
    return record["properties"].get(DISPLAY_NAME) or display_name(record["run_id"])


def params(arguments: list) -> dict[str, str]:
    """The script's arguments as MLflow params: `--name value` and `--name=value` as
    `--name`, a flag followed by another option as `true`, anything else as `arg<i>` by its
    position. A name given twice keeps its last value (as argparse does)."""
    found: dict[str, str] = {}
    tokens = [str(a) for a in arguments]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if _is_option(token):
            if "=" in token:
                key, value = token.split("=", 1)
            elif i + 1 < len(tokens) and not _is_option(tokens[i + 1]):
                key, value = token, tokens[i + 1]
                i += 1
            else:
                key, value = token, "true"
        else:
            key, value = f"arg{i}", token
        found[key[:250]] = value[:MLFLOW_PARAM_VALUE_MAX]
        i += 1
    return found


def _is_option(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:
        float(token)  # a negative number is a value
    except ValueError:
        return True
    return False


def layout(distribution: dict | None) -> str:
    """`1 process`, `TensorFlow: 2 workers, 1 parameter server`, `MPI: 2 processes x 1 node`."""
    if not distribution:
        return "1 process"
    if distribution.get("kind") == "tensorflow":
        workers, ps = distribution.get("worker_count", 1), distribution.get("parameter_server_count", 0)
        text = f"TensorFlow: {_count(workers, 'worker')}"
        return text + (f", {_count(ps, 'parameter server')}" if ps else "")
    if distribution.get("kind") == "mpi":
        per_node, nodes = distribution.get("process_count_per_node", 1), distribution.get("node_count", 1)
        return f"MPI: {_count(per_node, 'process', 'processes')} x {_count(nodes, 'node')}"
    return str(distribution.get("kind"))


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def environment_label(environment: dict | None) -> str:
    """`name:version` of the run's environment, or what runs the job without one."""
    if not environment:
        return "the submitting interpreter"
    version = environment.get("version")
    return f"{environment.get('name')}:{version}" if version else str(environment.get("name"))


def tags(spec: dict, submitted_by: str) -> dict[str, str]:
    return {STATUS_TAG: "Queued", "runyard.computeTarget": str(spec.get("compute_target")),
            "runyard.environment": environment_label(spec.get("environment")),
            "runyard.distribution": layout(spec.get("distribution")),
            "runyard.submittedBy": submitted_by, MLFLOW_DESCRIPTION: page_link(spec["run_id"])}


def page_link(run_id: str) -> str:
    """The description's link to the run's runyard page (same host as MLflow's UI)."""
    from urllib.parse import quote

    return f"[Live output, timeline and snapshot: the run's runyard page](/runyard/runs/{quote(run_id)})"


def ran_seconds(record: dict) -> float | None:
    """runyard's one duration of a run, shown everywhere (CLI, pages, MLflow): from the moment
    it started to run (Running) to its end, or to now while it goes on; None before it ran."""
    import time

    start = record.get("start_time")
    return (record.get("end_time") or time.time()) - start if start else None


def end_note(v1_status: str, error: dict | None) -> str | None:
    """What the run's description says first once it ended: why it failed or was stopped
    (None: nothing to add)."""
    if not error:
        return None if v1_status in ("Completed", "Canceled") else f"**{v1_status}**."
    text = f"**{v1_status}**: {error.get('message', '')}"
    tail = error.get("logTail")
    if tail:
        text += "\n\nThe end of its output:\n\n```\n" + str(tail)[-3000:] + "\n```"
    return text


def resources_text(properties: dict) -> str | None:
    """What a run used, in a line ("peak memory 344.6 MB, CPU 2.3% mean, on cpu"); None for
    a run that was not sampled."""
    if PEAK_MEMORY not in properties:
        return None
    parts = [f"peak memory {float(properties[PEAK_MEMORY]):,.1f} MB"]
    if MEAN_CPU in properties:
        parts.append(f"CPU {properties[MEAN_CPU]}% mean")
    if MEAN_GPU in properties:
        parts.append(f"GPU {properties[MEAN_GPU]}% mean")
    return ", ".join(parts) + f", on {properties.get(DEVICES) or 'cpu'}"
