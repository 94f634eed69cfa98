"""Progress of long data transfers, as short lines at most once a second (a run's Preparing
log, or the terminal for client-side uploads and downloads)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


class Progress:
    def __init__(self, label: str, total_files: int, total_bytes: int,
                 emit: Callable[[str], None] | None, every: float = 1.0):
        self.label, self.total_files, self.total_bytes = label, total_files, total_bytes
        self.emit, self.every = emit, every
        self.files = self.bytes = 0
        self.started = time.monotonic()
        self._next = self.started + every
        self._lock = threading.Lock()

    def advance(self, nbytes: int, files: int = 1) -> None:
        with self._lock:
            self.files += files
            self.bytes += nbytes
            now = time.monotonic()
            if self.emit is not None and now >= self._next:
                self._next = now + self.every
                self.emit(self._line(now))

    def file_callback(self, count: int):
        """An fsspec callback for a batch of transfers: each file's transfer reports its bytes
        as they arrive (a child callback per file), and the batch counts the files done."""
        from fsspec.callbacks import Callback

        progress = self

        class Bytes(Callback):
            def relative_update(self, inc=1):
                progress.advance(inc, files=0)

            def call(self, *args, **kwargs):
                pass

        class Files(Callback):
            def branched(self, path_1, path_2, **kwargs):
                return Bytes()

            def relative_update(self, inc=1):
                progress.advance(0, inc)

        return Files()

    def done(self) -> None:
        """The final line, for transfers long enough to have shown progress."""
        if self.emit is not None and time.monotonic() - self.started >= self.every:
            self.emit(self._line(time.monotonic()) + " done")

    def _line(self, now: float) -> str:
        rate = self.bytes / max(now - self.started, 1e-6)
        return (f"{self.label}: {self.files:,}/{self.total_files:,} files, "
                f"{_mb(self.bytes)}/{_mb(self.total_bytes)} ({_mb(int(rate))}/s)")


def to_stderr(show: bool) -> Callable[[str], None] | None:
    """The emitter for client-side transfers (show_progress=True)."""
    if not show:
        return None
    return lambda line: print(line, file=sys.stderr, flush=True)
