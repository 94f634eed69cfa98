"""The v1 logging methods of a Run (run.log, log_list, log_row, ...). They only format a
record and hand it to the run's sink; see sinks.py for where records go."""

from __future__ import annotations

import os
from pathlib import Path

from runyard.errors import UserErrorException, received
from runyard.runs.sinks import Sink, stage_file

PLOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg")  # formats matplotlib writes, by file name


def _check_name(name) -> None:
    if not isinstance(name, str) or not name:
        raise UserErrorException(
            f"A metric name must be a non-empty string. Received: name={received(name)}")


class LoggingMixin:
    _sink: Sink | None = None

    def _logging_sink(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def log(self, name: str, value, description: str = "", step: int | None = None) -> None:
        """Log a number or string; logging the same name again builds a series."""
        if type(name) is not str or not name:
            _check_name(name)
        (self._sink or self._logging_sink()).scalar(name, value, step)

    def log_list(self, name: str, value, description: str = "") -> None:
        _check_name(name)
        self._emit("l", n=name, v=list(value))

    def log_row(self, name: str, description: str | None = None, **kwargs) -> None:
        _check_name(name)
        self._emit("r", n=name, v=kwargs)

    def log_table(self, name: str, value: dict, description: str = "") -> None:
        _check_name(name)
        if not isinstance(value, dict):
            raise UserErrorException(
                f"log_table takes a dict of column name -> list of values. Received: value={received(value)}")
        self._emit("tb", n=name, v={k: list(v) for k, v in value.items()})

    # v1's chart helpers take a JSON-able dict; they are kept as table-like metrics.
    def log_confusion_matrix(self, name: str, value, description: str = "") -> None:
        self._emit("tb", n=name, v=value)

    log_accuracy_table = log_residuals = log_predictions = log_confusion_matrix

    def log_image(self, name: str, path=None, plot=None, description: str = "") -> None:
        """Log an image file (`path`) or a matplotlib figure / pyplot module (`plot`)."""
        _check_name(name)
        if (path is None) == (plot is None):
            raise UserErrorException("log_image takes exactly one of path= or plot=.")
        sink = self._sink or self._logging_sink()
        if plot is not None:
            # v1 names a plot `<name>.png`; a name that already says its image type keeps it
            # (log_image(name="acc.png", plot=plt) is acc.png, saved in that format).
            suffix = Path(name).suffix.lower()
            image_format = suffix[1:] if suffix in PLOT_SUFFIXES else "png"
            artifact = f"images/{name}" if suffix in PLOT_SUFFIXES else f"images/{name}.png"
            staged = Path(sink.uploads_dir) / "plots" / f"{os.getpid()}-{abs(hash(name))}.{image_format}"
            staged.parent.mkdir(parents=True, exist_ok=True)
            plot.savefig(staged, format=image_format)
            staged = stage_file(Path(sink.uploads_dir), staged, artifact)
        else:
            if not Path(path).is_file():
                raise UserErrorException(f"log_image: no file at path={str(path)!r}.")
            artifact = f"images/{Path(path).name}"
            staged = stage_file(Path(sink.uploads_dir), path, artifact)
        sink.record("i", n=name, p=artifact, f=str(staged))

    def upload_file(self, name: str, path_or_stream, datastore_name=None):
        """Upload a file (or stream) as the run artifact `name` (e.g. 'outputs/report.txt')."""
        if not hasattr(path_or_stream, "read") and not Path(path_or_stream).is_file():
            raise UserErrorException(
                f"upload_file: no file at {str(path_or_stream)!r} (the second argument is the "
                "local file; the first is the name in the run).")
        sink = self._sink or self._logging_sink()
        staged = stage_file(Path(sink.uploads_dir), path_or_stream, name)
        sink.record("f", n=name, p=name.lstrip("/"), f=str(staged))

    def upload_files(self, names, paths, return_artifacts=False, timeout_seconds=None,
                     datastore_name=None):
        if len(names) != len(paths):
            raise UserErrorException("upload_files: names and paths must have the same length.")
        for name, path in zip(names, paths):  # same length, checked above
            self.upload_file(name, path)

    def upload_folder(self, name: str, path, datastore_name=None):
        folder = Path(path)
        if not folder.is_dir():
            raise UserErrorException(f"upload_folder: {str(path)!r} is not a folder.")
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.upload_file(f"{name.rstrip('/')}/{file.relative_to(folder).as_posix()}", file)

    def tag(self, key: str, value=None) -> None:
        self._emit("tag", n=key, v=value)

    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            self.tag(key, value)

    def add_properties(self, properties: dict) -> None:
        self._emit("prop", v={str(k): str(v) for k, v in properties.items()})

    def flush(self, timeout_seconds: int = 300) -> None:
        """Send what this process buffered (a client of `runyard server`); elsewhere records
        are written at once."""
        sink = self._sink or self._logging_sink()
        if hasattr(sink, "flush"):
            sink.flush()

    def _emit(self, kind: str, **fields) -> None:
        (self._sink or self._logging_sink()).record(kind, **fields)
