"""The NVIDIA GPUs of this machine, found through NVML (`nvidia-ml-py`, imported as pynvml).
No NVML, no driver or no GPU is the normal case of most machines: it means no GPUs, never an
error. `RUNYARD_GPUS` narrows the GPUs runyard hands out (settings.gpus).
"""

from __future__ import annotations

import functools
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from runyard import settings
from runyard.locked_table import locked_table

log = logging.getLogger("runyard.gpus")


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total: int  # bytes (0 where unknown)

    @property
    def label(self) -> str:
        return f"GPU {self.index} ({self.name})"


@dataclass(frozen=True)
class Reading:
    utilization: float  # percent
    memory_used: int  # bytes
    memory_total: int


@functools.lru_cache(maxsize=1)
def _nvml():
    """The initialised pynvml module, or None (not installed, no driver, no device)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml.NVMLError: no driver, no library
        log.debug("NVML unavailable: %s", exc)
        return None
    return pynvml


def _found() -> list[Gpu]:
    nvml = _nvml()
    if nvml is None:
        return []
    found = []
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            found.append(Gpu(index, name.decode() if isinstance(name, bytes) else str(name),
                             int(nvml.nvmlDeviceGetMemoryInfo(handle).total)))
    except Exception as exc:
        log.warning("NVML could not list the GPUs: %s", exc)
        return []
    return found


def available() -> list[Gpu]:
    """The GPUs runs may use here: NVML's, narrowed by RUNYARD_GPUS (which, without NVML,
    names them itself)."""
    found = _found()
    wanted = settings.gpus()
    if wanted is None:
        return found
    indexes = _indexes(wanted)
    if not found:
        return [Gpu(index, "declared in RUNYARD_GPUS", 0) for index in indexes]
    by_index = {gpu.index: gpu for gpu in found}
    return [by_index[index] for index in indexes if index in by_index]


def present() -> bool:
    """Whether this machine has NVIDIA GPUs runs may use (NVML's, not only declared ones): what
    decides GPU builds of TensorFlow in environments."""
    return bool(_found()) and bool(available())


def _indexes(text: str) -> list[int]:
    from runyard.errors import UserErrorException

    try:
        return sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise UserErrorException(
            f"{settings.GPUS} lists GPU indexes separated by commas (\"0,1\"; \"\" for none). "
            f"Received: {settings.GPUS}={text!r}") from None


def readings(indexes: list[int]) -> dict[int, Reading]:
    """Utilisation and memory of the given GPUs now ({} without NVML)."""
    nvml = _nvml()
    if nvml is None or not indexes:
        return {}
    out = {}
    for index in indexes:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            out[index] = Reading(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                                 int(memory.used), int(memory.total) or 1)
        except Exception as exc:
            log.debug("NVML reading of GPU %d failed: %s", index, exc)
    return out


# -- handing GPUs to runs -------------------------------------------------------------------
# A file-locked table in the cache, as for ports (distributed/ports.py): GPU index -> the run
# holding it and its supervisor's pid (a holder whose supervisor died is forgotten).
@contextmanager
def _table():
    with locked_table("gpus") as table:
        for index in [k for k, v in table.items() if not psutil.pid_exists(v["pid"])]:
            del table[index]  # its supervisor died without giving it back
        yield table


def reserve(run_id: str, gpus: list[int], wanted: int | None, pid: int) -> tuple[list[int], list[str]]:
    """Take `wanted` of this machine's GPUs (`gpus`, from available()) for a run (None: all of
    them) if that many are free: (their indexes, []); else nothing is taken: ([], the runs
    holding the others)."""
    count = len(gpus) if wanted is None else wanted
    if count > len(gpus):
        from runyard.errors import UserErrorException

        raise UserErrorException(f"The run asks for {count} GPU(s); this machine has {len(gpus)}.")
    with _table() as table:
        free = [index for index in gpus if str(index) not in table]
        if len(free) < count:
            return [], sorted({table[str(i)]["run"] for i in gpus if str(i) in table})
        taken = free[:count]
        for index in taken:
            table[str(index)] = {"run": run_id, "pid": pid}
    return taken, []


def release(run_id: str) -> None:
    with _table() as table:
        for index in [k for k, v in table.items() if v["run"] == run_id]:
            del table[index]


def assign(process_names: list[str], indexes: list[int]) -> list[str]:
    """CUDA_VISIBLE_DEVICES for each of a job's processes (by name: "" for a single process or
    mpirun, "worker 1", "chief 0", "ps 0"): one process sees all the job's GPUs (MPI ranks pick
    theirs by Horovod's local_rank); each TensorFlow chief/worker gets its own, in turn when
    there are more workers than GPUs; parameter servers none."""
    if not indexes:
        return ["" for _ in process_names]
    if len(process_names) == 1:
        return [",".join(map(str, indexes))]
    out, turn = [], 0
    for name in process_names:
        if name.startswith("ps"):
            out.append("")
        else:
            out.append(str(indexes[turn % len(indexes)]))
            turn += 1
    return out


# -- Azure GPU sizes, for local Ray clusters made from AmlCompute provisioning configurations --
# GPUs per VM of Azure's GPU sizes (NC, ND, NV families). Sizes not listed: the classic rule of
# those families, one GPU per 6 cores (NC6 1, NC12 2, NC24 4); any other size has none.
VM_SIZE_GPUS = {
    "NC4AS_T4_V3": 1, "NC8AS_T4_V3": 1, "NC16AS_T4_V3": 1, "NC64AS_T4_V3": 4,
    "NC24ADS_A100_V4": 1, "NC48ADS_A100_V4": 2, "NC96ADS_A100_V4": 4,
    "NC40ADS_H100_V5": 1, "NC80ADIS_H100_V5": 2,
    "ND40RS_V2": 8, "ND96ASR_V4": 8, "ND96AMSR_A100_V4": 8, "ND96ISR_H100_V5": 8,
    "NV6ADS_A10_V5": 1, "NV12ADS_A10_V5": 1, "NV18ADS_A10_V5": 1, "NV36ADS_A10_V5": 1, "NV72ADS_A10_V5": 2,
}
_CLASSIC = re.compile(r"^N[CDV](\d+)[A-Z]*(?:_V\d+)?$")


def per_vm_size(vm_size: str) -> int:
    """How many GPUs a VM of Azure size `vm_size` has ("STANDARD_NC6" -> 1); 0 for CPU sizes."""
    size = str(vm_size or "").upper().removeprefix("STANDARD_").removeprefix("BASIC_")
    if size in VM_SIZE_GPUS:
        return VM_SIZE_GPUS[size]
    classic = _CLASSIC.match(size)
    return int(classic.group(1)) // 6 if classic else 0


def split_among_nodes(node_count: int, per_node: int) -> list[list[int]]:
    """This machine's GPUs for a local cluster of `node_count` nodes of `per_node` GPUs each,
    in turn and never shared: node k gets the next `per_node` GPUs, fewer (or none) when the
    machine runs out."""
    free = [gpu.index for gpu in available()]
    out = []
    for _ in range(node_count):
        out.append(free[:per_node])
        free = free[per_node:]
    return out
