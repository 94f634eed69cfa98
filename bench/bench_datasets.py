"""Datasets: as_download of a 200 MB, 2,000-file dataset, first use (cold cache) side by side
with a plain `cp -r` (local source) and a plain fsspec copy (S3 source, a moto server on
loopback), alternating, in one run; and the second use (cache hit).

"as_download" here is what a run's Preparing does for the input (data/views.materialize: check
the pins, fill the cache, link the files into the run), timed in this process.

    .venv/bin/python bench/bench_datasets.py [--files 2000] [--mb 200] [--repeat 3] [--skip-s3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import isolated_home, median, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def make_dataset(folder: Path, files: int, total_mb: int) -> None:
    size = total_mb * 1_000_000 // files
    for i in range(files):
        sub = folder / f"part{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"file{i:05d}.bin").write_bytes(os.urandom(size))


def timed(fn) -> float:
    os.sync()  # start each measurement with no dirty pages from the previous one
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def first_and_second_use(entries_fn, datastores, scratch: Path) -> tuple[float, float]:
    """(cold-cache as_download, cache-hit as_download) in seconds."""
    from runyard.data import cache
    from runyard.data.views import materialize

    shutil.rmtree(cache.root(), ignore_errors=True)
    first = timed(lambda: materialize(entries_fn(), "download", scratch / "first", datastores, None, "bench"))
    second = timed(lambda: materialize(entries_fn(), "download", scratch / "second", datastores, None, "bench"))
    shutil.rmtree(scratch / "first")
    shutil.rmtree(scratch / "second")
    return first, second


def bench_local(root: Path, data: Path, repeat: int) -> list[tuple[str, str]]:
    from runyard.core import Dataset, Workspace

    ws = Workspace.create("bench", exist_ok=True)
    started = time.perf_counter()
    dataset = Dataset.File.from_files(str(data)).register(ws, "bench-local")
    register_s = time.perf_counter() - started
    scratch = root / "scratch"
    scratch.mkdir()
    cp, first, second = [], [], []
    target = scratch / "cp"
    for _ in range(repeat):
        cp.append(timed(lambda: subprocess.run(["cp", "-r", str(data), str(target)], check=True)))
        shutil.rmtree(target)
        a, b = first_and_second_use(lambda: [dict(e) for e in dataset._manifest], None, scratch)
        first.append(a)
        second.append(b)
    return [
        ("registration (hashing, once per version)", f"{register_s:.2f} s"),
        ("cp -r (median)", f"{median(cp):.3f} s  {cp}"),
        ("as_download first use (median)", f"{median(first):.3f} s  {first}"),
        ("ratio first use / cp -r", f"{median(first) / median(cp):.2f}"),
        ("as_download cache hit (median)", f"{median(second):.3f} s  {second}"),
    ]


def bench_s3(root: Path, data: Path, repeat: int) -> list[tuple[str, str]]:
    from data_servers import MotoS3
    from runyard.core import Dataset, Datastore, Workspace
    from runyard.data import filesystems
    from runyard.data.datastore import load_config

    (root / "moto").mkdir()
    server = MotoS3(root / "moto")
    try:
        ws = Workspace.create("bench", exist_ok=True)
        store = Datastore.register_s3_bucket(ws, "bench_s3", "bench-data", endpoint_url=server.endpoint_url,
                                             access_key_id=server.key, secret_access_key=server.secret,
                                             create_if_not_exists=True)
        upload_s = timed(lambda: Dataset.File.upload_directory(str(data), (store, "set"), show_progress=False))
        dataset = Dataset.File.from_files((store, "set/**")).register(ws, "bench-s3")
        fs = filesystems.s3_filesystem(load_config(ws, "bench_s3"))
        scratch = root / "scratch-s3"
        scratch.mkdir()
        plain, first, second = [], [], []
        target = scratch / "fsspec"
        for _ in range(repeat):
            plain.append(timed(lambda: fs.get("bench-data/set/", str(target) + "/", recursive=True)))
            assert sum(1 for p in target.rglob("*") if p.is_file()) == len(dataset._manifest)
            shutil.rmtree(target)
            a, b = first_and_second_use(lambda: [dict(e) for e in dataset._manifest],
                                        lambda name: load_config(ws, name), scratch)
            first.append(a)
            second.append(b)
    finally:
        server.stop()
    return [
        ("upload to the bucket (once)", f"{upload_s:.1f} s"),
        ("plain fsspec get (median)", f"{median(plain):.2f} s  {[round(x, 2) for x in plain]}"),
        ("as_download first use (median)", f"{median(first):.2f} s  {[round(x, 2) for x in first]}"),
        ("ratio first use / fsspec", f"{median(first) / median(plain):.2f}"),
        ("as_download cache hit (median)", f"{median(second):.3f} s  {[round(x, 3) for x in second]}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    root = isolated_home()
    os.environ["RUNYARD_CACHE"] = str(root / "cache")
    data = root / "data"
    make_dataset(data, args.files, args.mb)
    print(f"dataset: {args.files} files, {args.mb} MB, in {data}")
    report("Local source: as_download vs cp -r", bench_local(root, data, args.repeat))
    if not args.skip_s3:
        report("S3 source (moto on loopback): as_download vs fsspec get", bench_s3(root, data, args.repeat))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
