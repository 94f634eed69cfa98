"""A job on a Ray target, seen from its supervisor: the same interface as supervisor.job.Job.

The supervisor places the job (a placement group, one bundle per node, STRICT_SPREAD), opens
the job on each bundle's node through that node's launcher (compute/ray_agent.py), and from
then on polls the nodes: their output goes into the run's logs as on a local run, their metric
records into the run's metrics folder, their exit codes decide the end. A node that stops
answering because it died fails the job, naming it; stopping the job stops every process on
every node.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard import archives
from runyard.compute import ray_cluster
from runyard.distributed import mpi_output, plan
from runyard.distributed.plan import ProcessSpec
from runyard.errors import UserErrorException
from runyard.execution.processes import LogSink
from runyard.execution.runner import JobContext, JobRunner

log = logging.getLogger("runyard.supervisor")
UNAVAILABLE_GRACE = 10.0  # seconds a node's launcher may be unreachable while the node lives


@dataclass
class RemoteProcess:
    """What the supervisor knows of a process on a node (the `proc` of a launched process)."""

    pid: int
    returncode: int | None = None


@dataclass
class RemoteLaunched:
    spec: ProcessSpec
    proc: RemoteProcess
    log: Path
    node: int  # index of the node (bundle) it runs on


class RayJob(JobRunner):
    """A job on the nodes of a Ray compute target (see execution/runner.py)."""

    def __init__(self, target: dict, ctx: JobContext):
        self.ctx, self.target = ctx, target
        self.run_id, self.spec, self.workspace = ctx.spec.run_id, ctx.spec.model_dump(), ctx.workspace
        self.user_logs, self.metrics_dir = ctx.paths.user_logs, ctx.paths.metrics_dir
        self.mpi = False
        self.ranks_dir = self.user_logs.parent / "ranks"
        self.group: Any = None  # the job's Ray placement group
        self.agents: list[_RunHandle] = []  # the job on each bundle's node
        self.node_gpus: list[list[str]] = []  # the GPU ids Ray granted on each node
        self.launcher_names: list[str] = []
        self.nodes: list[dict] = []  # RunOnNode.info() per bundle
        self.lost: dict[int, str] = {}  # node index -> why it is gone
        self.unavailable_since: dict[int, float] = {}
        self.pending_polls: dict[int, Any] = {}  # node index -> the ObjectRef of its poll()
        self.launched: list[RemoteLaunched] = []
        self.sinks: dict[int, LogSink | mpi_output.MpiDemux] = {}
        self.output_errors: list[OSError] = []  # writing the output failed (a full disk)
        self.failure: dict | None = None  # a node lost
        self._distributed = False
        self.stopped = False
        self.collected = False  # outputs brought back
        self.closed = False  # the job closed on its nodes
        self._connecting: threading.Thread | None = None  # connect_soon()
        self.connect_soon()

    # -- placement --------------------------------------------------------------------------
    def connect_soon(self) -> None:
        """Import Ray and connect in the background while the supervisor sets up (half a
        second of the time to first output line)."""
        self._connect_error: Exception | None = None

        def _connect() -> None:
            try:
                ray_cluster.connect(self.target)
            except Exception as exc:  # raised in place(), in the supervisor's thread
                self._connect_error = exc

        self._connecting = threading.Thread(target=_connect, daemon=True)
        self._connecting.start()

    def place(self) -> bool:
        """Wait for the job's nodes (one free slot each: a node per TensorFlow task, MPI's
        node_count); False if the run was canceled first."""
        count = plan.node_count(self.spec["distribution"])
        if not self._place(count, self.ctx.canceled, self.ctx.say):
            return False
        self.workspace._registry.merge_json(self.run_id, "properties",
                                            {"runyard.nodes": ",".join(self.node_ids)})
        self.ctx.say(f"Placed on {len(self.nodes)} node(s) of {self.target['name']!r}: "
                     + ", ".join(self.describe_node(i) for i in range(len(self.nodes))))
        return True

    def _place(self, count: int, canceled, queued) -> bool:
        import ray
        from ray.util.placement_group import placement_group

        started = time.monotonic()
        if self._connecting is not None:
            self._connecting.join()
            if self._connect_error is not None:
                raise self._connect_error
        else:
            ray_cluster.connect(self.target)
        log.info("Connected to the Ray cluster (waited %.2f s)", time.monotonic() - started)
        bundle = {ray_cluster.SLOT: 1} if self.target["type"] == "AmlCompute" else {"CPU": 1}
        gpus_each = self._gpus_per_node()
        if gpus_each:
            bundle["GPU"] = gpus_each
        self.group = placement_group([dict(bundle) for _ in range(count)], strategy="STRICT_SPREAD",
                                     name=f"runyard-{self.run_id}")
        ready = self.group.ready()
        told = None
        while True:
            done, _ = ray.wait([ready], timeout=0.5)
            if done:
                break
            if canceled():
                self.teardown()
                return False
            alive = [n for n in ray.nodes() if n["Alive"]]
            reason = (f"Waiting for {count} node(s) with a free job slot on compute target "
                      f"{self.target['name']!r} ({len(alive)} node(s) alive, the others are busy "
                      "with other runs).")
            if reason != told:
                queued(reason)
                told = reason
        log.info("Placement group ready after %.2f s", time.monotonic() - started)
        self.node_gpus = self._gpu_ids(count, gpus_each)
        self._open_on_nodes()
        log.info("%d node(s) ready after %.2f s", count, time.monotonic() - started)
        return True

    def _gpus_per_node(self) -> int:
        """GPUs each node of the job asks Ray for: the run's gpu_count, else (v1: all the
        node has) as many as every node that could take the job has."""
        import ray

        wanted = self.spec.get("gpu_count")
        if wanted is not None:
            return int(wanted)
        nodes = [n for n in ray.nodes() if n["Alive"] and (
            self.target["type"] != "AmlCompute" or ray_cluster.SLOT in n["Resources"])]
        return int(min((n["Resources"].get("GPU", 0) for n in nodes), default=0))

    def _gpu_ids(self, count: int, gpus_each: int) -> list[list[str]]:
        """The GPUs Ray gave each bundle (what the node's processes may see)."""
        if not gpus_each:
            return [[] for _ in range(count)]
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        probe = ray.remote(num_cpus=0, num_gpus=gpus_each)(_granted_gpus)
        return ray.get([probe.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
            self.group, placement_group_bundle_index=index)).remote() for index in range(count)],
            timeout=120)

    def devices(self) -> list[str]:
        return [f"GPU {gpu} on node {index}" for index, ids in enumerate(self.node_gpus) for gpu in ids]

    def _open_on_nodes(self) -> None:
        """The job on each bundle's node, through that node's launcher (created if needed)."""
        import ray
        from ray.util.placement_group import placement_group_table
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from runyard.compute.ray_agent import NodeLauncher, launcher_name

        bundles = placement_group_table(self.group)["bundles_to_node_id"]
        remote = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=64)(NodeLauncher)  # type: ignore[call-overload]  # (an actor option)
        for index in range(len(bundles)):
            node_id = bundles[index]
            name = launcher_name(node_id)
            launcher = remote.options(
                name=name, namespace="runyard", lifetime="detached", get_if_exists=True,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote()
            self.launcher_names.append(name)
            self.agents.append(_RunHandle(launcher, self.run_id))
        self.nodes = ray.get([agent.launcher.open.remote(
            self.run_id, self.spec, str(self.workspace.folder), self.workspace.name)
            for agent in self.agents], timeout=120)

    @property
    def node_ids(self) -> list[str]:
        return [node["nodeId"] for node in self.nodes]

    def describe_node(self, index: int) -> str:
        node = self.nodes[index]
        return f"node {index} (Ray node {node['nodeId']}, {node['ip']})"

    # -- Preparing --------------------------------------------------------------------------
    def prepare(self) -> bool:
        """Every node materialises the job; their progress lines go to the run's Preparing
        output. False when the run was canceled meanwhile; raises UserErrorException when a
        node cannot."""
        import ray

        workdir, progress, canceled = self.ctx.paths.workdir, self.ctx.say, self.ctx.canceled
        inputs_log = self.ctx.paths.inputs_log
        buffer = io.BytesIO()
        archives.pack(archives.plain_files(workdir, "The job's folder"), buffer)
        snapshot = ray.put(buffer.getvalue())
        ray.get([agent.prepare.remote(snapshot) for agent in self.agents], timeout=120)
        while True:
            try:
                ray.get([agent.wait_prepared.remote(0.5) for agent in self.agents], timeout=60)
            except Exception:  # a node went away: the poll below finds out which
                pass
            states = self._poll_all()
            for index, state in states.items():
                for line in state["progress"]:
                    progress(f"[node {index}] {line}" if len(self.agents) > 1 else line)
                if isinstance(state["prepared"], str):
                    raise UserErrorException(f"Preparing failed on {self.describe_node(index)}: "
                                             f"{state['prepared']}")
            if self.failure is not None:
                raise RuntimeError(self.failure["message"])
            if all(state["prepared"] is True for state in states.values()):
                used = ray.get(self.agents[0].used_inputs.remote(), timeout=60)
                if used is not None:
                    inputs_log.write_text(used)
                return True
            if canceled():
                return False

    # -- Running ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the job's processes on their nodes: one TensorFlow task per node, with the
        addresses and ports of where each really runs."""
        import ray

        distribution = self.spec["distribution"] or {}
        if distribution.get("kind") == "tensorflow":
            ports_per_node = ray.get([agent.reserve_ports.remote(1) for agent in self.agents])
            addresses = [f"{node['ip']}:{found[0]}" for node, found in zip(self.nodes, ports_per_node, strict=True)]
            per_node = [[spec] for spec in plan.tensorflow(distribution, addresses)]
        else:
            per_node = [plan.single()]
        mpi = distribution if distribution.get("kind") == "mpi" else None
        log.info("Starting the job on %d node(s)", len(self.agents))
        self._start_on_nodes(per_node, self.ctx.variables,
                             legacy_keras=distribution.get("kind") == "tensorflow", mpi_config=mpi)

    def _start_on_nodes(self, per_node: list[list[ProcessSpec]], variables: dict[str, str],
                        legacy_keras: bool, mpi_config: dict | None = None) -> None:
        """Start each node's processes. An MPI job is one mpirun on the first node, whose
        daemons the other nodes' launchers start (compute/mpi_rsh.py)."""
        import ray

        from runyard.distributed.mpi_output import MpiDemux

        combined = self.user_logs / "std_log.txt"
        if mpi_config is not None:
            self.mpi = True
            self.ranks_dir.mkdir(parents=True, exist_ok=True)
            per_node = [[ProcessSpec(rank=0, name="mpirun")]] + [[] for _ in self.agents[1:]]
            launch = {"config": mpi_config, "target": {
                key: self.target[key] for key in ("name", "address", "secret")},
                "run_id": self.run_id,
                "nodes": {f"rynode{i}": name for i, name in enumerate(self.launcher_names)}}
        calls = []
        for index, specs in enumerate(per_node):
            payload = [{"rank": s.rank, "name": s.name, "env": s.env} for s in specs]
            node_variables = dict(variables)
            if any(self.node_gpus):  # each node's processes (and MPI daemons) see its GPUs only
                node_variables["CUDA_VISIBLE_DEVICES"] = ",".join(self.node_gpus[index])
            calls.append(self.agents[index].start.remote(
                payload, node_variables, legacy_keras, launch if self.mpi and index == 0 else None))
        pids = ray.get(calls, timeout=120)
        self._distributed = self.mpi or sum(len(specs) for specs in per_node) > 1
        for index, specs in enumerate(per_node):
            for spec, pid in zip(specs, pids[index], strict=True):
                if self.mpi:
                    path = combined
                    self.sinks[spec.rank] = MpiDemux(self.user_logs)
                elif self._distributed:
                    path = self.user_logs / f"std_log_process_{spec.rank}.txt"
                    self.sinks[spec.rank] = LogSink(path, combined, f"[{spec.name}] ".encode())
                else:
                    path = combined
                    self.sinks[spec.rank] = LogSink(path)
                self.launched.append(RemoteLaunched(spec, RemoteProcess(pid), path, index))

    @property
    def distributed(self) -> bool:
        return self._distributed

    @property
    def pids(self) -> list[int]:
        return [item.proc.pid for item in self.launched]

    def _poll_all(self) -> dict[int, dict]:
        """One poll of every reachable agent; a node found dead fails the job."""
        import ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

        live = [i for i in range(len(self.agents)) if i not in self.lost]
        # A poll that timed out is waited for again, not sent anew: its answer holds output
        # and metric lines the node has already handed over.
        for i in live:
            if i not in self.pending_polls:
                self.pending_polls[i] = self.agents[i].poll.remote()
        states = {}
        for index in live:
            try:
                states[index] = ray.get(self.pending_polls[index], timeout=15)
                del self.pending_polls[index]
                self.unavailable_since.pop(index, None)
            except ActorDiedError as exc:
                self._lose(index, f"its agent died ({_first_line(exc)})")
            except (ActorUnavailableError, GetTimeoutError) as exc:
                if not isinstance(exc, GetTimeoutError):
                    del self.pending_polls[index]  # that call failed: ask again next time
                since = self.unavailable_since.setdefault(index, time.monotonic())
                if not self._node_alive(index):
                    self._lose(index, "the node left the cluster (its raylet is gone)")
                elif time.monotonic() - since > UNAVAILABLE_GRACE:
                    self._lose(index, f"its agent stopped answering ({_first_line(exc)})")
        for index, state in states.items():
            self._store(state, live_logs=index == 0)
        return states

    def _store_log(self, piece: dict) -> None:
        """A piece of a file under the job's ./logs on a node, into the run's working copy
        (the supervisor uploads ./logs from there while the job runs)."""
        path = self.user_logs.parent / "wd" / "logs" / piece["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "r+b" if path.exists() else "wb") as fh:
            if piece["offset"] == 0:
                fh.truncate()
            fh.seek(piece["offset"])
            fh.write(piece["data"])

    def _store_ranks(self, ranks: dict[str, str]) -> None:
        for name, code in ranks.items():
            (self.ranks_dir / name).write_text(code)

    def _node_alive(self, index: int) -> bool:
        import ray

        node_id = self.nodes[index]["nodeId"]
        return any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes())

    def _lose(self, index: int, why: str) -> None:
        self.lost[index] = why
        names = [item.spec.name or "the script" for item in self.launched if item.node == index]
        for item in self.launched:
            if item.node == index and item.proc.returncode is None:
                item.proc.returncode = -9
        if self.failure is None:
            running = f" while running {', '.join(names)}" if names else ""
            self.failure = {
                "code": "NodeFailure", "node": self.nodes[index]["nodeId"],
                "message": f"Compute target {self.target['name']!r}: {self.describe_node(index)} "
                           f"was lost{running}: {why}. The other nodes' processes were stopped."}
        log.warning("Lost %s: %s", self.describe_node(index), why)

    def _store(self, state: dict, live_logs: bool) -> None:
        if state["ranks"]:
            self._store_ranks(state["ranks"])
        # ./logs live from the first node only (the chief, worker 0 or rank 0, which writes
        # TensorBoard files); every node's ./logs is merged in at the end.
        for piece in state["logs"] if live_logs else ():
            self._store_log(piece)
        for rank, chunk in state["output"].items():
            if chunk and not self.output_errors:
                try:
                    self.sinks[int(rank)].feed(chunk)
                except OSError as exc:  # a full disk: the supervisor stops the job
                    self.output_errors.append(exc)
        for item in self.launched:
            code = state["exits"].get(item.spec.rank, state["exits"].get(str(item.spec.rank)))
            if code is not None:
                item.proc.returncode = code
        for batch in state["metrics"]:
            for local, content in batch["files"].items():
                path = Path(local)
                if not path.exists():  # written on another machine: keep it at the same path
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(content)
            self.metrics_dir.mkdir(parents=True, exist_ok=True)
            with open(self.metrics_dir / f"node-{batch['name']}", "ab") as fh:
                fh.write(batch["data"])

    def failed(self) -> RemoteLaunched | None:
        self._poll_all()
        lost = next((item for item in self.launched if item.node in self.lost), None)
        if lost is not None:
            return lost
        if self.mpi and self.launched and mpi_output.failed_rank(self.ranks_dir, "") is not None:
            return self.launched[0]
        for item in self.launched:
            if item.proc.returncode not in (None, 0):
                return item
        return None

    def finished(self) -> bool:
        return all(item.proc.returncode is not None for item in self.launched if item.spec.decides_end)

    def stop(self, grace: float) -> None:
        """Stop every process on every reachable node (idempotent)."""
        import ray

        if self.stopped:
            return
        self.stopped = True
        calls = [self.agents[i].stop.remote(grace) for i in range(len(self.agents)) if i not in self.lost]
        try:
            ray.get(calls, timeout=grace + 30)
        except Exception as exc:  # a node died meanwhile: its processes died with its agent
            log.warning("Stopping the job's processes: %s", _first_line(exc))
        self._poll_all()  # the last output and metrics

    def finish(self) -> None:
        """Bring back ./outputs and ./logs from every node, then release the nodes."""
        import ray

        if self.collected:
            return
        self.collected = True
        workdir = self.user_logs.parent / "wd"
        for index, agent in enumerate(self.agents):
            if index in self.lost:
                continue
            try:
                data = ray.get(agent.collect.remote(), timeout=120)
                archives.unpack_over(io.BytesIO(data), workdir,
                                     f"The outputs of {self.describe_node(index)}")
            except Exception as exc:
                log.warning("Collecting the outputs of %s: %s", self.describe_node(index),
                            _first_line(exc))
        for sink in self.sinks.values():
            sink.close()
        self.teardown()

    def teardown(self) -> None:
        """Close the job on every reachable node and give the nodes back (once)."""
        import ray
        from ray.util.placement_group import remove_placement_group

        if self.closed:
            return
        self.closed = True
        calls = [agent.launcher.close.remote(self.run_id)
                 for index, agent in enumerate(self.agents) if index not in self.lost]
        try:
            ray.get(calls, timeout=60)
        except Exception as exc:
            log.warning("Closing the job on its nodes: %s", _first_line(exc))
        if self.group is not None:
            try:
                remove_placement_group(self.group)
            except Exception:
                pass
            self.group = None


class _RunHandle:
    """`handle.poll.remote(...)` calls RunOnNode.poll of this run on its node's launcher."""

    def __init__(self, launcher, run_id: str):
        self.launcher, self.run_id = launcher, run_id

    def __getattr__(self, method: str):
        launcher, run_id = self.launcher, self.run_id

        class _Method:
            @staticmethod
            def remote(*args):
                return launcher.call.remote(run_id, method, *args)

        return _Method


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _granted_gpus() -> list[str]:
    """Run in a bundle: the GPU ids Ray granted it on its node."""
    import ray

    return [str(gpu) for gpu in ray.get_gpu_ids()]
