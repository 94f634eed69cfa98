"""The NVIDIA GPUs of this machine, found through NVML (`nvidia-ml-py`, imported as pynvml).
No NVML, no driver or no GPU is the normal case of most machines: it means no GPUs, never an
error. `RUNYARD_GPUS` narrows the GPUs runyard hands out (settings.gpus).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from runyard import settings

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
