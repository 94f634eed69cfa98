"""Environments: Preparing on a cache hit; a cold build of the curated TensorFlow environment
(uv's download cache warm) side by side with `python -m venv` + `pip install` and with Ray's
`runtime_env={"uv": [...]}`; the disk a second environment sharing TensorFlow adds.

    .venv/bin/python bench/bench_environments.py [--skip-pip] [--skip-ray]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _common import isolated_home, median, report

CURATED = "runyard-tensorflow-2.21-cpu"


def quiet(line: str) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-pip", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    root = isolated_home()
    os.environ["RUNYARD_CACHE"] = str(root / "cache")
    from runyard.environments import builder, plan
    from runyard.environments.environment import Environment

    env = Environment._curated(CURATED)
    definition = env.definition()
    packages = list(env.python.conda_dependencies.pip_packages)

    # Warm uv's download cache (a no-op when it already is), then build cold into a new cache.
    builder.materialize(plan.plan(definition), quiet)
    os.environ["RUNYARD_CACHE"] = str(root / "cache-cold")
    start = time.perf_counter()
    builder.materialize(plan.plan(definition), quiet)
    cold = time.perf_counter() - start

    hits = []
    for _ in range(20):
        start = time.perf_counter()
        builder.materialize(plan.plan(definition), quiet)
        hits.append(time.perf_counter() - start)

    seen: set = set()
    first_bytes = builder.disk_usage(builder.envs_dir() / plan.plan(definition).hash, seen)
    second = env.clone("tf-plus-six")
    second.python.conda_dependencies.add_pip_package("six")
    second_plan = plan.plan(second.definition())
    builder.materialize(second_plan, quiet)
    added = builder.disk_usage(builder.envs_dir() / second_plan.hash, seen)
    rows = [
        ("Preparing on a cache hit (plan + lookup), median of 20",
         f"{median(hits) * 1000:.1f} ms (target < 500 ms)"),
        (f"cold build of {CURATED} (uv cache warm)", f"{cold:.1f} s (target < 20 s)"),
        ("first environment's size (files hardlinked from uv's cache, not extra disk)",
         f"{first_bytes / 1e6:.0f} MB"),
        ("second environment sharing TensorFlow adds", f"{added / 1e6:.1f} MB (target < 50 MB)"),
    ]
    if not args.skip_pip:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "venv", f"{tmp}/venv"], check=True)
            pip = [f"{tmp}/venv/bin/python", "-m", "pip", "install", "--quiet"]
            subprocess.run(pip + [p for p in packages if not p.startswith("tf-keras")], check=True)
            subprocess.run(pip + ["--no-deps"] + [p for p in packages if p.startswith("tf-keras")],
                           check=True)
            took = time.perf_counter() - start
        rows.append(("python -m venv + pip install, same packages",
                     f"{took:.1f} s (ratio pip / runyard {took / cold:.1f}x)"))
    if not args.skip_ray:
        rows.append(ray_uv(packages, cold))
    report("environments", rows)


def ray_uv(packages: list[str], cold: float) -> tuple[str, str]:
    try:
        import ray
    except ImportError:
        return ("Ray runtime_env uv", "not installed (pip install 'ray[default]')")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        @ray.remote(runtime_env={"uv": [p for p in packages if not p.startswith("tf-keras")]})
        def probe():
            import tensorflow

            return tensorflow.__version__

        start = time.perf_counter()
        version = ray.get(probe.remote(), timeout=900)
        took = time.perf_counter() - start
        return ("Ray runtime_env uv: first task importing TensorFlow",
                f"{took:.1f} s (tf {version}; ratio Ray / runyard {took / cold:.1f}x)")
    except Exception as exc:  # report, do not hide, a peer that fails here
        return ("Ray runtime_env uv", f"failed: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
