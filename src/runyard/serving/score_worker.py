"""The process that runs a deployment's entry script: imports it, calls init() once, then
run(raw_data) for each request sent by the endpoint server.

Standard library only: it runs in the deployment's environment, which need not have any of
runyard's dependencies. Requests and answers travel as length-prefixed JSON frames on two
pipes (file descriptors given on the command line), so the script may print freely: its
output goes to the endpoint's log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import sys
import traceback

_HEADER = struct.Struct(">I")


def read_frame(fd: int) -> dict | None:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(fd, _HEADER.unpack(header)[0])
    return None if payload is None else json.loads(payload)


def write_frame(fd: int, message: dict) -> None:
    payload = json.dumps(message).encode()
    data = _HEADER.pack(len(payload)) + payload
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _load(script: str):
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    spec = importlib.util.spec_from_file_location("score", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise AttributeError(f"{script} must define run(raw_data) (and usually init()).")
    return module


def _answer(module, raw_data: str) -> dict:
    try:
        result = module.run(raw_data)
    except Exception as exc:  # noqa: BLE001  the request fails, the service goes on
        traceback.print_exc()
        sys.stderr.flush()
        return {"status": 500, "body": json.dumps({"error": f"run() raised {type(exc).__name__}: {exc}"})}
    try:
        return {"status": 200, "body": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {"status": 500, "body": json.dumps(
            {"error": f"run() returned a value that is not JSON serialisable ({exc}); return "
                      "lists, dicts, numbers or strings (numpy: .tolist())."})}


def main(argv: list[str]) -> int:
    script, requests_fd, answers_fd = argv[0], int(argv[1]), int(argv[2])
    try:
        module = _load(script)
        if callable(getattr(module, "init", None)):
            module.init()
    except BaseException:  # noqa: BLE001  report any failure of the script to the server
        text = traceback.format_exc()
        sys.stderr.write(text)
        sys.stderr.flush()
        write_frame(answers_fd, {"ready": False, "error": text})
        return 1
    sys.stdout.flush()
    write_frame(answers_fd, {"ready": True})
    while True:
        request = read_frame(requests_fd)
        if request is None:  # the server closed the pipe: stop
            return 0
        answer = _answer(module, request["body"])
        sys.stdout.flush()
        write_frame(answers_fd, answer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
