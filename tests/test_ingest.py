"""Metric ingest into MLflow: every point stored once, the latest value right, fast path and
MLflow's own path agreeing."""

import math
import time

import pytest

from runyard.runs.ingest import Ingestor
from runyard.stores import bulk_metrics, tracking


@pytest.fixture
def mlflow_run(ws):
    experiment_id = tracking.ensure_experiment(ws.tracking_uri, "ingest", ws.artifact_root_uri)
    return tracking.create_run(ws.tracking_uri, experiment_id, "r", {})


def _points(n, key="loss"):
    now = time.time()
    return [{"k": "m", "n": key, "v": float(i), "s": i, "t": now} for i in range(n)]


@pytest.mark.parametrize("fast_path", [True, False], ids=["bulk-insert", "mlflow-log-batch"])
def test_many_points_are_all_stored_once(ws, mlflow_run, tmp_path, monkeypatch, fast_path):
    _choose_path(ws, monkeypatch, fast_path)
    ingestor = Ingestor(ws.tracking_uri, mlflow_run, ws._registry, "r",
                        tmp_path / "structured.json", tmp_path / "uploads")
    records = _points(5000)
    ingestor.apply(records)
    ingestor.apply(records[:100])  # the same points again (a retried read) are not duplicated
    client = tracking.client(ws.tracking_uri)
    history = client.get_metric_history(mlflow_run, "loss")
    assert sorted(m.step for m in history) == list(range(5000))
    assert client.get_run(mlflow_run).data.metrics["loss"] == 4999.0


@pytest.mark.parametrize("fast_path", [True, False], ids=["bulk-insert", "mlflow-log-batch"])
def test_latest_value_follows_mlflow_rule_and_special_values(ws, mlflow_run, tmp_path,
                                                             monkeypatch, fast_path):
    _choose_path(ws, monkeypatch, fast_path)
    ingestor = Ingestor(ws.tracking_uri, mlflow_run, ws._registry, "r",
                        tmp_path / "structured.json", tmp_path / "uploads")
    now = time.time()
    ingestor.apply([{"k": "m", "n": "acc", "v": 0.9, "s": 5, "t": now},
                    {"k": "m", "n": "acc", "v": 0.1, "s": 2, "t": now + 1},
                    {"k": "m", "n": "bad", "v": float("nan"), "s": 0, "t": now},
                    {"k": "m", "n": "big", "v": float("inf"), "s": 0, "t": now}])
    ingestor.apply([{"k": "m", "n": "acc", "v": 0.5, "s": 3, "t": now + 2}])  # older step
    data = tracking.client(ws.tracking_uri).get_run(mlflow_run).data.metrics
    assert data["acc"] == 0.9
    assert math.isnan(data["bad"])
    assert data["big"] > 1e300


def _choose_path(ws, monkeypatch, fast_path: bool) -> None:
    """Force one of the two write paths; the other one fails loudly if it is taken."""
    client = tracking.client(ws.tracking_uri)
    if fast_path:
        assert bulk_metrics.supported(client._tracking_client.store)

        def refuse(*args, **kwargs):
            raise AssertionError("MLflow's log_batch was used instead of the bulk insert")

        monkeypatch.setattr(client, "log_batch", refuse)
    else:
        monkeypatch.setattr(bulk_metrics, "supported", lambda store: False)
