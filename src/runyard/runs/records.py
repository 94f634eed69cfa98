"""The append-only metrics file: one JSON object a line, written by job processes and read by
the supervisor. Writing is one os.write() per record: microseconds, no network, and whatever
was written survives the writer being SIGKILLed (it is in the kernel's page cache).

Record kinds ("k"):
  m  numeric or string scalar  {"n": name, "v": value, "s": step, "t": time}
  l  list                      {"n", "v": [...]}
  r  table row                 {"n", "v": {col: value}}
  tb table                     {"n", "v": {col: [...]}}
  i  image                     {"n", "p": artifact path, "f": local file}
  f  uploaded file             {"n": artifact name, "f": local file}
  tag                          {"n", "v"}
  prop                         {"v": {key: value}}
  name the run's display name  {"v"}
  end  run.complete()/fail()   {"v": {"status": "Completed" | "Failed", "code", "message"}}
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path

_dumps = json.dumps


class StepCounter:
    """run.log's steps, per metric name: 0, 1, 2, ... unless a step is given; after a given
    step the count goes on from it. Every sink counts with one (threads share it safely)."""

    def __init__(self) -> None:
        self._steps: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, name: str, step: int | None = None) -> int:
        if step is None:
            with self._lock:
                step = self._steps.get(name, 0)
                self._steps[name] = step + 1
            return step
        step = int(step)
        self._steps[name] = step + 1
        return step


class RecordWriter:
    """Appends records to `<metrics_dir>/<pid>.jsonl` (one file per process)."""

    def __init__(self, metrics_dir: str | Path):
        self.metrics_dir = Path(metrics_dir)
        self._fd = -1
        self._pid = -1
        self._names: dict[str, str] = {}
        self._steps = StepCounter()

    def _file(self) -> int:
        pid = os.getpid()
        if pid != self._pid:  # first use, or we are a forked child: open our own file
            self.metrics_dir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.metrics_dir / f"{pid}.jsonl",
                               os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._pid = pid
        return self._fd

    def scalar(self, name: str, value, step: int | None = None) -> None:
        """The hot path of run.log: format by hand, one write."""
        quoted = self._names.get(name)
        if quoted is None:
            quoted = self._names[name] = _dumps(name)
        step = self._steps.take(name, step)
        kind = type(value)
        if kind is int or (kind is float and math.isfinite(value)):
            text = repr(value)
        elif isinstance(value, (str, bool, int, float)):
            text = _dumps(value)  # NaN and infinities as JSON's NaN / Infinity
        else:
            text = _dumps(_as_number(name, value))
        os.write(self._file(), f'{{"k":"m","n":{quoted},"v":{text},"s":{step},"t":{time.time()!r}}}\n'.encode())

    def record(self, kind: str, **fields) -> None:
        fields["k"] = kind
        fields["t"] = time.time()
        os.write(self._file(), (_dumps(fields, default=_to_builtin) + "\n").encode())

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = -1
        self._pid = -1


def _as_number(name: str, value) -> float:
    """numpy scalars, 0-d tensors and other number-likes logged as metrics."""
    try:
        return float(value)
    except (TypeError, ValueError):
        from runyard.errors import UserErrorException, received

        raise UserErrorException(
            f"run.log({name!r}, ...) takes a number or a string; use log_list, log_row or "
            f"log_table for collections. Received: value={received(value)}") from None


def _to_builtin(value):
    """numpy scalars and arrays, and anything else with tolist/item, as plain JSON values."""
    for attr in ("tolist", "item"):
        if hasattr(value, attr):
            return getattr(value, attr)()
    return str(value)


class RecordReader:
    """Reads the complete lines added to every metrics file since the last commit().

    With a `state` file, commit() also records how far each file was read, so that another
    process can go on from there (a run whose supervisor died is finished by another)."""

    def __init__(self, metrics_dir: str | Path, state: Path | None = None):
        self.metrics_dir = Path(metrics_dir)
        self.state = state
        self._offsets: dict[str, int] = {}
        if state is not None:
            try:
                self._offsets = json.loads(state.read_text())
            except (OSError, ValueError):
                pass
        self._read: dict[str, int] = dict(self._offsets)
        self.bad_lines = 0

    def commit(self) -> None:
        """What read_new() returned was applied: the next read starts after it."""
        if self._read == self._offsets:
            return
        self._offsets = dict(self._read)
        if self.state is not None:
            tmp = self.state.with_name(f"{self.state.name}.{os.getpid()}")
            tmp.write_text(json.dumps(self._offsets))
            os.replace(tmp, self.state)

    def read_new(self) -> list[dict]:
        """The complete lines after the last commit (a read that was not committed, because
        applying it failed, is read again)."""
        records: list[dict] = []
        self._read = dict(self._offsets)
        if not self.metrics_dir.is_dir():
            return records
        for path in sorted(self.metrics_dir.glob("*.jsonl")):
            offset = self._offsets.get(path.name, 0)
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            end = data.rfind(b"\n")
            if end < 0:
                continue  # no complete line yet
            self._read[path.name] = offset + end + 1
            for line in data[: end + 1].splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    self.bad_lines += 1
        records.sort(key=lambda r: r.get("t", 0.0))
        return records
