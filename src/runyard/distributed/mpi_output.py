"""Splitting mpirun's --tag-output stream ("[1,3]<stdout>:text") into per-rank logs, and
reading which rank failed from mpirun's own report."""

from __future__ import annotations

import re
from pathlib import Path

_TAG = re.compile(rb"\[\d+,(\d+)\]<std(?:out|err|diag)>:")
_SIGNALED = re.compile(r"process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+)")
_EXITED = re.compile(r"Process name: \[\[\d+,\d+\],(\d+)\]\s+Exit code:\s+(\d+)")


class MpiDemux:
    """Feed it mpirun's output; it appends each rank's text to std_log_process_<rank>.txt and
    whole lines, prefixed "[rank N] ", to the combined log. Untagged text is mpirun's own."""

    def __init__(self, user_logs: Path):
        self.user_logs = user_logs
        self.combined = open(user_logs / "std_log.txt", "ab", buffering=0)
        self.files: dict[int, object] = {}
        self.pending: dict[int | None, bytes] = {}
        self.current: int | None = None
        self.carry = b""

    def feed(self, chunk: bytes) -> None:
        data = self.carry + chunk
        # keep a possibly cut tag at the end for the next chunk
        cut = data.rfind(b"[")
        if cut != -1 and b":" not in data[cut:]:
            data, self.carry = data[:cut], data[cut:]
        else:
            self.carry = b""
        position = 0
        for match in _TAG.finditer(data):
            self._text(self.current, data[position:match.start()])
            self.current = int(match.group(1))
            position = match.end()
        self._text(self.current, data[position:])

    def _text(self, rank: int | None, text: bytes) -> None:
        if not text:
            return
        if rank is not None:
            if rank not in self.files:
                self.files[rank] = open(self.user_logs / f"std_log_process_{rank}.txt", "ab", buffering=0)
            self.files[rank].write(text)
        buffered = self.pending.get(rank, b"") + text
        cut = buffered.rfind(b"\n") + 1
        if cut:
            prefix = f"[rank {rank}] ".encode() if rank is not None else b"[mpirun] "
            self.combined.write(b"".join(prefix + line for line in buffered[:cut].splitlines(keepends=True)))
        self.pending[rank] = buffered[cut:]
        # mpirun's own messages come untagged, right after a rank's tagged text
        if rank is not None and text.endswith(b"\n"):
            self.current = None

    def close(self) -> None:
        self.feed(b"")
        if self.carry:
            self._text(self.current, self.carry)
        for rank, rest in self.pending.items():
            if rest:
                prefix = f"[rank {rank}] ".encode() if rank is not None else b"[mpirun] "
                self.combined.write(prefix + rest + b"\n")
        for handle in [self.combined, *self.files.values()]:
            handle.close()


def rank_codes(ranks_dir: Path) -> dict[int, int]:
    """rank -> exit code, for the ranks whose wrapper has written one (completely)."""
    codes = {}
    for path in ranks_dir.glob("*") if ranks_dir.is_dir() else []:
        try:
            text = path.read_text()
            if text.endswith("\n"):
                codes[int(path.name)] = int(text.strip())
        except (OSError, ValueError):
            continue
    return codes


def failed_rank(ranks_dir: Path, combined_log: str) -> tuple[int, int] | None:
    """(rank, exit code; negative for a signal) of the first rank that failed: from the exit
    codes the rank wrappers wrote, else from mpirun's own report."""
    codes = []
    for rank, code in rank_codes(ranks_dir).items():
        if code:  # the shell reports a rank killed by signal N as 128 + N
            path = ranks_dir / str(rank)
            codes.append((path.stat().st_mtime, rank, -(code - 128) if code > 128 else code))
    if codes:
        _, rank, code = min(codes)
        return rank, code
    combined_log = combined_log.replace("[mpirun] ", "")
    signaled = _SIGNALED.search(combined_log)
    if signaled:
        return int(signaled.group(1)), -int(signaled.group(2))
    exited = _EXITED.search(combined_log)
    if exited:
        return int(exited.group(1)), int(exited.group(2))
    return None
