"""Atomic writes: a failed write leaves the old file whole and no temporary file behind."""
import json

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


def test_save_atomic_round_trips_through_a_checked_load(tmp_path):
    path = tmp_path / "w.pt"
    save_atomic({"w": torch.arange(6.0).reshape(2, 3)}, path)
    loaded = load_checked(path, sha256=sha256_of(path))
    assert torch.equal(loaded["w"], torch.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="damaged or was replaced"):
        load_checked(path, sha256="0" * 64)
