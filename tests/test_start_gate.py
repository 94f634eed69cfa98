"""A run's start gate (runyard/runs/gate.py), with real processes waiting at a real FIFO: a
sweep holds its next trial's supervisor there and lets it go the moment a trial ends."""

from __future__ import annotations

import subprocess
import sys
import time

from runyard.runs import gate

WAITER = """
import sys, time
from pathlib import Path
from runyard.runs import gate
flag = Path(sys.argv[2])
gate.wait(Path(sys.argv[1]), give_up=flag.exists)
print(time.time(), flush=True)
"""


def _waiter(tmp_path, name: str = "gate"):
    path = tmp_path / name
    proc = subprocess.Popen([sys.executable, "-c", WAITER, str(path), str(tmp_path / f"{name}.give-up")],
                            stdout=subprocess.PIPE, text=True)
    return path, proc


def _left_at(proc) -> float:
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return float(out)


def test_a_held_process_goes_the_moment_its_gate_is_opened(tmp_path):
    path = tmp_path / "gate"
    gate.close(path)
    path, proc = _waiter(tmp_path)
    time.sleep(1.0)
    assert proc.poll() is None  # held
    opened = time.time()
    gate.open_(path)
    assert _left_at(proc) - opened < 0.2  # at once, not at the next look (GIVE_UP_CHECK)
    assert not path.exists()


def test_a_gate_opened_before_the_process_comes_lets_it_straight_through(tmp_path):
    path = tmp_path / "gate"
    gate.close(path)
    gate.open_(path)  # nobody waits yet: the gate is removed
    gate.open_(path)  # and opening it again is harmless
    _, proc = _waiter(tmp_path)
    _left_at(proc)


def test_a_held_process_gives_up_when_told(tmp_path):
    path = tmp_path / "gate"
    gate.close(path)
    path, proc = _waiter(tmp_path)
    time.sleep(0.5)
    assert proc.poll() is None
    (tmp_path / "gate.give-up").touch()  # e.g. the run was canceled while its sweep was gone
    _left_at(proc)
    assert not path.exists()
