"""How much memory is left, and a refusal, before the work, of a size that would not fit in it."""
import os

GENERATED_SPRITE_BYTES = 6 * 1024  # peak memory per generated sprite while it is drawn and converted (5.5 KB)


def available_memory():
    """Bytes this process can still allocate: the smaller of the system's available memory (Linux's
    MemAvailable, elsewhere the free pages) and what an address-space limit (``ulimit -v``) leaves;
    None where neither is known."""
    limits = []
    meminfo = _proc_kib("/proc/meminfo", "MemAvailable:")
    if meminfo is None:
        try:
            meminfo = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            pass
    if meminfo is not None:
        limits.append(meminfo)
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        used = _proc_kib("/proc/self/status", "VmSize:")
        if soft != resource.RLIM_INFINITY and used is not None:
            limits.append(max(soft - used, 0))
    except ImportError:  # Windows
        pass
    return min(limits) if limits else None


def _proc_kib(path, key):
    """The value in bytes of a "key: N kB" line of a /proc file; None where there is none."""
    try:
        with open(path) as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))
    except (OSError, StopIteration, ValueError):
        return None


def check_fits_in_memory(need, what, fix):
    """ValueError, before the work, when `need` bytes for `what` exceed the memory available; `fix` says
    what to ask for instead."""
    have = available_memory()
    if have is not None and need > have:
        raise ValueError(f"{what} needs about {need / 2**30:,.1f} GiB of memory and {have / 2**30:,.1f} GiB is "
                         f"available: {fix}")
