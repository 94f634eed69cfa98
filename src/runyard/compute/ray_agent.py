"""The node side of a job on a Ray target.

`NodeLauncher` is one long-lived Ray actor per node (detached, named after the node and the
runyard version), created by the first job that lands on the node and reused by the next ones:
a new Ray worker process costs about a second, which would otherwise come before every job's
first line. It holds one `RunOnNode` per job placed on its node.

`RunOnNode` materialises the job on the node (snapshot, environment, datasets), starts the
node's processes (in their own sessions, killed with the launcher if it dies), keeps their
output, exit codes and metric records, and hands them over when the supervisor polls. Every
call returns at once (Preparing runs in a thread and reports through `poll`). A job whose
supervisor stops polling (it was killed) is stopped by the launcher's watchdog.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from runyard import archives, settings
from runyard.distributed import ports
from runyard.errors import UserErrorException
from runyard.execution import materialize, processes

if TYPE_CHECKING:
    import subprocess

    from runyard.runs.spec import RunSpec

# Variables Ray sets for its own workers that must not reach a job: an empty
# CUDA_VISIBLE_DEVICES would hide the node's GPUs, OMP_NUM_THREADS=1 would starve TensorFlow.
_RAY_ONLY = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")


class _Buffer:
    """A process's output: kept in a node-local log and queued for the next poll."""

    def __init__(self, log: Path):
        self.log = open(log, "ab", buffering=0)
        self.pending = bytearray()
        self.lock = threading.Lock()

    def feed(self, chunk: bytes) -> None:
        self.log.write(chunk)
        with self.lock:
            self.pending += chunk

    def close(self) -> None:
        self.log.close()

    def drain(self) -> bytes:
        with self.lock:
            data, self.pending = bytes(self.pending), bytearray()
        return data


class RunOnNode:
    def __init__(self, run_id: str, spec: dict, workspace_dir: str, workspace_name: str,
                 node_id: str, ip: str):
        self.run_id = run_id
        # The run spec's fields as attributes (a RunSpec.model_dump()): importing pydantic
        # would add a tenth of a second to the start of every launcher.
        self.spec: RunSpec = SimpleNamespace(**spec)  # type: ignore[assignment]  # (same fields)
        self.workspace_dir, self.workspace_name = workspace_dir, workspace_name
        self.node_id, self.ip = node_id, ip
        self.last_seen = time.monotonic()
        self.root = settings.runyard_cache() / "nodes" / self.node_id[:16] / run_id
        self.wd, self.tmp = self.root / "wd", self.root / "tmp"
        self.metrics_dir, self.logs_dir = self.root / "metrics", self.root / "user_logs"
        for folder in (self.wd, self.tmp, self.metrics_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.progress: list[str] = []
        self.prepared: bool | str | None = None  # None: preparing; True: ready; str: the error
        self.prepared_event = threading.Event()
        self.node: materialize.NodeJob | None = None
        self.procs: dict[int, subprocess.Popen] = {}
        self.daemons: dict[int, tuple] = {}  # MPI daemons: pid -> (process, output buffer)
        self.ranks_dir = self.root / "ranks"  # MPI ranks' exit codes (distributed/plan.py)
        self.ranks_dir.mkdir(exist_ok=True)
        self.env: dict[str, str] = {}
        self.buffers: dict[int, _Buffer] = {}
        self.pumps: list[threading.Thread] = []
        self.metric_offsets: dict[str, int] = {}
        self.logs_sizes: dict[str, int] = {}  # ./logs file -> bytes already sent
        self.logs_checked = 0.0

    def info(self) -> dict:
        return {"nodeId": self.node_id, "ip": self.ip}

    def reserve_ports(self, count: int) -> list[int]:
        return ports.reserve(self.run_id, count, host="")

    # -- Preparing --------------------------------------------------------------------------
    def prepare(self, snapshot: bytes) -> None:
        threading.Thread(target=self._prepare, args=(snapshot,), daemon=True).start()

    def wait_prepared(self, timeout: float) -> None:
        """Return when Preparing ended or after `timeout` seconds, whichever comes first."""
        self.prepared_event.wait(timeout)

    def _say(self, line: str) -> None:
        self.progress.append(line)

    def _prepare(self, snapshot: bytes) -> None:
        try:
            archives.unpack_over(io.BytesIO(snapshot), self.wd, "The job's snapshot")
            for sub in ("outputs", "logs"):
                (self.wd / sub).mkdir(exist_ok=True)
            node = materialize.prepare_environment(self.spec, self._say, sys.executable)
            if self.spec.inputs:
                from runyard.workspace import Workspace

                ws = Workspace(workspace_name=self.workspace_name, location=self.workspace_dir)
                materialize.prepare_inputs(self.spec, node, ws, self.wd, self.tmp / "inputs",
                                           self.root / "input_datasets.json", self._say)
            self.node = node
            self.prepared = True
        except UserErrorException as exc:
            self.prepared = str(exc)
        except Exception as exc:
            self._say(traceback.format_exc())
            self.prepared = f"{type(exc).__name__}: {exc}"
        finally:
            self.prepared_event.set()

    def used_inputs(self) -> str | None:
        """The files (with content hashes) the datasets gave the job on this node."""
        used = self.root / "input_datasets.json"
        return used.read_text() if used.exists() else None

    # -- Running ----------------------------------------------------------------------------
    def _node(self) -> materialize.NodeJob:
        if self.node is None:
            raise UserErrorException("The job was started on a node before it was prepared there.")
        return self.node

    def _job_env(self, variables: dict[str, str], legacy_keras: bool) -> dict[str, str]:
        from runyard.execution.job_env import has_module, inherited_environment

        # A Ray worker's environment is the node's, not the user's: only the allow-list.
        base = {k: v for k, v in inherited_environment(os.environ, strict=True).items()
                if not k.startswith("RAY_") and k not in _RAY_ONLY}
        env = materialize.process_environment(base, variables, self._node(),
                                              metrics_dir=self.metrics_dir, tmp=self.tmp)
        if legacy_keras and has_module(self._node().interpreter, "tf_keras"):
            env.setdefault("TF_USE_LEGACY_KERAS", "1")
        env[settings.RANKS_DIR] = str(self.ranks_dir)
        env[settings.NODE_WORKDIR] = str(self.wd)
        return env

    def start(self, specs: list[dict], variables: dict[str, str], legacy_keras: bool = False,
              mpi: dict | None = None) -> list[int]:
        """Start this node's processes; `specs` are {"rank", "name", "env"}. With `mpi`
        ({"config", "nodes", "target"}), the one process is mpirun, launching its daemons on
        the job's nodes through their launchers (mpi_rsh) instead of ssh."""
        self.env = self._job_env(variables, legacy_keras)
        command = materialize.argv(self.spec, self._node())
        env = self.env
        if mpi is not None:
            command, env = self._mpirun(command, mpi)
        pids = []
        for item in specs:
            rank = item["rank"]
            proc = processes.spawn(command, self.wd, {
                **env, **item["env"], settings.PROCESS_RANK: str(rank)})
            self.buffers[rank] = _Buffer(self.logs_dir / f"std_log_process_{rank}.txt")
            self.pumps.append(processes.pump_into(proc, self.buffers[rank]))
            self.procs[rank] = proc
            pids.append(proc.pid)
        return pids

    def _mpirun(self, command: list[str], mpi: dict) -> tuple[list[str], dict[str, str]]:
        from runyard.compute import mpi_rsh
        from runyard.distributed import plan
        from runyard.execution.job_env import mpirun_binary

        config, nodes = mpi["config"], mpi["nodes"]
        hostfile = self.root / "hostfile"
        hostfile.write_text("".join(f"{name} slots={config['process_count_per_node']}\n"
                                    for name in nodes))
        launch = ["--hostfile", str(hostfile), "--mca", "plm_rsh_agent",
                  f"{sys.executable} -m runyard.compute.mpi_rsh"]
        argv = plan.mpi_argv(config, command, mpirun_binary(self.env), os.geteuid() == 0, launch)
        env = {**self.env, mpi_rsh.NODES: json.dumps(nodes), mpi_rsh.RUN_ID: mpi["run_id"],
               mpi_rsh.TARGET: json.dumps(mpi["target"])}
        return argv, env

    # -- MPI daemons (started by mpirun through mpi_rsh) --------------------------------------
    def run_daemon(self, command: list[str]) -> int:
        proc = processes.spawn(["/bin/sh", "-c", " ".join(command)], self.wd, self.env)
        buffer = _Buffer(self.root / f"daemon-{proc.pid}.log")
        self.pumps.append(processes.pump_into(proc, buffer))
        self.daemons[proc.pid] = (proc, buffer)
        return proc.pid

    def poll_daemon(self, pid: int) -> tuple[bytes, int | None]:
        proc, buffer = self.daemons[pid]
        return buffer.drain(), proc.poll()

    def stop_daemon(self, pid: int) -> None:
        proc, _ = self.daemons[pid]
        processes.stop_groups([proc.pid], 2.0, processes.descendants(proc.pid))

    def poll(self) -> dict:
        progress, self.progress = self.progress, []
        return {"progress": progress, "prepared": self.prepared,
                "output": {rank: buf.drain() for rank, buf in self.buffers.items()},
                "exits": {rank: proc.poll() for rank, proc in self.procs.items()},
                "ranks": {p.name: p.read_text() for p in self.ranks_dir.iterdir()},
                "logs": self._grown_logs(),
                "metrics": self._new_metrics()}

    def _grown_logs(self) -> list[dict]:
        """What was appended to files under ./logs since the last look (at most once a second):
        the supervisor mirrors them, and uploads ./logs while the job runs, as on this machine."""
        now = time.monotonic()
        if now - self.logs_checked < 1.0:
            return []
        self.logs_checked = now
        grown = []
        for path in sorted((self.wd / "logs").rglob("*")):
            rel = path.relative_to(self.wd / "logs").as_posix()
            try:
                size = path.stat().st_size if path.is_file() else -1
            except OSError:
                continue
            offset = self.logs_sizes.get(rel, 0)
            if size < offset:
                offset = 0  # rewritten: send it all again
            if size > offset:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(size - offset)
                grown.append({"path": rel, "offset": offset, "data": data})
                self.logs_sizes[rel] = offset + len(data)
        return grown

    def _new_metrics(self) -> list[dict]:
        """Complete new lines of each metrics file, with the files that upload records name
        (they are written where the job runs; the supervisor stores them on its side)."""
        found = []
        for path in sorted(self.metrics_dir.glob("*.jsonl")):
            offset = self.metric_offsets.get(path.name, 0)
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            cut = data.rfind(b"\n") + 1
            if not cut:
                continue
            data = data[:cut]
            self.metric_offsets[path.name] = offset + cut
            files = {}
            for line in data.splitlines():
                if b'"f"' in line:
                    try:
                        local = json.loads(line).get("f")
                    except ValueError:
                        continue
                    if local and os.path.isfile(local):
                        files[local] = Path(local).read_bytes()
            found.append({"name": path.name, "data": data, "files": files})
        return found

    def stop(self, grace: float) -> None:
        pids = [proc.pid for proc in self.procs.values()] + list(self.daemons)
        # By session: the launcher serves other jobs too, so its other children are not this job's.
        processes.stop_job(pids, grace, adopted=False)
        for proc in [*self.procs.values(), *(d[0] for d in self.daemons.values())]:
            proc.wait()
        for pump in self.pumps:
            pump.join(timeout=5)

    def collect(self) -> bytes:
        """./outputs and ./logs of this node, as a tar."""
        buffer = io.BytesIO()
        files = [(path, f"{sub}/{rel}") for sub in ("outputs", "logs") if (self.wd / sub).is_dir()
                 for path, rel in archives.plain_files(
                     self.wd / sub, f"./{sub}", on_refused=lambda refused: self._say(
                         f"Not collected (links to folders, special files): {'; '.join(refused)}"))]
        archives.pack(files, buffer)
        return buffer.getvalue()

    def cleanup(self) -> None:
        ports.release(self.run_id)
        if self.spec.inputs:
            materialize.remove_inputs(self.spec, self.wd, self.tmp / "inputs")
        shutil.rmtree(self.root, ignore_errors=True)


IDLE_EXIT = 1800.0  # a launcher with no job for this long exits (attached clusters stay clean)
# The methods of RunOnNode a supervisor (or mpi_rsh) may call through NodeLauncher.call.
CALLS = {"info", "reserve_ports", "prepare", "wait_prepared", "used_inputs", "start", "poll",
         "stop", "collect", "run_daemon", "poll_daemon", "stop_daemon"}


def launcher_name(node_id: str) -> str:
    from runyard import __version__

    return f"runyard-node-{__version__}-{node_id[:16]}"


class NodeLauncher:
    def __init__(self) -> None:
        import ray

        self.node_id = ray.get_runtime_context().get_node_id()
        self.ip = ray.util.get_node_ip_address()
        self.runs: dict[str, RunOnNode] = {}
        self.lock = threading.Lock()
        self.idle_since = time.monotonic()
        threading.Thread(target=self._watchdog, name="watchdog", daemon=True).start()

    def open(self, run_id: str, spec: dict, workspace_dir: str, workspace_name: str) -> dict:
        with self.lock:
            self.runs[run_id] = RunOnNode(run_id, spec, workspace_dir, workspace_name,
                                          self.node_id, self.ip)
        return self.runs[run_id].info()

    def call(self, run_id: str, method: str, *args):
        if method not in CALLS:
            raise ValueError(f"unknown call {method!r}")
        run = self.runs.get(run_id)
        if run is None:
            raise KeyError(f"run {run_id} is not open on node {self.node_id}")
        run.last_seen = time.monotonic()
        return getattr(run, method)(*args)

    def close(self, run_id: str) -> None:
        """Stop what is left of the run on this node and remove its files."""
        with self.lock:
            run = self.runs.pop(run_id, None)
            if not self.runs:
                self.idle_since = time.monotonic()
        if run is not None:
            run.stop(2.0)
            run.cleanup()

    def _watchdog(self) -> None:
        orphan_timeout = settings.node_orphan_timeout()
        while True:
            time.sleep(min(5.0, orphan_timeout / 4))
            now = time.monotonic()
            for run_id, run in list(self.runs.items()):
                if now - run.last_seen > orphan_timeout:
                    self.close(run_id)
            if not self.runs and now - self.idle_since > IDLE_EXIT:
                os._exit(0)  # Ray restarts nothing: the next job creates a new launcher
