"""Submit to the script's first line of output, warm, trivial script; side by side with Ray
Jobs (`JobSubmissionClient.submit_job` to the first log line) when Ray is installed, and
runyard on a Ray compute target attached to that same Ray cluster.

    .venv/bin/python bench/bench_first_line.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import isolated_home, median, report, source_folder

TRIVIAL = "print('first line', flush=True)\n"


def runyard_first_line(ws, src: Path, target: str = "local") -> float:
    from runyard.core import Experiment, ScriptRunConfig

    start = time.perf_counter()
    run = Experiment(ws, "bench").submit(ScriptRunConfig(str(src), script="trivial.py",
                                                         compute_target=target))
    log = run._paths.std_log
    while True:
        if log.exists() and b"first line" in log.read_bytes():
            elapsed = time.perf_counter() - start
            break
        time.sleep(0.002)
    run.wait_for_completion()
    return elapsed


def ray_first_line(client) -> float:
    start = time.perf_counter()
    job = client.submit_job(entrypoint="python -c \"print('first line', flush=True)\"")
    while "first line" not in client.get_job_logs(job):
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    while not client.get_job_status(job).is_terminal():
        time.sleep(0.05)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    src = source_folder(isolated_home(), "trivial.py", TRIVIAL)
    from runyard.core import Workspace

    ws = Workspace.from_config()
    runyard_first_line(ws, src)  # warm-up: creates the MLflow database, loads MLflow
    ours = [runyard_first_line(ws, src) for _ in range(args.repeat)]
    rows = [("runyard submit -> first line, median", f"{median(ours):.3f} s (n={args.repeat})")]
    try:
        import ray
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        rows.append(("Ray Jobs", "not installed (pip install 'ray[default]')"))
    else:
        from runyard.compute import ray_cluster
        from runyard.core.compute import ComputeTarget, RayCompute

        token = ray_cluster.new_token()
        ray_cluster.use_token({"secret": token})  # the local cluster below requires it
        context = ray.init(include_dashboard=True, num_cpus=2, dashboard_host="127.0.0.1")
        try:
            client = JobSubmissionClient(f"http://{context.dashboard_url}")
            for _ in range(60):  # warm-up; the dashboard's job agent takes a moment to start
                try:
                    ray_first_line(client)
                    break
                except RuntimeError:
                    time.sleep(0.5)
            theirs = [ray_first_line(client) for _ in range(args.repeat)]
            ComputeTarget.attach(ws, "bench-ray", RayCompute.attach_configuration(
                context.address_info["gcs_address"], auth_token=token))
            runyard_first_line(ws, src, "bench-ray")  # warm-up
            on_ray = [runyard_first_line(ws, src, "bench-ray") for _ in range(args.repeat)]
            rows.append(("Ray Jobs submit -> first line, median", f"{median(theirs):.3f} s"))
            rows.append(("runyard on that Ray cluster, median", f"{median(on_ray):.3f} s"))
            rows.append(("ratio runyard local / Ray Jobs", f"{median(ours) / median(theirs):.2f}"))
            rows.append(("ratio runyard on Ray / Ray Jobs", f"{median(on_ray) / median(theirs):.2f}"))
        finally:
            ray.shutdown()
    report("submit to first line of output (warm, trivial script)", rows)


if __name__ == "__main__":
    main()
