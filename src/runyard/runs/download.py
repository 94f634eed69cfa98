"""Run.download_files: a run's artifacts under a prefix, into a local folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from runyard.errors import UserErrorException


def download_files(run, prefix, output_directory, output_paths, append_prefix) -> list[str]:
    from runyard.stores import tracking

    names = run.get_file_names()
    prefix = (prefix or "").strip("/")
    chosen = [n for n in names if not prefix or n == prefix or n.startswith(prefix + "/")
              or (n.startswith(prefix) and prefix.endswith(("_", "-", ".")))]
    if prefix and not chosen:
        raise UserErrorException(
            f"Run {run.id} has no files under prefix {prefix!r}. Its files: "
            f"{', '.join(names[:10]) or 'none'}{' ...' if len(names) > 10 else ''}")
    if output_paths is not None and len(output_paths) != len(chosen):
        raise UserErrorException("download_files: output_paths must have one path per file.")
    out_dir = Path(output_directory or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    # Download into a temporary folder first: nothing half-written lands in output_directory.
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        for index, name in enumerate(chosen):
            got = tracking.download(run._ws.tracking_uri, run._record["mlflow_run_id"], name,
                                    Path(tmp) / str(index))
            if output_paths is not None:
                target = Path(output_paths[index])
            elif prefix and not append_prefix:
                target = out_dir / (name[len(prefix):].lstrip("/") or Path(name).name)
            else:
                target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(got), target)
            written.append(str(target))
    return written
