"""The node agent: one Ray actor per node of a job, placed in the job's placement group.

It materialises the job on its node (snapshot, environment, datasets), starts the node's
processes (in their own sessions, killed with the agent if it dies), keeps their output, exit
codes and metric records, and hands them over when the supervisor polls. Every method returns
at once; the slow Preparing work runs in a thread and reports through `poll`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import sys
import tarfile
import threading
import traceback
from pathlib import Path

from runyard import settings
from runyard.distributed import ports
from runyard.errors import UserErrorException
from runyard.runs.spec import RunSpec
from runyard.supervisor import materialize, processes

# Variables Ray sets for its own workers that must not reach a job: an empty
# CUDA_VISIBLE_DEVICES would hide the node's GPUs, OMP_NUM_THREADS=1 would starve TensorFlow.
_RAY_ONLY = ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")


class _Buffer:
    """A process's output: kept in a node-local log and queued for the next poll."""

    def __init__(self, log: Path):
        self.log = open(log, "ab", buffering=0)
        self.pending = bytearray()
        self.lock = threading.Lock()
        self.closed = False

    def feed(self, chunk: bytes) -> None:
        self.log.write(chunk)
        with self.lock:
            self.pending += chunk

    def close(self) -> None:
        self.log.close()
        self.closed = True

    def drain(self) -> bytes:
        with self.lock:
            data, self.pending = bytes(self.pending), bytearray()
        return data


class NodeAgent:
    def __init__(self, run_id: str, spec: dict, workspace_dir: str, workspace_name: str):
        import ray

        self.run_id = run_id
        self.spec = RunSpec(**spec)
        self.workspace_dir, self.workspace_name = workspace_dir, workspace_name
        self.node_id = ray.get_runtime_context().get_node_id()
        self.ip = ray.util.get_node_ip_address()
        self.root = settings.runyard_cache() / "nodes" / self.node_id[:16] / run_id
        self.wd, self.tmp = self.root / "wd", self.root / "tmp"
        self.metrics_dir, self.logs_dir = self.root / "metrics", self.root / "user_logs"
        for folder in (self.wd, self.tmp, self.metrics_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.progress: list[str] = []
        self.prepared: bool | str | None = None  # None: preparing; True: ready; str: the error
        self.node: materialize.NodeJob | None = None
        self.procs: dict[int, object] = {}
        self.buffers: dict[int, _Buffer] = {}
        self.pumps: list[threading.Thread] = []
        self.metric_offsets: dict[str, int] = {}

    def info(self) -> dict:
        return {"nodeId": self.node_id, "ip": self.ip, "hostname": socket.gethostname(),
                "pid": os.getpid()}

    def reserve_ports(self, count: int) -> list[int]:
        return ports.reserve(self.run_id, count, host="")

    # -- Preparing --------------------------------------------------------------------------
    def prepare(self, snapshot: bytes) -> None:
        threading.Thread(target=self._prepare, args=(snapshot,), daemon=True).start()

    def _say(self, line: str) -> None:
        self.progress.append(line)

    def _prepare(self, snapshot: bytes) -> None:
        try:
            with tarfile.open(fileobj=io.BytesIO(snapshot)) as tar:
                tar.extractall(self.wd, filter="data")
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

    # -- Running ----------------------------------------------------------------------------
    def start(self, specs: list[dict], variables: dict[str, str], argv: list[str] | None = None,
              legacy_keras: bool = False) -> list[int]:
        """Start this node's processes; `specs` are {"rank", "name", "env"}; `argv` replaces
        the spec's command line (mpirun)."""
        from runyard.supervisor.job_env import has_module

        base = {k: v for k, v in os.environ.items()
                if not k.startswith("RAY_") and k not in _RAY_ONLY}
        env = materialize.process_environment(base, variables, self.node,
                                              metrics_dir=self.metrics_dir, tmp=self.tmp)
        if legacy_keras and has_module(self.node.interpreter, "tf_keras"):
            env.setdefault("TF_USE_LEGACY_KERAS", "1")
        command = argv or materialize.argv(self.spec, self.node)
        pids = []
        for item in specs:
            rank = item["rank"]
            proc = processes.spawn(command, self.wd, {
                **env, **item["env"], "RUNYARD_PROCESS_RANK": str(rank),
                "RUNYARD_RANKS_DIR": str(self.root / "ranks")})
            self.buffers[rank] = _Buffer(self.logs_dir / f"std_log_process_{rank}.txt")
            self.pumps.append(processes.pump_into(proc, self.buffers[rank]))
            self.procs[rank] = proc
            pids.append(proc.pid)
        return pids

    def poll(self) -> dict:
        progress, self.progress = self.progress, []
        return {"progress": progress, "prepared": self.prepared,
                "output": {rank: buf.drain() for rank, buf in self.buffers.items()},
                "exits": {rank: proc.poll() for rank, proc in self.procs.items()},
                "drained": all(buf.closed for buf in self.buffers.values()),
                "metrics": self._new_metrics()}

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
        pids = [proc.pid for proc in self.procs.values()]
        known = [d for pid in pids for d in processes.descendants(pid)]
        processes.stop_groups(pids, grace, known)
        for proc in self.procs.values():
            proc.wait()
        for pump in self.pumps:
            pump.join(timeout=5)

    def collect(self) -> bytes:
        """./outputs and ./logs of this node, as a tar."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for sub in ("outputs", "logs"):
                if (self.wd / sub).is_dir():
                    tar.add(self.wd / sub, arcname=sub)
        return buffer.getvalue()

    def cleanup(self) -> None:
        ports.release(self.run_id)
        if self.spec.inputs:
            materialize.remove_inputs(self.spec, self.wd, self.tmp / "inputs")
        shutil.rmtree(self.root, ignore_errors=True)
