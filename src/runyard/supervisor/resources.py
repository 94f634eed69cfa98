"""What a run uses, sampled by its supervisor (never by the script, so it costs the training
nothing and covers every process): CPU and memory of the job's whole process tree, and per GPU
of the run its utilisation and memory, every few seconds. The samples are metrics of the run
under MLflow's `system/` names (MLflow's System metrics tab shows them; v1's get_metrics()
leaves them out); their summary (peak memory, mean CPU and GPU use, the devices) is kept in the
run's properties; a job the kernel killed for memory is told from one killed otherwise.
"""

from __future__ import annotations

import logging
import resource
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from runyard import gpus
from runyard.runs.mlflow_fields import DEVICES, MEAN_CPU, MEAN_GPU, PEAK_MEMORY
from runyard.runs.records import RecordWriter
from runyard.stores.tracking import SYSTEM_METRICS_PREFIX

log = logging.getLogger("runyard.supervisor")

PREFIX = SYSTEM_METRICS_PREFIX
CPU = PREFIX + "cpu_utilization_percentage"  # the job's share of the machine's cores, 0-100
MEMORY = PREFIX + "system_memory_usage_megabytes"  # the job's processes' resident memory
MEMORY_PERCENT = PREFIX + "system_memory_usage_percentage"  # of the job's memory limit


def gpu_metric(index: int, what: str) -> str:
    return f"{PREFIX}gpu_{index}_{what}"


@dataclass
class Usage:
    samples: int = 0
    peak_memory: int = 0  # bytes
    cpu_total: float = 0.0  # sum of the samples' CPU percentages
    gpu_total: dict[int, float] = field(default_factory=dict)

    def summary(self, devices: list[str]) -> dict[str, str]:
        out = {PEAK_MEMORY: f"{self.peak_memory / 1e6:.1f}", DEVICES: ", ".join(devices) or "cpu"}
        if self.samples:
            out[MEAN_CPU] = f"{self.cpu_total / self.samples:.1f}"
            if self.gpu_total:
                out[MEAN_GPU] = f"{sum(self.gpu_total.values()) / len(self.gpu_total) / self.samples:.1f}"
        return out


class Sampler:
    """Samples the supervisor's descendants (the job's processes, and their orphans, which come
    back to it as a subreaper) but `excluded` (its own helpers), and the run's GPUs."""

    def __init__(self, metrics_dir: Path, interval: float, gpu_indexes: list[int], excluded):
        self.writer = RecordWriter(metrics_dir)
        self.interval = interval
        self.gpu_indexes = gpu_indexes
        self.excluded = excluded
        self.usage = Usage()
        self.limit = memory_limit()
        self._cores = psutil.cpu_count() or 1
        self._processes: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resources", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Usage:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.usage

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as exc:  # never the run's failure: its metrics are only missing
                log.warning("System metrics: %s", exc)
            self._stop.wait(self.interval)

    def _tree(self) -> list[psutil.Process]:
        excluded = set(self.excluded())
        found = {}
        for proc in psutil.Process().children(recursive=True):
            try:
                if proc.pid in excluded or proc.ppid() in excluded:
                    continue
                known = self._processes.get(proc.pid)
                # the same object as last time keeps cpu_percent's reference point
                same = known is not None and known.create_time() == proc.create_time()
            except psutil.NoSuchProcess:  # ended since the walk listed it
                continue
            found[proc.pid] = known if same else proc
        self._processes = found
        return list(found.values())

    def sample(self) -> None:
        cpu = memory = 0.0
        for proc in self._tree():
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    memory += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        step = self.usage.samples
        self.usage.samples += 1
        self.usage.cpu_total += cpu / self._cores
        self.usage.peak_memory = max(self.usage.peak_memory, int(memory))
        self.writer.scalar(CPU, round(cpu / self._cores, 2), step)
        self.writer.scalar(MEMORY, round(memory / 1e6, 2), step)
        self.writer.scalar(MEMORY_PERCENT, round(100 * memory / self.limit, 2), step)
        for index, reading in gpus.readings(self.gpu_indexes).items():
            self.usage.gpu_total[index] = self.usage.gpu_total.get(index, 0.0) + reading.utilization
            self.writer.scalar(gpu_metric(index, "utilization_percentage"), reading.utilization, step)
            self.writer.scalar(gpu_metric(index, "memory_usage_megabytes"), round(reading.memory_used / 1e6, 2), step)
            self.writer.scalar(gpu_metric(index, "memory_usage_percentage"),
                               round(100 * reading.memory_used / reading.memory_total, 2), step)


# -- memory limits and the kernel's OOM killer --------------------------------------------------
def memory_limit() -> int:
    """The bytes the job may use: the smallest of its cgroup's limit (v2 or v1), the address
    space rlimit and the machine's memory."""
    limits = [psutil.virtual_memory().total]
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft not in (resource.RLIM_INFINITY, -1):
        limits.append(soft)
    cgroup = _cgroup_memory_limit()
    if cgroup:
        limits.append(cgroup)
    return min(limits)


def _cgroup_memory_limit() -> int | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        candidates = []
        if controllers == "":  # cgroup v2
            candidates.append(Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.max")
        elif "memory" in controllers.split(","):
            candidates.append(Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.limit_in_bytes")
        for candidate in candidates:
            try:
                text = candidate.read_text().strip()
            except OSError:
                continue
            if text.isdigit() and int(text) < (1 << 60):  # v1 writes a huge number for none
                return int(text)
    return None


def oom_kills() -> int:
    """The kernel's count of OOM kills on this machine (/proc/vmstat), 0 where unknown."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def out_of_memory_message(usage: Usage, limit: int, kills_before: int, exit_code: int | None,
                          exception: str | None) -> str | None:
    """"out of memory: peak 23.1 GiB of 24 GiB" when the job ran out of memory: the kernel
    killed it (SIGKILL, and an OOM kill counted while it ran, or its peak near the limit), or
    Python raised MemoryError. None otherwise."""
    killed = exit_code is not None and exit_code in (-9, 137)
    near_limit = usage.peak_memory >= 0.9 * limit
    by_kernel = killed and (oom_kills() > kills_before or near_limit)
    if not by_kernel and not (exception or "").startswith("MemoryError"):
        return None
    how = "killed by the kernel" if by_kernel else "MemoryError"
    return f"out of memory: peak {_gib(usage.peak_memory)} of {_gib(limit)} ({how})"


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"

