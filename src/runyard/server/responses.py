"""What runyard's routes answer and read: JSON (NaN and infinities allowed), errors with a code
from server/codes.py, a file from an offset, a tar archive of files, a body spooled to disk."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

from runyard.errors import RunyardError
from runyard.server.codes import ErrorCode, code_of


def json_response(content, status_code: int = 200) -> Response:
    # NaN and infinities are valid metric values; Python's json reads them back.
    return Response(json.dumps(content), status_code=status_code, media_type="application/json")


def error_response(exc: RunyardError) -> Response:
    code = code_of(exc)
    return error(code, str(exc), type(exc).__name__)


def error(code: ErrorCode, message: str, exception: str | None = None) -> Response:
    """{"error_code", "message", "exception"}: the code (MLflow's style) and, for runyard's own
    errors, the exception's class, which the client raises again."""
    return json_response({"error_code": code.value, "message": message, "exception": exception},
                         code.status)


async def spooled(request: Request, folder: Path):
    """The request's body in a temporary file under `folder` (uploads can be large), rewound."""
    spool = tempfile.TemporaryFile(dir=folder)
    async for chunk in request.stream():
        spool.write(chunk)
    spool.seek(0)
    return spool


def tar_response(ws, fill) -> Response:
    """A tar archive of what fill(folder) writes into an empty folder, sent as the response
    (made in the workspace's folder, removed once sent)."""
    from runyard import archives

    spool = tempfile.NamedTemporaryFile(dir=ws.folder, suffix=".tar", delete=False)
    with spool, tempfile.TemporaryDirectory(dir=ws.folder) as folder:
        fill(Path(folder))
        archives.pack(archives.plain_files(Path(folder), "The files to send"), spool)
    return file_response(Path(spool.name))


def file_response(path: Path) -> Response:
    """A temporary file sent as the response, removed once sent."""
    from fastapi.responses import FileResponse
    from starlette.background import BackgroundTask

    return FileResponse(path, media_type="application/x-tar",
                        background=BackgroundTask(path.unlink, missing_ok=True))


def log_piece(path: Path, offset: int) -> Response:
    """A log file from `offset` (at most 8 MB a request; 204: not written yet), for a
    client's read(offset) (ServerClient.reader)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, offset))
            data = fh.read(8 * 1024 * 1024)
    except FileNotFoundError:
        return Response(status_code=204)
    return Response(data, media_type="application/octet-stream")
