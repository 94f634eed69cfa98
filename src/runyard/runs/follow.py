"""Following a growing log file until its run ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path


def file_reader(path: Path) -> Callable[[int], bytes | None]:
    """read(offset): the bytes of `path` from `offset` (None while the file does not exist)."""
    def read(offset: int) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read()
        except FileNotFoundError:
            return None

    return read


def follow(source: Path | Callable[[int], bytes | None], finished: Callable[[], bool],
           poll: float = 0.1, from_start: bool = True) -> Iterator[str]:
    """Yield text as it is appended to `source` (a file, or a read(offset) function such as
    a server's log route); stop once `finished()` and all is read."""
    if callable(source):
        read, offset = source, 0
    else:
        read = file_reader(source)
        offset = 0 if from_start else (source.stat().st_size if source.exists() else 0)
    pending = b""
    while True:
        done = finished()  # asked before reading, so nothing written before the end is missed
        data = read(offset)
        if data is not None:
            offset += len(data)
            data = pending + data
            cut = data.rfind(b"\n") + 1  # whole lines only; the rest waits (UTF-8 safe)
            if done:
                cut = len(data)
            pending = data[cut:]
            if cut:
                yield data[:cut].decode("utf-8", errors="replace")
        if done:
            return
        time.sleep(poll)


def tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a file ('' when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])
