"""Spawning a job's processes in their own process group, pumping their output to a log file,
and stopping every one of them (SIGTERM, a grace period, then SIGKILL)."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork
except (OSError, AttributeError):  # not Linux
    _prctl = None


def become_subreaper() -> None:
    """Orphans of this process's descendants become its children instead of init's: a job's
    process that daemonised (setsid and a double fork) or outlived its parent is still found
    among this process's descendants, and stopped with the job."""
    if _prctl is not None:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def keep_environment_private() -> None:
    """Other processes of this user (a job) cannot read this one's memory or environment
    (/proc/<pid>/environ): it holds the server's secrets."""
    if _prctl is not None:
        _prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the supervisor is killed (even with
    # SIGKILL) the kernel kills the job's main process too.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start a job process as the leader of a new process group, output on one pipe."""
    return subprocess.Popen(
        argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        close_fds=True)


class LogSink:
    """Output of one process: every chunk to `log_path` as it comes (readers follow that file),
    and, for a process of a distributed job, each complete line with `prefix` to `combined`."""

    def __init__(self, log_path: Path, combined: Path | None = None, prefix: bytes = b""):
        self.out = open(log_path, "ab", buffering=0)
        self.shared = open(combined, "ab", buffering=0) if combined else None
        self.prefix = prefix
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        self.out.write(chunk)
        if self.shared is not None:
            self.pending += chunk
            cut = self.pending.rfind(b"\n") + 1
            if cut:
                lines = self.pending[:cut].splitlines(keepends=True)
                self.shared.write(b"".join(self.prefix + line for line in lines))
                self.pending = self.pending[cut:]

    def close(self) -> None:
        if self.shared is not None:
            if self.pending:
                self.shared.write(self.prefix + self.pending + b"\n")
            self.shared.close()
        self.out.close()


def pump(proc: subprocess.Popen, log_path: Path, combined: Path | None = None,
         prefix: bytes = b"", on_error=None) -> threading.Thread:
    """Copy the process's output into a LogSink as it comes."""
    return pump_into(proc, LogSink(log_path, combined, prefix), on_error)


def pump_into(proc: subprocess.Popen, sink, on_error=None) -> threading.Thread:
    """Hand the process's output, chunk by chunk, to `sink.feed`; `sink.close()` at the end.
    A sink that cannot write (a full disk) is reported once to `on_error`, and the output is
    still read and dropped: a process must never block on a full pipe."""

    def _copy() -> None:
        fd = proc.stdout.fileno()
        failed = False
        try:
            for chunk in iter(lambda: os.read(fd, 65536), b""):
                if failed:
                    continue
                try:
                    sink.feed(chunk)
                except OSError as exc:
                    failed = True
                    if on_error is not None:
                        on_error(exc)
        finally:
            try:
                sink.close()
            except OSError as exc:
                if on_error is not None and not failed:
                    on_error(exc)

    thread = threading.Thread(target=_copy, name="output-pump", daemon=True)
    thread.start()
    return thread


def group_members(pgid: int, extra: list[psutil.Process] = ()) -> list[psutil.Process]:
    """Live processes of the group plus known descendants that left it (setsid)."""
    found = {p.pid: p for p in extra}
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                found[proc.pid] = proc
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return [p for p in found.values() if _alive(p)]


def wait_for_exit(proc: subprocess.Popen, timeout: float) -> None:
    """Return when `proc` exits or after `timeout` seconds, whichever comes first, without
    reaping it. A pidfd (Linux 5.3) wakes this at the exit itself; Popen.wait would poll."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # an older kernel or Python, or the process is gone
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        return
    try:
        select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def job_processes(sessions: list[int], exclude: set[int] = frozenset(),
                  adopted: bool = True) -> list[psutil.Process]:
    """Every live process of a job: those in its sessions (each job process starts one) and,
    when this process runs one job only (`adopted`: a supervisor, a subreaper whose orphans
    come back to it), every descendant of this process; but those in `exclude` (a watchdog)."""
    found: dict[int, psutil.Process] = {}
    wanted = set(sessions)
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid != me and os.getsid(proc.pid) in wanted:
                found[proc.pid] = proc
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    for proc in descendants(me) if adopted else [d for pid in sessions for d in descendants(pid)]:
        found.setdefault(proc.pid, proc)
    return [p for p in found.values() if p.pid not in exclude and _alive(p)]


def stop_job(sessions: list[int], grace: float, exclude: set[int] = frozenset(),
             adopted: bool = True) -> None:
    """SIGTERM every process of the job (job_processes), SIGKILL what is left after `grace`
    seconds, again until none is left (a process may fork while it is stopped)."""
    members = job_processes(sessions, exclude, adopted)
    for proc in members:
        _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while members and time.monotonic() < deadline:
        members = [p for p in members if _alive(p)]
        time.sleep(0.05)
    for _ in range(10):
        members = job_processes(sessions, exclude, adopted)
        if not members:
            break
        for proc in members:
            _signal(proc, signal.SIGKILL)
        _wait_gone(members, 2.0)
    # The orphans adopted here stay zombies until this process ends (init reaps them then):
    # waiting for them here could take the exit status of a child a subprocess.Popen of this
    # process waits for (an environment build), which would then read as a success.


def _wait_gone(members: list[psutil.Process], timeout: float) -> None:
    """Wait until none of them runs (a zombie counts as gone), without reaping any: their
    exit status belongs to whoever started them (psutil.wait_procs would take it)."""
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in members) and time.monotonic() < deadline:
        time.sleep(0.02)


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except psutil.Error:
        pass


def stop_groups(pgids: list[int], grace: float, known: list[psutil.Process] = ()) -> None:
    """SIGTERM every process of the groups (and known descendants), SIGKILL what is left after
    `grace` seconds. TensorFlow catches SIGTERM and keeps going, hence the short grace."""
    members = {p.pid: p for pgid in pgids for p in group_members(pgid, list(known))}
    members = list(members.values())
    if not members:
        return
    for pgid in pgids:
        _signal_all(pgid, members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        members = [p for p in members if _alive(p)]
        if not members:
            return
        time.sleep(0.05)
    for pgid in pgids:
        _signal_all(pgid, members, signal.SIGKILL)
    psutil.wait_procs(members, timeout=5)


def _signal_all(pgid: int, members: list[psutil.Process], sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in members:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass
