"""Writing files safely (atomic writes, locks) and loading weights safely (sha256 checks, ``weights_only=True``)."""
import contextlib
import errno
import glob
import hashlib
import io
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import torch

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

STALE_SECONDS = 10  # a temporary file this old, and not held by a running writer, is debris of a killed one


def sha256_of(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _try_lock(fd):
    """Take an exclusive lock on an open file without waiting (POSIX); False if a running process holds it.
    The lock goes with the process: a killed writer leaves its file unlocked."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_stale_temporaries(path):
    """Delete the temporary files that killed writers of `path` left beside it (".NAME.<12 hex>.tmp"),
    unless a running writer still holds one or it is younger than STALE_SECONDS. Returns their names."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{12}}\.tmp")
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if not pattern.fullmatch(tmp.name) or time.time() - tmp.stat().st_mtime < STALE_SECONDS:
                continue
            if fcntl is None:
                tmp.unlink()  # Windows refuses to delete a file that a running writer has open
            else:
                with open(tmp, "rb") as f:
                    if not _try_lock(f.fileno()):
                        continue
                    tmp.unlink()
        except OSError:  # gone meanwhile, or in use
            continue
        removed.append(tmp.name)
    return removed


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """A file opened for writing ("wb" or "w") on a temporary name beside `path`, renamed to `path` when
    the block succeeds and deleted when it fails: `path` is either the old file or the whole new one.
    The new file keeps the old one's permissions, or gets the usual ones (0666 minus the umask).
    Temporary files that killed writers of `path` left behind are deleted first."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes a whole new file: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 minus the umask, as open() gives
    except OSError as err:
        raise write_error(path, err) from None
    if fcntl is not None:
        _try_lock(fd)  # held until the file is closed: tells remove_stale_temporaries that its writer runs
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in _WRITE_FIXES:
            raise write_error(path, err) from None
        raise


_WRITE_FIXES = {
    errno.ENOSPC: "free some space on that disk or write to another one",
    getattr(errno, "EDQUOT", errno.ENOSPC): "free some space on that disk or write to another one",
    errno.EFBIG: "the file would pass this system's file-size limit (ulimit -f): raise it or write a smaller file",
    errno.EACCES: "write to a folder you may write to",
    errno.EPERM: "write to a folder you may write to",
    errno.EROFS: "write to a folder you may write to",
    errno.EEXIST: "a folder on that path is a file: write to another path",
    errno.ENOTDIR: "a folder on that path is a file: write to another path",
}


def write_error(path, err):
    """The ValueError a learner sees for an OSError met while writing `path`: what failed, the fix, and
    that nothing was written (atomic_write leaves the old file, or none)."""
    fix = _WRITE_FIXES.get(err.errno, "check the path, or write to another one")
    return ValueError(f"cannot write {path} ({err.strerror or err}): {fix}; nothing was written")


def room_for(path):
    """Bytes a new file at `path` may take: the smaller of the free space on its disk and the file-size
    limit (``ulimit -f``); None where neither is known."""
    folder = next((p for p in [Path(path).parent, *Path(path).parent.parents] if p.exists()), Path(os.curdir))
    limits = []
    with contextlib.suppress(OSError):
        limits.append(shutil.disk_usage(folder).free)
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except ImportError:  # Windows
        pass
    return min(limits) if limits else None


def check_room(path, nbytes, option, fix):
    """ValueError, before the work, when a file of `nbytes` cannot fit at `path` (disk or file-size limit);
    `fix` says what to ask for instead."""
    room = room_for(path)
    if room is not None and nbytes > room:
        raise ValueError(f"{option} {path} would be a file of {file_size(nbytes)}, but only {file_size(room)} can "
                         f"be written there (free disk or ulimit -f); {fix}")


def tensor_bytes(state):
    """Bytes the tensors of a state dict take: a lower bound on the size of a file holding them."""
    return sum(t.numel() * t.element_size() for t in state.values() if torch.is_tensor(t))


def file_size(nbytes):
    """Bytes as a person reads them: 7,808 bytes, 146.7 KB, 25.3 MB."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:,.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000


@contextlib.contextmanager
def folder_lock(folder, timeout=60.0):
    """Hold an exclusive lock on `folder` across processes for a read-modify-write of a file in it
    (manifest.json): flock on the folder itself on POSIX (a killed holder releases it), elsewhere a lock
    file made with O_EXCL (`_lock_file`)."""
    if fcntl is None:
        with _lock_file(folder, timeout):
            yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _lock_file(folder, timeout=60.0):
    """The lock where flock is missing (Windows): ".course_lib.lock" in `folder`, created with O_EXCL and
    deleted on release; a lock file older than `timeout` seconds was left by a killed holder and is taken over."""
    lock = Path(folder) / ".course_lib.lock"
    waited_until = time.monotonic() + timeout
    while True:
        try:
            os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime > timeout:
                    lock.unlink()
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > waited_until:
                raise TimeoutError(f"{lock} has been held for {timeout:g} s; if no course_lib command is "
                                   "running, delete it") from None
            time.sleep(0.01)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def save_atomic(obj, path):
    """torch.save `obj` to `path` through atomic_write. The bytes are made in memory first: torch.save
    turns an OSError of the file it writes into a RuntimeError, which would hide a full disk."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())


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
                             "replaced; restore the original (the shipped weights: `git checkout -- data/weights`) "
                             "or retrain it")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, MemoryError):
        raise
    except Exception as err:  # the safe unpickler fails in many ways on a file that is not a checkpoint
        reason = _refusal_reason(err)
        raise ValueError(f"{path} is not a file course_lib wrote with torch.save, or not one it can load "
                         f"safely ({reason}); pass weights or a checkpoint that course_lib wrote") from err


def _refusal_reason(err):
    """Why torch.load refused a file, without torch's advice to load it unsafely (weights_only=False) or
    to allow-list the classes it holds."""
    text = str(err).strip()
    if "WeightsUnpickler error:" in text:  # torch's advice comes first; its reason follows this marker
        text = text.split("WeightsUnpickler error:", 1)[1].split(" Please use", 1)[0].strip()
    reason = (text.splitlines() or [type(err).__name__])[0]
    return "it holds objects other than tensors and plain containers" if "weights_only" in reason else reason


def check_writable_file(path, option, suffixes=None):
    """ValueError, before any work, unless `path` can be written as a file: named, not a folder, ending in
    one of `suffixes` (None: any), in a folder that exists or can be made and that takes a new file.
    Returns a Path."""
    example = "run" + (suffixes[0] if suffixes else ".ckpt")
    if not str(path).strip():
        raise ValueError(f"{option} is empty; name the file to write, e.g. {option} out/{example}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder; name a file in it, e.g. {option} {path / example}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{option} {path} should end in {' or '.join(suffixes)}, for what it writes")
    folder = path.parent
    while not folder.exists():  # the nearest folder that exists must let the missing ones be made
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: {folder} is a file, not a folder")
    probe = folder / f".{path.name}.{secrets.token_hex(6)}.probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as err:
        raise ValueError(f"{option} {path} cannot be written ({err.strerror} in {folder}); "
                         "choose a folder you can write to") from None
    return path


def check_outputs_spare_inputs(outputs, inputs):
    """ValueError, before any work, if an output would replace an input or another output: `outputs` and
    `inputs` map option names to paths (None: not given); paths are compared resolved (links, ./a and a)."""
    seen = {}
    for option, path in [*inputs.items(), *outputs.items()]:
        if path is None or not str(path).strip():
            continue
        key = Path(path).resolve()
        if key in seen and option in outputs:
            other = seen[key]
            what = "an input" if other in inputs else "another output"
            raise ValueError(f"{option} {path} is the same file as {other} ({what}), which it would overwrite; "
                             f"write {option} to another file")
        seen.setdefault(key, option)


@contextlib.contextmanager
def sole_writer(path):
    """Hold the writer's lock of `path` (flock on ".NAME.lock" beside it) while the block runs, so that two
    runs never write one checkpoint; ValueError naming the holder's process id when another process holds
    it. The lock file goes when the block ends (a killed holder releases the lock and leaves the file, which
    the next run takes). Where flock is missing (Windows) it locks nothing."""
    if fcntl is None:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_lock(fd):
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ValueError(f"another run (process {holder}) is writing {path}; wait for it to end, stop it, "
                             "or give this run another --checkpoint")
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)  # while still held, so that no other run holds this file meanwhile
    finally:
        os.close(fd)  # releases the lock
