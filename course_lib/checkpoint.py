"""Writing files safely (atomic writes) and loading weights safely (sha256 checks, ``weights_only=True``)."""
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import torch


def sha256_of(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """A file opened for writing ("wb" or "w") on a temporary name beside `path`, renamed to `path` when
    the block succeeds and deleted when it fails: `path` is either the old file or the whole new one.
    The new file keeps the old one's permissions, or gets rw-r--r-- (0644) if there was none."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes a whole new file: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    permissions = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, permissions)  # mkstemp makes the file private (0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(obj, path):
    """torch.save `obj` to `path` through atomic_write."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def load_checked(path, sha256=None, map_location="cpu"):
    """torch.load with weights_only=True, after checking the file's sha256 when one is given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}; train one with "
                                "`python -m course_lib train --out PATH` or check the path")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise ValueError(f"{path} has sha256 {actual}, expected {sha256}: the file is damaged or was "
                             "replaced; restore it with `git checkout -- data/weights` or retrain it")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # the safe unpickler fails in many ways on a file that is not a checkpoint
        raise ValueError(f"{path} is not a weights file course_lib can read ({type(err).__name__}); pass one "
                         "written by `python -m course_lib train --out PATH` or course_lib's save functions") from err
