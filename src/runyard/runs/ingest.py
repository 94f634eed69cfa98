"""Turns metric-file records into the run's history: numeric points as MLflow metrics (in
batches), everything v1 logs that MLflow cannot hold (strings, lists, rows, tables, images)
in a JSON document beside the run, files as artifacts, tags and properties."""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path

from runyard.runs.mlflow_fields import DISPLAY_NAME
from runyard.stores import bulk_metrics, tracking

log = logging.getLogger("runyard.ingest")

MLFLOW_BATCH = 1000  # MLflow accepts at most 1000 metrics per log_batch
BULK_BATCH = 20_000  # points per transaction on the bulk path
_UNSAFE_KEY = re.compile(r"[^\w\-. /:]")


def mlflow_key(name: str) -> str:
    """A metric or tag name as MLflow accepts it (v1 names may hold any character)."""
    key = _UNSAFE_KEY.sub("_", str(name)).strip("/") or "_"
    return key.replace("..", "__")


def is_number(value) -> bool:
    """A value MLflow stores as a metric point (others go to the v1 metric document)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_structured(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


class Ingestor:
    """Applies records to one run. Used by the supervisor (the run's only writer while it is
    active) and, for a run that has ended, directly by a client that logs to it."""

    def __init__(self, tracking_uri: str, mlflow_run_id: str, registry, run_id: str,
                 structured_path: Path, uploads_dir: Path):
        self.tracking_uri = tracking_uri
        self.mlflow_run_id = mlflow_run_id
        self.registry = registry
        self.run_id = run_id
        self.structured_path = structured_path
        self.uploads_dir = uploads_dir
        self.doc = read_structured(structured_path)
        self.points = 0
        # run.complete() / run.fail(): the outcome the run's script or starter asked for
        # (the supervisor ends the run with it; the first one counts).
        self.end_request: dict | None = None

    def apply(self, records: list[dict]) -> None:
        from mlflow.entities import RunTag

        metrics: list[tuple[str, float, int, int]] = []  # (key, value, timestamp ms, step)
        tags: dict[str, str] = {}
        properties: dict = {}
        doc_changed = False
        for rec in records:
            kind, name = rec.get("k"), rec.get("n")
            if kind == "m":
                value = rec["v"]
                if is_number(value):
                    metrics.append((mlflow_key(rec["n"]), float(value), int(rec["t"] * 1000),
                                    int(rec.get("s") or 0)))
                else:
                    entry = self.doc.setdefault(name, {"kind": "scalar", "value": []})
                    entry["value"].append(value)
                    doc_changed = True
            elif kind == "l":
                self.doc[name] = {"kind": "list", "value": rec["v"]}
                doc_changed = True
            elif kind == "r":
                table = self.doc.setdefault(name, {"kind": "table", "value": {}})["value"]
                row = rec["v"]
                length = max((len(col) for col in table.values()), default=0)
                for col in [*table, *(c for c in row if c not in table)]:
                    table.setdefault(col, [None] * length).append(row.get(col))
                doc_changed = True
            elif kind == "tb":
                self.doc[name] = {"kind": "table", "value": rec["v"]}
                doc_changed = True
            elif kind in ("i", "f"):
                artifact = rec["p"]
                local = Path(rec["f"])
                parent = str(Path(artifact).parent)
                tracking.upload_file(self.tracking_uri, self.mlflow_run_id, local,
                                     None if parent == "." else parent)
                if kind == "i":
                    self.doc[name] = {"kind": "image", "value": artifact}
                    doc_changed = True
            elif kind == "tag":
                tags[str(name)] = "" if rec.get("v") is None else str(rec["v"])
            elif kind == "prop":
                properties.update(rec["v"])
            elif kind == "end" and self.end_request is None:
                self.end_request = rec.get("v") if isinstance(rec.get("v"), dict) else {}
            elif kind == "name":  # the run's display name (mlflow_fields.DISPLAY_NAME)
                properties[DISPLAY_NAME] = str(rec["v"])
                tracking.rename_run(self.tracking_uri, self.mlflow_run_id, str(rec["v"]))
        if metrics:
            self._log_metrics(metrics)
        self.points += len(metrics)
        if tags:
            self.registry.merge_json(self.run_id, "tags", tags)
            tracking.client(self.tracking_uri).log_batch(
                self.mlflow_run_id, tags=[RunTag(mlflow_key(k), v[:8000]) for k, v in tags.items()])
        if properties:
            self.registry.merge_json(self.run_id, "properties", properties)
        if doc_changed:
            tmp = self.structured_path.with_name(f".{self.structured_path.name}.{uuid.uuid4().hex}")
            tmp.write_text(json.dumps(self.doc))
            tmp.replace(self.structured_path)

    def _log_metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        client = tracking.client(self.tracking_uri)
        store = client._tracking_client.store
        if bulk_metrics.supported(store):
            try:
                for start in range(0, len(points), BULK_BATCH):
                    bulk_metrics.insert(store, self.mlflow_run_id, points[start:start + BULK_BATCH])
                return
            except Exception as exc:  # e.g. a schema this version does not know: the slow path
                log.warning("Bulk metric insert failed (%s); using MLflow's log_batch.", exc)
        from mlflow.entities import Metric

        for start in range(0, len(points), MLFLOW_BATCH):
            batch = [Metric(*point) for point in points[start:start + MLFLOW_BATCH]]
            try:
                client.log_batch(self.mlflow_run_id, metrics=batch)
            except Exception as exc:  # one bad point must not cost the others
                log.warning("A metric batch was refused (%s); logging its points one by one.", exc)
                for metric in batch:
                    try:
                        client.log_batch(self.mlflow_run_id, metrics=[metric])
                    except Exception as point_exc:
                        log.warning("Metric %r step %s dropped: %s", metric.key, metric.step, point_exc)


def v1_metrics(tracking_uri: str, mlflow_run_id: str, structured_path: Path) -> dict:
    """get_metrics() as v1 returns it: a value logged once is a scalar, repeated a list."""
    out: dict = {}
    for key, values in tracking.metric_history(tracking_uri, mlflow_run_id).items():
        out[key] = values[0] if len(values) == 1 else values
    for name, entry in read_structured(structured_path).items():
        value = entry["value"]
        if entry["kind"] == "scalar":
            value = value[0] if len(value) == 1 else value
        out[name] = value
    return out
