import math
import os

import numpy as np

from runyard.runs.records import RecordReader, RecordWriter


def test_scalars_round_trip_with_auto_steps(tmp_path):
    writer = RecordWriter(tmp_path)
    writer.scalar("acc", 0.5)
    writer.scalar("acc", 0.75)
    writer.scalar("loss", np.float32(1.5))
    writer.scalar("nan", float("nan"))
    writer.scalar("note", "hello")
    writer.scalar("explicit", 3, step=10)
    records = RecordReader(tmp_path).read_new()
    by_name = {}
    for r in records:
        by_name.setdefault(r["n"], []).append((r["v"], r["s"]))
    assert by_name["acc"] == [(0.5, 0), (0.75, 1)]
    assert by_name["loss"] == [(1.5, 0)]
    assert math.isnan(by_name["nan"][0][0])
    assert by_name["note"] == [("hello", 0)]
    assert by_name["explicit"] == [(3, 10)]


def test_reader_returns_only_complete_new_lines(tmp_path):
    reader = RecordReader(tmp_path)
    path = tmp_path / "1.jsonl"
    path.write_text('{"k":"m","n":"a","v":1,"s":0,"t":1}\n{"k":"m","n":"a"')
    assert [r["v"] for r in reader.read_new()] == [1]
    reader.commit()
    assert reader.read_new() == []
    with open(path, "a") as fh:
        fh.write(',"v":2,"s":1,"t":2}\n')
    assert [r["v"] for r in reader.read_new()] == [2]


def test_a_read_that_was_not_applied_is_read_again_and_another_process_goes_on(tmp_path):
    state = tmp_path / ".ingested.json"
    reader = RecordReader(tmp_path, state)
    path = tmp_path / "1.jsonl"
    path.write_text('{"k":"m","n":"a","v":1,"s":0,"t":1}\n')
    assert [r["v"] for r in reader.read_new()] == [1]  # applying it failed: no commit
    assert [r["v"] for r in reader.read_new()] == [1]
    reader.commit()
    with open(path, "a") as fh:
        fh.write('{"k":"m","n":"a","v":2,"s":1,"t":2}\n')
    # The supervisor died here; whoever finishes the run goes on from the last commit.
    assert [r["v"] for r in RecordReader(tmp_path, state).read_new()] == [2]


def test_forked_child_writes_its_own_file(tmp_path):
    writer = RecordWriter(tmp_path)
    writer.scalar("parent", 1)
    pid = os.fork()
    if pid == 0:
        writer.scalar("child", 2)
        os._exit(0)
    os.waitpid(pid, 0)
    assert len(list(tmp_path.glob("*.jsonl"))) == 2
    assert sorted(r["n"] for r in RecordReader(tmp_path).read_new()) == ["child", "parent"]


def test_bad_value_is_a_clear_error(tmp_path):
    import pytest

    from runyard.errors import UserErrorException

    with pytest.raises(UserErrorException, match="log_list"):
        RecordWriter(tmp_path).scalar("x", {"a": 1})
