"""Runs of a workspace reached through `runyard server`: submitting (the snapshot goes up,
content-addressed: only files the server lacks) and logging from this machine."""

from __future__ import annotations

import atexit
import builtins
import tempfile
import threading
import time
from pathlib import Path

from runyard.runs.records import StepCounter

FLUSH_INTERVAL = 0.5  # seconds between background sends of logged records
MAX_BATCH = 20_000  # records per request


class ServerRuns:
    """The server's runs: read through its routes; submit and cancel are done whole on the
    server, which places, records and supervises runs."""

    def __init__(self, workspace):
        self.ws = workspace
        self.server = workspace._server

    def get(self, run_id: str) -> dict:
        return _decode(self.server.get(f"/runs/{run_id}"))

    def list(self, experiment: str | None = None, parent_run_id: str | None = None,
             limit: int | None = None):
        params = {k: v for k, v in (("experiment", experiment), ("parent_run_id", parent_run_id),
                                    ("limit", limit)) if v is not None}
        for record in self.server.get("/runs", **params):
            yield _decode(record)

    def experiments(self) -> builtins.list[str]:
        return self.server.get("/experiments")

    def submit(self, experiment: str, fields: dict, target, tags: dict[str, str],
               snapshot_id: str | None = None) -> str:
        return self._post_submission("/runs", experiment, fields, target, tags, snapshot_id)

    def submit_sweep(self, experiment: str, fields: dict, target, tags: dict[str, str],
                     sweep: dict, snapshot_id: str | None = None) -> str:
        """The server records the sweep and runs its controller."""
        return self._post_submission("/sweeps", experiment, fields, target, tags, snapshot_id, sweep=sweep)

    def _post_submission(self, route: str, experiment: str, fields: dict, target, tags: dict[str, str],
                         snapshot_id: str | None, **extra) -> str:
        """The snapshot goes up first (only the files the server lacks), unless given: a
        re-run of one the server has."""
        if snapshot_id is None:
            from runyard.runs import snapshot  # (pathspec: never imported by a job's Run)

            store = self.ws.snapshots_dir
            snapshot_id = snapshot.take(Path(fields["source_directory"]), store)
            upload_snapshot(self.server, store, snapshot_id)
        if target is not None and not isinstance(target, str):
            target = getattr(target, "name", str(target))
        answer = self.server.post(route, {"experiment": experiment, "target": target, "fields": fields,
                                          "snapshot_id": snapshot_id, "tags": tags, **extra})
        return answer["run_id"]

    def cancel(self, run_id: str) -> None:
        self.server.post(f"/runs/{run_id}/cancel", {})

    def metrics(self, record: dict, name: str | None = None) -> dict:
        return self.server.get(f"/runs/{record['run_id']}/metrics", **({} if name is None else {"name": name}))

    def log_source(self, run_id: str, log: str):
        return self.server.log_reader(run_id, log)

    def sink(self, run_id: str) -> RemoteSink:
        return RemoteSink(self, run_id)


def _decode(record: dict) -> dict:
    from runyard.runs.status import RunStatus

    record["status"] = RunStatus(record["status"])
    return record


def upload_snapshot(server, store: Path, snapshot_id: str) -> None:
    from runyard.runs import snapshot

    entries = snapshot.manifest(store, snapshot_id)
    missing = set(server.post("/snapshots/missing",
                              {"blobs": sorted({e["sha256"] for e in entries})})["missing"])
    with tempfile.TemporaryFile() as spool:
        snapshot.pack_upload(store, snapshot_id, missing, spool)
        server.request("PUT", f"/snapshots/{snapshot_id}", data=spool)


class RemoteSink:
    """run.log() and friends from a client of a served workspace: records are buffered and
    sent in batches by a background thread (logging never waits on the network); files go
    through the server's artifact proxy. Whatever is buffered is sent at flush() and when the
    process exits."""

    def __init__(self, runs: ServerRuns, run_id: str):
        self.runs, self.run_id = runs, run_id
        self.uploads_dir = Path(tempfile.mkdtemp(prefix="runyard-uploads-"))
        self._buffer: builtins.list[dict] = []
        self._steps = StepCounter()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        threading.Thread(target=self._loop, name="runyard-remote-log", daemon=True).start()
        atexit.register(self._flush_at_exit)

    def scalar(self, name, value, step=None) -> None:
        from runyard.runs.records import _as_number

        if not isinstance(value, (str, bool, int, float)):
            value = _as_number(name, value)
        step = self._steps.take(name, step)
        with self._lock:
            self._buffer.append({"k": "m", "n": name, "v": value, "s": step, "t": time.time()})

    def record(self, kind: str, **fields) -> None:
        from runyard.runs.records import _to_builtin
        from runyard.stores import tracking

        local = fields.pop("f", None)
        if local is not None:  # a staged file: upload it now, then record it without a path
            artifact = fields.get("p") or fields["n"]
            parent = str(Path(artifact).parent)
            tracking.upload_file(self.runs.ws.tracking_uri, self.runs.get(self.run_id)["mlflow_run_id"],
                                 Path(local), None if parent == "." else parent)
            if kind == "f":
                return
        import json

        fields = json.loads(json.dumps(fields, default=_to_builtin))
        with self._lock:
            self._buffer.append({"k": kind, "t": time.time(), **fields})

    def flush(self) -> None:
        """Send everything logged so far; raises what the server answered if it failed."""
        with self._send_lock:
            while True:
                with self._lock:
                    batch, self._buffer = self._buffer[:MAX_BATCH], self._buffer[MAX_BATCH:]
                if not batch:
                    break
                try:
                    self.runs.server.post(f"/runs/{self.run_id}/records", batch)
                except Exception:
                    with self._lock:  # keep them for the next try
                        self._buffer[:0] = batch
                    raise

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            try:
                self.flush()
            except Exception:  # kept in the buffer; flush() raises it to the caller
                time.sleep(FLUSH_INTERVAL)

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except Exception as exc:
            import sys

            print(f"runyard: {len(self._buffer)} logged records of run {self.run_id} could not be "
                  f"sent to the server: {exc}", file=sys.stderr)
