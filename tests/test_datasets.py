"""Datasets and datastores: registration, immutability, the cache, and real runs consuming
local, HTTP (a real server on loopback) and S3 (a real moto server) data."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import runyard_cli
from data_servers import HttpFiles, MotoS3
from runyard.core import Dataset, Datastore, Experiment, ScriptRunConfig
from runyard.data import cache
from runyard.data.dataset_consumption_config import DatasetConsumptionConfig
from runyard.exceptions import UserErrorException

READER = """
import argparse, glob, json, os
from runyard.core import Run
p = argparse.ArgumentParser()
p.add_argument("--data-folder")
p.add_argument("--other", default=None)
a = p.parse_args()
run = Run.get_context()
files = sorted(os.path.relpath(f, a.data_folder) for f in glob.glob(a.data_folder + "/**", recursive=True)
               if os.path.isfile(f))
print("FILES", json.dumps(files))
print("CONTENT", json.dumps({f: open(os.path.join(a.data_folder, f)).read() for f in files}))
print("INPUTS", json.dumps(run.input_datasets))
print("OTHER", a.other)
"""


def make_files(folder: Path, files: dict[str, str]) -> Path:
    for name, body in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return folder


def printed(run, tag: str):
    for line in run._paths.std_log.read_text().splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:]) if tag != "OTHER" else line[len(tag) + 1:]
    raise AssertionError(f"{tag} not printed:\n{run._paths.std_log.read_text()}")


@pytest.fixture
def http_files(tmp_path):
    server = HttpFiles(make_files(tmp_path / "www", {
        "mnist/train-images-idx3-ubyte.gz": "train images", "mnist/train-labels-idx1-ubyte.gz": "train labels",
        "mnist/t10k-images-idx3-ubyte.gz": "test images", "mnist/t10k-labels-idx1-ubyte.gz": "test labels"}))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoS3(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


# -- local files -------------------------------------------------------------------------------
def test_local_files_register_versions_and_lookups(ws, tmp_path):
    data = make_files(tmp_path / "data", {"a.txt": "a", "sub/b.txt": "bb", "sub/c.csv": "c"})
    dataset = Dataset.File.from_files(path=str(data))
    assert dataset.to_path() == ["/a.txt", "/sub/b.txt", "/sub/c.csv"]
    assert Dataset.File.from_files(str(data / "sub" / "*.txt")).to_path() == ["/b.txt"]
    assert Dataset.File.from_files(str(data / "a.txt")).to_path() == ["/a.txt"]
    assert Dataset.File.from_files([str(data / "a.txt"), str(data / "sub/**")]).to_path() == \
        ["/a.txt", "/sub/b.txt", "/sub/c.csv"]

    v1 = dataset.register(workspace=ws, name="digits", description="first", tags={"k": "v"})
    assert (v1.name, v1.version, v1.description, v1.tags) == ("digits", 1, "first", {"k": "v"})
    assert dataset.register(ws, "digits").version == 1  # unchanged files: the same version
    (data / "a.txt").write_text("changed")
    with pytest.raises(UserErrorException, match="create_new_version=True"):
        dataset.register(ws, "digits")
    v2 = dataset.register(ws, "digits", create_new_version=True)
    assert v2.version == 2
    assert Dataset.get_by_name(ws, "digits").version == 2
    assert Dataset.get_by_name(ws, "digits", version=1).id == v1.id
    assert Dataset.get_by_id(ws, v2.id).version == 2
    assert list(Dataset.get_all(ws)) == ["digits"] and list(ws.datasets) == ["digits"]
    with pytest.raises(UserErrorException, match="No dataset 'nope'.*registered: digits"):
        Dataset.get_by_name(ws, "nope")
    with pytest.raises(UserErrorException, match="not found"):
        Dataset.File.from_files(str(tmp_path / "missing"))
    with pytest.raises(UserErrorException, match="no files found"):
        Dataset.File.from_files(str(data / "*.parquet"))
    with pytest.raises(UserErrorException, match="letters, digits and underscores"):
        dataset.as_named_input("1 bad")


def test_transforms_and_client_download_and_mount(ws, tmp_path):
    data = make_files(tmp_path / "data", {f"f{i:02d}.txt": str(i) for i in range(20)})
    dataset = Dataset.File.from_files(str(data)).register(ws, "twenty")
    assert dataset.take(3).to_path() == ["/f00.txt", "/f01.txt", "/f02.txt"]
    assert dataset.skip(18).to_path() == ["/f18.txt", "/f19.txt"]
    left, right = dataset.random_split(0.5, seed=7)
    assert set(left.to_path()) | set(right.to_path()) == set(dataset.to_path())
    assert not set(left.to_path()) & set(right.to_path())
    assert left.to_path() == dataset.random_split(0.5, seed=7)[0].to_path()  # deterministic

    paths = dataset.take(2).download(target_path=tmp_path / "out")
    assert [Path(p).read_text() for p in paths] == ["0", "1"]
    Path(paths[0]).write_text("mine")  # a real copy: the cache and the source are untouched
    assert (data / "f00.txt").read_text() == "0"
    with pytest.raises(UserErrorException, match="already exist.*overwrite=True"):
        dataset.take(2).download(target_path=tmp_path / "out")
    assert Path(dataset.take(2).download(tmp_path / "out", overwrite=True)[0]).read_text() == "0"

    with dataset.mount() as context:
        mounted = Path(context.mount_point)
        assert (mounted / "f05.txt").read_text() == "5"
        assert (mounted / "f05.txt").is_symlink()  # a view of the pinned files, no copy
        assert not os.stat(mounted).st_mode & 0o222  # read-only folder
    assert not mounted.exists()


def test_run_mounts_and_downloads_a_registered_dataset(ws, src, tmp_path):
    from runyard.stores import tracking

    data = make_files(tmp_path / "data", {"a.txt": "alpha", "sub/b.txt": "beta"})
    dataset = Dataset.File.from_files(str(data)).register(ws, "letters")
    src.write("read.py", READER)
    config = ScriptRunConfig(str(src.path), "read.py", arguments=[
        "--data-folder", dataset.as_mount(),
        "--other", dataset.as_named_input("letters_copy").as_download(path_on_compute="copy")])
    run = Experiment(ws, "data").submit(config)
    run.wait_for_completion(raise_on_error=True)

    assert printed(run, "FILES") == ["a.txt", "sub/b.txt"]
    assert printed(run, "CONTENT") == {"a.txt": "alpha", "sub/b.txt": "beta"}
    inputs = printed(run, "INPUTS")
    assert set(inputs) == {"input_1", "letters_copy"} and printed(run, "OTHER") == inputs["letters_copy"]
    assert inputs["letters_copy"] == str(run._paths.workdir / "copy")  # relative to the job's folder
    details = run.get_details()["inputDatasets"]
    assert [(d["dataset"].name, d["dataset"].version, d["consumptionDetails"]["mechanism"])
            for d in details] == [("letters", 1, "Mount"), ("letters", 1, "Download")]
    used = json.loads((run._paths.inputs_log).read_text())
    assert {f["path"]: f["sha256"] for f in used[0]["files"]}.keys() == {"a.txt", "sub/b.txt"}
    mlflow_inputs = tracking.client(ws.tracking_uri).get_run(run._record["mlflow_run_id"]).inputs
    assert [d.dataset.name for d in mlflow_inputs.dataset_inputs] == ["letters:1"]  # one dataset
    assert "system_logs/input_datasets.json" in run.get_file_names()
    assert not Path(inputs["input_1"]).exists()  # views are removed with the run


def test_changed_source_fails_in_preparing_naming_the_file(ws, src, tmp_path):
    data = make_files(tmp_path / "data", {"a.txt": "alpha", "b.txt": "beta"})
    dataset = Dataset.File.from_files(str(data)).register(ws, "pinned")
    (data / "b.txt").write_text("BETA!")
    src.write("read.py", READER)
    run = Experiment(ws, "data").submit(ScriptRunConfig(str(src.path), "read.py",
                                                        arguments=["--data-folder", dataset.as_download()]))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    message = run.get_details()["error"]["error"]["message"]
    assert str(data / "b.txt") in message and "changed since the dataset version was registered" in message
    assert not run._paths.std_log.exists() or "FILES" not in run._paths.std_log.read_text()
    # touched but unchanged content is still the pinned file
    (data / "b.txt").write_text("beta")
    run = Experiment(ws, "data").submit(ScriptRunConfig(str(src.path), "read.py",
                                                        arguments=["--data-folder", dataset.as_download()]))
    run.wait_for_completion(raise_on_error=True)
    assert printed(run, "CONTENT")["b.txt"] == "beta"


def test_download_cache_is_shared_and_repairs_itself(ws, src, tmp_path):
    data = make_files(tmp_path / "data", {"a.txt": "alpha", "b.txt": "beta"})
    dataset = Dataset.File.from_files(str(data)).register(ws, "cached")
    src.write("write.py", """
        import sys, os
        print(open(os.path.join(sys.argv[1], "a.txt")).read())
        try:
            open(os.path.join(sys.argv[1], "a.txt"), "w").write("overwritten by the job")
        except PermissionError:
            print("read-only")
        """)
    for _ in range(2):
        run = Experiment(ws, "data").submit(ScriptRunConfig(str(src.path), "write.py",
                                                            arguments=[dataset.as_download()]))
        run.wait_for_completion(raise_on_error=True)
        assert run._paths.std_log.read_text().splitlines()[0] == "alpha"
    blobs = [p for p in (cache.root() / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 2
    assert not list((cache.root() / "tmp").iterdir())


# -- HTTP -----------------------------------------------------------------------------------
def test_seed_page_flow_over_http(ws, src, http_files):
    web_paths = [f"{http_files.url}/mnist/{name}" for name in (
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    dataset = Dataset.File.from_files(path=web_paths)
    dataset = dataset.register(workspace=ws, name="mnist-dataset",
                               description="training and test dataset", create_new_version=True)
    assert sorted(dataset.to_path()) == sorted("/" + p.rsplit("/", 1)[1] for p in web_paths)

    src.write("read.py", READER)
    args = ["--data-folder", dataset.as_mount(), "--other", 64]
    run = Experiment(ws, "data").submit(ScriptRunConfig(source_directory=str(src.path), script="read.py",
                                                        arguments=args))
    run.wait_for_completion(show_output=False, raise_on_error=True)
    assert printed(run, "CONTENT")["train-labels-idx1-ubyte.gz"] == "train labels"
    used = json.loads(run._paths.inputs_log.read_text())[0]["files"]
    assert all(len(f["sha256"]) == 64 for f in used)  # the hashes the run really used
    preparing = run._paths.preparing_log.read_text()
    assert "Input 'input_1'" in preparing

    # The server's file changes: the registered version is served from the cache unchanged,
    # and a cold cache refuses the new content.
    (http_files.root / "mnist/train-labels-idx1-ubyte.gz").write_text("new labels!")
    os.utime(http_files.root / "mnist/train-labels-idx1-ubyte.gz", (1e9, 1e9))
    run = Experiment(ws, "data").submit(ScriptRunConfig(str(src.path), "read.py", arguments=args))
    run.wait_for_completion(raise_on_error=True)
    assert printed(run, "CONTENT")["train-labels-idx1-ubyte.gz"] == "train labels"
    shutil.rmtree(cache.root())
    run = Experiment(ws, "data").submit(ScriptRunConfig(str(src.path), "read.py", arguments=args))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    assert "train-labels-idx1-ubyte.gz: changed" in run.get_details()["error"]["error"]["message"]


def test_http_errors_name_the_path_and_cause(ws, src, http_files):
    missing = f"{http_files.url}/mnist/nope.gz"
    with pytest.raises(UserErrorException, match=r"nope.gz: not found \(404\)"):
        Dataset.File.from_files(missing)
    closed = f"http://127.0.0.1:{_closed_port()}/x.gz"
    with pytest.raises(UserErrorException, match="cannot connect to 127.0.0.1"):
        Dataset.File.from_files(closed)
    # Not validated at creation: the run fails in Preparing, before the script starts.
    src.write("read.py", READER)
    run = Experiment(ws, "data").submit(ScriptRunConfig(
        str(src.path), "read.py", arguments=["--data-folder", Dataset.File.from_files(
            f"{http_files.url}/broken/mnist/train-images-idx3-ubyte.gz", validate=False).as_download()]))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    message = run.get_details()["error"]["error"]["message"]
    assert "broken/mnist/train-images-idx3-ubyte.gz" in message
    assert not any(p.is_file() for p in (cache.root() / "blobs").rglob("*"))
    assert not list((cache.root() / "tmp").iterdir())  # nothing partial left


def _closed_port() -> int:
    from data_servers import free_port

    return free_port()


# -- S3 and datastores ------------------------------------------------------------------------
def test_s3_datastore_upload_register_and_run(ws, src, tmp_path, moto):
    store = Datastore.register_s3_bucket(
        ws, "s3store", "runyard-data", prefix="team", endpoint_url=moto.endpoint_url,
        access_key_id=moto.key, secret_access_key=moto.secret, create_if_not_exists=True)
    assert Datastore.get(ws, "s3store").datastore_type == "S3" and "s3store" in ws.datastores
    local = make_files(tmp_path / "upload", {"train/x.bin": "x" * 1000, "train/y.bin": "y" * 10, "skip.md": "no"})
    uploaded = Dataset.File.upload_directory(str(local), (store, "digits"), pattern="train/*")
    assert sorted(uploaded.to_path()) == ["/x.bin", "/y.bin"]
    assert {o["Key"] for o in moto.client().list_objects_v2(Bucket="runyard-data")["Contents"]} == \
        {"team/digits/train/x.bin", "team/digits/train/y.bin"}
    with pytest.raises(UserErrorException, match="already has digits/train/x.bin.*overwrite=True"):
        Dataset.File.upload_directory(str(local), (store, "digits"), pattern="train/*")

    dataset = Dataset.File.from_files((store, "digits/**")).register(ws, "s3-digits")
    assert dataset.to_path() == ["/train/x.bin", "/train/y.bin"]
    src.write("read.py", READER)
    for _ in range(2):  # the second run finds the files in the cache
        run = Experiment(ws, "data").submit(ScriptRunConfig(
            str(src.path), "read.py", arguments=["--data-folder", dataset.as_download()]))
        run.wait_for_completion(raise_on_error=True)
        assert printed(run, "CONTENT")["train/x.bin"] == "x" * 1000
    assert "caching" not in run._paths.preparing_log.read_text()

    moto.client().put_object(Bucket="runyard-data", Key="team/digits/train/y.bin", Body=b"changed")
    shutil.rmtree(cache.root())
    run = Experiment(ws, "data").submit(ScriptRunConfig(
        str(src.path), "read.py", arguments=["--data-folder", dataset.as_download()]))
    run.wait_for_completion(raise_on_error=False)
    assert "team/digits/train/y.bin: changed" in run.get_details()["error"]["error"]["message"]


def test_s3_credentials_and_plain_urls(ws, src, moto, monkeypatch):
    moto.client().create_bucket(Bucket="plain-bucket")
    moto.client().put_object(Bucket="plain-bucket", Key="d/one.txt", Body=b"one")
    with pytest.raises(UserErrorException, match=r"s3://plain-bucket: access denied"):
        Datastore.register_s3_bucket(ws, "bad", "plain-bucket", endpoint_url=moto.endpoint_url,
                                     access_key_id="AKIAWRONG", secret_access_key="nope")
    bad = Datastore.register_s3_bucket(ws, "bad", "plain-bucket", endpoint_url=moto.endpoint_url,
                                       access_key_id="AKIAWRONG", secret_access_key="nope",
                                       skip_validation=True)
    with pytest.raises(UserErrorException, match=r"plain-bucket/d.*access denied"):
        Dataset.File.from_files((bad, "d/**"))

    for name, value in moto.environment().items():
        monkeypatch.setenv(name, value)
    dataset = Dataset.File.from_files("s3://plain-bucket/d/")
    assert dataset.to_path() == ["/one.txt"]
    src.write("read.py", READER)
    run = Experiment(ws, "data").submit(ScriptRunConfig(str(src.path), "read.py",
                                                        arguments=["--data-folder", dataset.as_mount()]))
    run.wait_for_completion(raise_on_error=True)
    # one file: the script gets the file's own path
    assert printed(run, "INPUTS")["input_1"].endswith("/one.txt")


def test_default_datastore_and_datapaths(ws, src, tmp_path):
    store = ws.get_default_datastore()
    assert store.name == "workspaceblobstore" and store.datastore_type == "LocalFolder"
    make_files(tmp_path / "up", {"mnist/a.gz": "a", "mnist/b.gz": "b"})
    with pytest.warns(DeprecationWarning):
        store.upload(str(tmp_path / "up"), target_path="raw", show_progress=False)
    assert store.download(str(tmp_path / "down"), prefix="raw/mnist", show_progress=False) == 2
    assert (tmp_path / "down/raw/mnist/a.gz").read_text() == "a"
    config = store.path("raw/mnist").as_mount()
    assert isinstance(config, DatasetConsumptionConfig) and config.mode == "mount"
    src.write("read.py", READER)
    run = Experiment(ws, "data").submit(ScriptRunConfig(str(src.path), "read.py",
                                                        arguments=["--data-folder", config]))
    run.wait_for_completion(raise_on_error=True)
    assert printed(run, "FILES") == ["a.gz", "b.gz"]
    other = Datastore.register_local_folder(ws, "shared", tmp_path / "shared", create_if_not_exists=True)
    other.set_as_default()
    assert ws.get_default_datastore().name == "shared"
    with pytest.raises(UserErrorException, match="No datastore 'nope'"):
        Datastore.get(ws, "nope")
    with pytest.raises(UserErrorException, match="S3-compatible bucket"):
        Datastore.register_azure_blob_container(ws, "blob", "container", "account")


def test_data_cli(ws, tmp_path):
    data = make_files(tmp_path / "data", {"a.txt": "a", "b/c.txt": "cc"})
    result = runyard_cli("data", "register", "cli-data", str(data), "--description", "from the CLI", check=True)
    assert "cli-data" in result.stdout and "version 1" in result.stdout
    listing = runyard_cli("data", "list", check=True).stdout
    assert "cli-data" in listing and "2 files" in listing
    shown = runyard_cli("data", "show", "cli-data:1", check=True).stdout
    assert "b/c.txt" in shown and "from the CLI" in shown
    runyard_cli("data", "download", "cli-data", str(tmp_path / "out"), check=True)
    assert (tmp_path / "out/b/c.txt").read_text() == "cc"
    missing = runyard_cli("data", "show", "nope")
    assert missing.returncode == 2 and "No dataset 'nope'" in missing.stderr


def test_one_large_file_shows_byte_progress_locally_and_from_s3(ws, tmp_path, moto):
    """Progress lines name bytes while a single file is still being copied (not only whole files)."""
    from runyard.data import filesystems
    from runyard.data.progress import Progress
    from runyard.data.transfer import copy_atomically
    from runyard.data.views import _download

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40 * 1024 * 1024))
    lines: list[str] = []
    progress = Progress("Downloading big", 1, big.stat().st_size, lines.append, every=0)
    copy_atomically(big, tmp_path / "copy.bin", progress)
    during = [line for line in lines if "0/1 files" in line]
    assert len(during) >= 2 and during[0] != during[-1]  # bytes went up within the one file
    assert lines[-1].startswith("Downloading big: 1/1 files, 41.9 MB/41.9 MB")
    assert (tmp_path / "copy.bin").read_bytes() == big.read_bytes()

    moto.client().create_bucket(Bucket="big-bucket")
    moto.client().put_object(Bucket="big-bucket", Key="big.bin", Body=big.read_bytes())
    entry = {"url": "s3://big-bucket/big.bin", "size": big.stat().st_size, "path": "big.bin"}
    lines.clear()
    progress = Progress("Caching big", 1, entry["size"], lines.append, every=0)
    fs = filesystems.filesystem(entry["url"], {"endpoint_url": moto.endpoint_url, "access_key_id": moto.key,
                                               "secret_access_key": moto.secret})
    _download(fs, [entry], progress)
    assert len([line for line in lines if "0/1 files" in line]) >= 2
    assert "1/1 files, 41.9 MB/41.9 MB" in lines[-1]
