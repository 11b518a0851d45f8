"""Writing files safely (atomic writes) and loading weights safely (sha256 checks, ``weights_only=True``)."""
import contextlib
import hashlib
import os
import secrets
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
    The new file keeps the old one's permissions, or gets the usual ones (0666 minus the umask)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes a whole new file: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 minus the umask, as open() gives
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
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
    except (OSError, MemoryError):
        raise
    except Exception as err:  # the safe unpickler fails in many ways on a file that is not a checkpoint
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path} is not a file course_lib wrote with torch.save, or not one it can load "
                         f"safely ({reason}); pass weights or a checkpoint that course_lib wrote") from err
