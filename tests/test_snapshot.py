import pytest

from runyard.errors import SnapshotException
from runyard.runs import snapshot


def _files(folder):
    return sorted(f.path for f in snapshot.collect(folder))


def test_gitignore_is_used_when_no_amlignore(tmp_path):
    (tmp_path / "train.py").write_text("print(1)")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "big.bin").write_bytes(b"x" * 10)
    (tmp_path / ".gitignore").write_text("data/\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    assert _files(tmp_path) == [".gitignore", "train.py"]


def test_amlignore_wins_over_gitignore(tmp_path):
    (tmp_path / "train.py").write_text("print(1)")
    (tmp_path / "notes.txt").write_text("n")
    (tmp_path / "data.csv").write_text("1,2")
    (tmp_path / ".gitignore").write_text("notes.txt\n")
    (tmp_path / ".amlignore").write_text("*.csv\n")
    assert _files(tmp_path) == [".amlignore", ".gitignore", "notes.txt", "train.py"]


def test_runyardignore_is_honoured(tmp_path):
    (tmp_path / "train.py").write_text("print(1)")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "x.py").write_text("")
    (tmp_path / ".runyardignore").write_text("venv/\n")
    assert _files(tmp_path) == [".runyardignore", "train.py"]


def test_too_many_files_names_the_biggest_entries(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshot, "MAX_FILES", 50)
    (tmp_path / "train.py").write_text("print(1)")
    (tmp_path / "images").mkdir()
    for i in range(60):
        (tmp_path / "images" / f"{i}.png").write_bytes(b"p" * 100)
    with pytest.raises(SnapshotException) as info:
        snapshot.collect(tmp_path)
    message = str(info.value)
    assert "61 files" in message and "50 files" in message
    assert "images/ (" in message and "60 files" in message
    assert ".amlignore" in message


def test_too_big_names_the_ignore_file_in_use(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshot, "MAX_BYTES", 1000)
    (tmp_path / "model.h5").write_bytes(b"m" * 5000)
    (tmp_path / ".gitignore").write_text("*.tmp\n")
    with pytest.raises(SnapshotException) as info:
        snapshot.collect(tmp_path)
    assert "model.h5" in str(info.value)
    assert str(tmp_path / ".gitignore") in str(info.value)


def test_content_addressed_and_stored_once(tmp_path):
    src, store = tmp_path / "src", tmp_path / "store"
    src.mkdir()
    (src / "a.py").write_text("same")
    (src / "b.py").write_text("same")
    first = snapshot.take(src, store)
    assert snapshot.take(src, store) == first
    assert len(list((store / "blobs").rglob("*"))) == 2  # one folder + one blob for both files
    (src / "b.py").write_text("changed")
    second = snapshot.take(src, store)
    assert second != first
    restored = tmp_path / "restored"
    snapshot.restore(store, first, restored)
    assert (restored / "b.py").read_text() == "same"
