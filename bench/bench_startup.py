"""Import and CLI start-up times: `import runyard` and `runyard --help`.

    .venv/bin/python bench/bench_startup.py
"""

from __future__ import annotations

import subprocess
import sys
import time

from _common import median, report


def timed(argv: list[str], repeat: int = 15) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return median(samples) * 1000


def main() -> None:
    bare = timed([sys.executable, "-c", "pass"])
    imp = timed([sys.executable, "-c", "import runyard, runyard.core"])
    cli = timed([sys.executable, "-m", "runyard.cli", "--help"])
    mlflow = timed([sys.executable, "-c", "import mlflow"], repeat=5)
    report("start-up (median wall time, ms)", [
        ("python -c pass", f"{bare:.0f} ms"),
        ("import runyard, runyard.core", f"{imp:.0f} ms (target < 150)"),
        ("runyard --help", f"{cli:.0f} ms (target < 300)"),
        ("import mlflow (for scale)", f"{mlflow:.0f} ms"),
    ])


if __name__ == "__main__":
    main()
