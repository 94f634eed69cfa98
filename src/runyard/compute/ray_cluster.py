"""Talking to a Ray cluster, and running a local one on this machine.

A local cluster is one `ray start --block` process per Ray node, each in its own session: the
head first, then the other nodes one by one (Ray nodes that start at once on one machine race
each other). Stopping a `ray start --block` process stops its node; they are stopped by PID,
never with `ray stop` (which would stop every Ray process of the machine). Ray is imported only
here and in the job modules, never at `import runyard`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from runyard.errors import ComputeTargetException

SLOT = "runyard_slot"  # one per node of a local cluster: a job takes its nodes whole, as in v1
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
NODE_START_TIMEOUT = 90.0


def connection_env(record: dict) -> dict[str, str]:
    """Variables a process needs to reach the cluster: Ray's token authentication."""
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    if record.get("secret"):
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=record["secret"])
    return env


def require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ComputeTargetException(
            "Ray compute targets need Ray on this machine: pip install 'runyard[cluster]' "
            "(ray[default]).") from None


def use_token(record: dict) -> None:
    """Point this process's Ray client at the target's token. Ray caches the token it read
    once per process; a process that talks to several clusters must drop that cache."""
    os.environ.update(connection_env(record))
    if not record.get("secret"):
        os.environ.pop("RAY_AUTH_TOKEN", None)
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]  # (private: no stubs)

        Config.initialize("")  # re-reads RAY_AUTH_MODE
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):  # a Ray without token authentication
        pass


def connect(record: dict) -> None:
    """Make this process a Ray driver of the target's cluster (once per process)."""
    require_ray()
    import ray

    if ray.is_initialized():
        return
    use_token(record)
    try:
        ray.init(address=record["address"], namespace="runyard", logging_level="ERROR",  # type: ignore[arg-type]  # (a level name works too)
                 log_to_driver=False, configure_logging=True)
    except (ConnectionError, RuntimeError) as exc:
        raise ComputeTargetException(
            f"Cannot reach the Ray cluster of compute target {record['name']!r} at "
            f"{record['address']}: {exc}") from None


def nodes(record: dict) -> list[dict]:
    """The cluster's Ray nodes, alive and dead, straight from its GCS (no driver needed)."""
    require_ray()
    _check_reachable(record)
    use_token(record)
    from ray._raylet import GcsClient  # type: ignore[attr-defined]  # (private: no stubs)

    try:
        client = GcsClient(address=record["address"])
        info = client.get_all_node_info(timeout=10)
    except Exception as exc:
        raise ComputeTargetException(
            f"Cannot reach the Ray cluster of compute target {record['name']!r} at "
            f"{record['address']}: {exc}") from None
    found = []
    for node_id, node in info.items():
        found.append({"nodeId": node_id.hex(), "privateIpAddress": node.node_manager_address,
                      "port": node.node_manager_port, "alive": node.state == 0,
                      "isHead": bool(node.is_head_node), "resources": dict(node.resources_total)})
    return sorted(found, key=lambda n: (not n["isHead"], n["nodeId"]))


def _check_reachable(record: dict) -> None:
    """Fail at once on an address nobody listens on (Ray's client retries for 30 s)."""
    host, _, port = record["address"].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ComputeTargetException(
            f"Cannot reach the Ray cluster of compute target {record['name']!r} at "
            f"{record['address']}: {exc}. Is its head node running?") from None


def alive_nodes(record: dict) -> list[dict]:
    return [n for n in nodes(record) if n["alive"]]


# -- a local cluster ---------------------------------------------------------------------------
def new_token() -> str:
    return secrets.token_hex(16)


def temp_dir(token: str) -> Path:
    # Ray's socket paths live under its temp dir and must stay short (about 107 bytes).
    return Path("/tmp") / f"runyard-ray-{token[:10]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _ray_binary() -> str:
    require_ray()
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else (shutil.which("ray") or "ray")


def start_node(*, head_address: str | None, token: str, cpus: int, log: Path,
               object_store_bytes: int = 100 * 1024 * 1024, gpus: list[int] | None = None) -> dict:
    """Start one Ray node and wait until it has joined; returns {"pid", "started", "address"}.
    `gpus`: this machine's GPUs the node has (Ray hands them to jobs by these ids)."""
    import psutil

    gpus = gpus or []
    argv = [_ray_binary(), "start", "--block", "--disable-usage-stats", f"--num-cpus={cpus}",
            f"--num-gpus={len(gpus)}",
            f'--resources={{"{SLOT}": 1}}', f"--object-store-memory={object_store_bytes}",
            f"--dashboard-agent-listen-port={_free_port()}"]
    port = None
    if head_address is None:
        port = _free_port()
        argv += ["--head", f"--port={port}", "--include-dashboard=false",
                 f"--ray-client-server-port={_free_port()}", f"--temp-dir={temp_dir(token)}"]
    else:
        argv += [f"--address={head_address}"]
    from runyard.execution.job_env import inherited_environment

    # The node runs jobs: it starts from the allow-list (and Ray's and runyard's settings),
    # never with the server's secrets.
    env = {**inherited_environment(os.environ, strict=True, also=("RAY_", "RUNYARD_")),
           **connection_env({"secret": token})}
    env.pop("RAY_ADDRESS", None)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))  # Ray's ids of the node's GPUs
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    deadline = time.monotonic() + NODE_START_TIMEOUT
    while time.monotonic() < deadline:
        text = _ANSI.sub("", log.read_text(errors="replace"))
        if "Ray runtime started" in text:
            address = head_address
            if address is None:
                ip = re.findall(r"Local node IP: ([0-9.]+)", text)
                address = f"{ip[-1] if ip else '127.0.0.1'}:{port}"
            return {"pid": proc.pid, "started": psutil.Process(proc.pid).create_time(),
                    "address": address}
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_nodes([{"pid": proc.pid}])
    last = "\n".join(_ANSI.sub("", log.read_text(errors="replace")).splitlines()[-15:])
    raise ComputeTargetException(f"A Ray node did not start (log {log}):\n{last}")


def stop_nodes(processes: list[dict], grace: float = 5.0) -> None:
    """Stop `ray start --block` processes (and everything they started), last node first."""
    from runyard.execution.processes import descendants, stop_groups

    for entry in reversed(processes):
        pid = entry["pid"]
        if not node_process_alive(entry):
            continue
        stop_groups([pid], grace, descendants(pid))


def node_process_alive(entry: dict) -> bool:
    import psutil

    try:
        proc = psutil.Process(entry["pid"])
        if entry.get("started") and abs(proc.create_time() - entry["started"]) > 1:
            return False  # the pid was reused
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
