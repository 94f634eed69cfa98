"""The web UI: how soon a job's output line shows, and how fast the runs list loads.

    .venv/bin/python bench/bench_ui.py [--lines 40] [--runs 1000]

- Output latency: a job prints a line every 0.2-0.8 s with the time it printed it. Two readers
  poll once a second, as a browser would: runyard's run page (its log API, what the page's
  script polls) and MLflow's artifact view (`get-artifact` of user_logs/std_log.txt). For each
  line, the delay from its printing to the first poll that shows it; median and p95.
- Runs list: `--runs` runs recorded in one experiment (their records and MLflow runs, without
  starting processes: the page, not the runs, is measured), then MLflow's runs page of that
  experiment loaded in a fresh headless Chromium, until its table shows the runs' names.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import isolated_home, report, source_folder

PRINTER = """
import random, sys, time
for i in range(int(sys.argv[1])):
    print(f"line {i} at {time.time()!r}", flush=True)
    time.sleep(random.uniform(0.2, 0.8))  # (not in step with the readers' polls)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runyard.cli", "ui", "--no-browser", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if _get(f"{base}/health") == b"OK":
                return proc, base
        except OSError:
            time.sleep(0.5)
    raise SystemExit("runyard ui did not answer")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read()


def _first_seen(text: str, seen: dict[int, float], now: float) -> None:
    for line in text.splitlines():
        if line.startswith("line ") and " at " in line:
            number = int(line.split()[1])
            seen.setdefault(number, now - float(line.rsplit(" ", 1)[1]))


def output_latency(root: Path, base: str, lines: int) -> dict[str, list[float]]:
    from runyard.core import Experiment, ScriptRunConfig, Workspace

    src = source_folder(root, "printer.py", PRINTER)
    run = Experiment(Workspace.from_config(), "latency").submit(
        ScriptRunConfig(str(src), script="printer.py", arguments=[lines]))
    page: dict[int, float] = {}
    mlflow: dict[int, float] = {}
    offset, text = 0, ""
    while True:
        now = time.time()
        log = json.loads(_get(f"{base}/runyard/api/runs/{run.id}/log?offset={offset}"))
        text += log["text"]
        offset = log["offset"]
        _first_seen(text, page, now)
        record = run._refresh()
        try:
            body = _get(f"{base}/get-artifact?path=user_logs/std_log.txt&run_uuid={record['mlflow_run_id']}")
            _first_seen(body.decode(errors="replace"), mlflow, now)
        except OSError:
            pass  # not uploaded yet
        if log["ended"] and len(mlflow) >= lines:
            break
        time.sleep(max(0.0, 1.0 - (time.time() - now)))
    return {"runyard page": list(page.values()), "MLflow artifact view": list(mlflow.values())}


def record_runs(count: int) -> tuple[str, list[str]]:
    """`count` Completed runs in one experiment: records and MLflow runs, no processes."""
    from runyard.core import Workspace
    from runyard.runs.spec import RunSpec
    from runyard.runs.status import RunStatus
    from runyard.runs.submit import new_run_id, record
    from runyard.stores import tracking

    ws = Workspace.from_config()
    names = []
    for i in range(count):
        run_id = new_run_id("many")
        spec = RunSpec(run_id=run_id, experiment="many", source_directory=".", snapshot_id="0" * 64,
                       script="train.py", arguments=["--index", str(i)]).model_dump()
        record(ws, run_id, "many", spec, {})
        for status in (RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.FINALIZING,
                       RunStatus.COMPLETED):
            ws._registry.transition(run_id, status)
        found = ws._registry.get_run(run_id)
        tracking.set_terminated(ws.tracking_uri, found["mlflow_run_id"], "Completed")
        names.append(found["properties"]["runyard.displayName"])
    return found["mlflow_experiment_id"], names


def runs_page_load(base: str, experiment_id: str, newest: str) -> float:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    short = Path(tempfile.mkdtemp(prefix="runyard-chromium-", dir="/tmp"))
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,900", f"--user-data-dir={short / 'profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get(f"{base}/")  # (the first visit sets the view; the page load is timed next)
        time.sleep(3)
        started = time.perf_counter()
        driver.get(f"{base}/#/experiments/{experiment_id}/runs")
        while newest not in driver.find_element("tag name", "body").text:
            if time.perf_counter() - started > 120:
                raise SystemExit("the runs page did not show the runs within 120 s")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        driver.quit()
        shutil.rmtree(short, ignore_errors=True)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    root = isolated_home()
    proc, base = start_ui()
    try:
        delays = output_latency(root, base, args.lines)
        report(f"Output line printed -> shown ({args.lines} lines, each reader polling once a second)",
               [(name, f"median {statistics.median(v):.2f} s, p95 {_p95(v):.2f} s, max {max(v):.2f} s")
                for name, v in delays.items()])
        started = time.perf_counter()
        experiment_id, names = record_runs(args.runs)
        recorded = time.perf_counter() - started
        load = runs_page_load(base, experiment_id, names[-1])
        report(f"Runs list with {args.runs} runs", [
            (f"recording {args.runs} runs (not timed below)", f"{recorded:.1f} s"),
            ("MLflow runs page, navigation -> newest run's name shown", f"{load:.2f} s")])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
