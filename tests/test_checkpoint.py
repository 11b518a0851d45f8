"""Atomic writes: a failed write leaves the old file whole and no temporary file behind."""
import json
import os

import pytest
import torch

from course_lib.checkpoint import atomic_write, load_checked, save_atomic, sha256_of


def test_atomic_write_replaces_the_file_only_when_the_block_succeeds(tmp_path):
    path = tmp_path / "sub" / "report.json"
    with atomic_write(path, "w") as f:
        json.dump({"fid": 1.0}, f)
    assert json.loads(path.read_text()) == {"fid": 1.0}
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(path, "w") as f:
            f.write('{"fid": 2')
            raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"fid": 1.0}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_atomic_write_gives_readable_files_and_keeps_existing_permissions(tmp_path):
    new, old = tmp_path / "new.npy", tmp_path / "old.npy"
    old.write_bytes(b"old")
    old.chmod(0o640)
    for path in (new, old):
        with atomic_write(path) as f:
            f.write(b"data")
    umask = os.umask(0o022)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not private like mkstemp
    assert old.stat().st_mode & 0o777 == 0o640 and old.read_bytes() == b"data"


@pytest.mark.parametrize("mode", ["r", "a", "rb", "w+"])
def test_atomic_write_refuses_modes_that_do_not_write_a_whole_file(tmp_path, mode):
    path = tmp_path / "keep.txt"
    path.write_text("keep")
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'"):
        with atomic_write(path, mode):
            pass
    assert path.read_text() == "keep" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_save_atomic_round_trips_through_a_checked_load(tmp_path):
    path = tmp_path / "w.pt"
    save_atomic({"w": torch.arange(6.0).reshape(2, 3)}, path)
    loaded = load_checked(path, sha256=sha256_of(path))
    assert torch.equal(loaded["w"], torch.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="damaged or was replaced"):
        load_checked(path, sha256="0" * 64)
