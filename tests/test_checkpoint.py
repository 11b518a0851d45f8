"""Atomic writes: a failed or killed write leaves the old file whole and, by the next write, no temporary
file behind; manifest updates from several processes keep every entry; refusals give no unsafe advice."""
import argparse
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from course_lib.checkpoint import (STALE_SECONDS, _lock_file, atomic_write, load_checked, remove_stale_temporaries,
                                   save_atomic, sha256_of)
from course_lib.pretrained import record_in_manifest


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


def _write_and_get_killed(target):
    with atomic_write(target) as f:
        f.write(b"half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def _write_slowly(target, started):
    with atomic_write(target):
        started.set()
        time.sleep(60)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and flock are POSIX")
def test_the_next_write_removes_the_temporary_file_a_killed_writer_left(tmp_path):
    target = tmp_path / "model.ckpt"
    assert _run_at_once(_write_and_get_killed, [(target,)]) == [-signal.SIGKILL]
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".model.ckpt.") and left.name.endswith(".tmp")
    other = tmp_path / ".other.ckpt.0123456789ab.tmp"  # another target's temporary file stays
    other.write_bytes(b"x")
    old = time.time() - 2 * STALE_SECONDS
    for path in (left, other):
        os.utime(path, (old, old))
    with atomic_write(target) as f:
        f.write(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "model.ckpt"]
    assert target.read_bytes() == b"whole"


@pytest.mark.skipif(os.name != "posix", reason="the running writer's lock is POSIX flock")
def test_a_running_writers_temporary_file_is_kept(tmp_path):
    target = tmp_path / "model.ckpt"
    context = _context()
    started = context.Event()
    writer = context.Process(target=_write_slowly, args=(target, started))
    writer.start()
    try:
        assert started.wait(60)
        (tmp,) = tmp_path.iterdir()
        old = time.time() - 2 * STALE_SECONDS
        os.utime(tmp, (old, old))
        assert remove_stale_temporaries(target) == [] and tmp.exists()
    finally:
        writer.kill()
        writer.join()
    assert remove_stale_temporaries(target) == [tmp.name] and not tmp.exists()


def _record_entries(folder, writer, count):
    for i in range(count):
        record_in_manifest(f"{folder}/w{writer}_{i}.pt", f"{i:064x}", {"writer": writer})


def _count_under_lock_file(folder, count):
    counter = Path(folder) / "counter"
    for _ in range(count):
        with _lock_file(folder):
            counter.write_text(str(int(counter.read_text()) + 1))


def _context():
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)


def _run_at_once(target, args_per_process):
    """Run target(*args) in one process per args, all at once (forked where possible: no re-import)."""
    procs = [_context().Process(target=target, args=args) for args in args_per_process]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return [proc.exitcode for proc in procs]


def test_processes_recording_into_one_manifest_at_once_keep_every_entry(tmp_path):
    writers, each = 4, 50
    assert _run_at_once(_record_entries, [(tmp_path, w, each) for w in range(writers)]) == [0] * writers
    entries = json.loads((tmp_path / "manifest.json").read_text())
    assert len(entries) == writers * each
    assert entries["w3_49.pt"] == {"sha256": f"{49:064x}", "writer": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no lock or temporary file left


def test_the_lock_file_used_without_flock_serialises_processes(tmp_path):
    (tmp_path / "counter").write_text("0")
    assert _run_at_once(_count_under_lock_file, [(tmp_path, 100)] * 4) == [0] * 4
    assert (tmp_path / "counter").read_text() == "400"
    assert [p.name for p in tmp_path.iterdir()] == ["counter"]


def test_a_refused_file_is_not_met_with_advice_to_load_it_unsafely(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"config": argparse.Namespace(lr=1.0)}, path)  # an arbitrary class: the safe loader refuses it
    with pytest.raises(ValueError) as refused:
        load_checked(path)
    message = str(refused.value)
    assert "not a file course_lib wrote with torch.save" in message and "argparse.Namespace" in message
    assert "weights_only" not in message and "allowlist" not in message and "trust" not in message
