"""The fast path: which numeric precision the network runs in, and the context that applies it.

The model code stays plain fp32; samplers enter `inference_context` and the trainer `autocast`, which
turn on bf16 autocast (and channels_last memory) where the hardware makes it fast: CPUs with
AVX512-BF16 or AMX, and CUDA GPUs (bf16, or fp16 where bf16 is missing).
For sampling, the fast path also runs an inference copy of the network with each BatchNorm folded
into the conv before it. Elsewhere "auto" means fp32; on a CPU sampling still runs that folded
channels_last copy (the same function to about 1e-5; 1.15x to 1.6x faster for 32 to 128 sprites on a
2-core AVX2 CPU, docs/results.md), and the trainer keeps its weights channels_last, faster there too.
precision="fp32", asked for by name, is the course's way: the plain model, eager. Schedule arithmetic
never runs in reduced precision.

Threads: a small call (a widget's 8 sprites of 16x16) gains little from several CPU threads, and on a
busy CPU it loses a lot, since each of the network's many small operations waits for the slowest
thread. So sampling calls of at most SMALL_CALL_SPRITES sprites run on one thread, larger ones on
torch's count. `set_threads(n)`, or the environment variable COURSE_THREADS=n, fixes the count for
every sampling call instead (`python -m course_lib bench --latency` measures both choices).
"""
import contextlib
import copy
import os

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
SMALL_CALL_SPRITES = 32  # sprites of 16x16 per call (pixels scale it for other sizes); measured in the README
THREADS_ENV = "COURSE_THREADS"
_threads = None  # set_threads(n): the count for every sampling call; None: the library's choice


def cpu_has_fast_bf16():
    """True on CPUs whose matrix units run bf16 natively (AMX tiles or AVX512-BF16)."""
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def add_hardware_arguments(parser):
    """The --precision and --device options every command that runs the network shares."""
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto: the fastest path here (bf16 where the hardware has it; on a CPU, sampling with "
                             "BatchNorm folded even in fp32); fp32: the course's way, the plain model")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    return parser


def _mps_available():
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(name="auto"):
    """"auto": cuda, then mps, then cpu. A named device ("cpu", "cuda", "cuda:1", "mps") is checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in available:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    if not available[device.type]:
        raise ValueError(f"device {name!r} is not available with this PyTorch on this machine; use cpu or auto")
    return device


def resolve_precision(precision, device):
    """Turn "auto" into the fastest precision that keeps quality on `device`; check the others."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("fp16 is for GPUs: PyTorch has no fast fp16 path on most CPUs (sampling ran 8x slower "
                         "than fp32 on the 2-core test machine); use bf16, fp32 or auto")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def autocast(device, precision):
    """Autocast to the (resolved) precision on `device`; a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_DTYPES[precision])


def prepare_input(x, precision):
    """Images in the memory layout the fast path wants (channels_last); unchanged in fp32."""
    return x if precision == "fp32" else x.contiguous(memory_format=torch.channels_last)


def fold_batchnorm(model):
    """An eval-mode copy of `model` with every Conv2d -> BatchNorm2d pair in a Sequential fused into one
    conv (w' = w·γ/σ, b' = (b − μ)·γ/σ + β): the same function, fewer passes over memory."""
    model = copy.deepcopy(model).eval()
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            for i in range(len(seq) - 1):
                if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                    seq[i], seq[i + 1] = fuse_conv_bn_eval(seq[i], seq[i + 1]), nn.Identity()
    return model


def set_threads(n=None):
    """Run every sampling call on `n` CPU threads; None goes back to the library's choice (one thread for
    small calls, torch's count for large ones) or to COURSE_THREADS where that is set."""
    global _threads
    _threads = None if n is None else _check_threads(n, "set_threads(n)")


def _check_threads(n, where):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{where} must be a positive whole number of CPU threads (or unset for the "
                         f"library's choice), got {n!r}")
    return n


def threads_for(sprites, height=16):
    """How many CPU threads a sampling call of `sprites` sprites of height x height runs on: set_threads's
    count, else COURSE_THREADS's, else 1 for a small call and torch's own count for a large one."""
    if _threads is not None:
        return _threads
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        return _check_threads(int(env) if env.isdigit() else env, f"the environment variable {THREADS_ENV}")
    small = sprites * height * height <= SMALL_CALL_SPRITES * 16 * 16
    return 1 if small else torch.get_num_threads()


@contextlib.contextmanager
def cpu_threads(sprites, height, device):
    """Inside the block, CPU work runs on `threads_for(sprites, height)` threads; torch's count is
    restored after it. No change on a GPU."""
    previous = torch.get_num_threads()
    wanted = threads_for(sprites, height) if torch.device(device).type == "cpu" else previous
    if wanted == previous:
        yield
        return
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def eval_mode(model):
    """`model` in eval mode inside the block, back in the mode it had after it (even on error)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def inference_context(model, device, precision="auto", sprites=None, gradients=False):
    """inference_mode, and on the fast path autocast with a folded channels_last copy of the model (that
    copy in fp32 too where "auto" resolves to fp32 on a CPU; the plain model where fp32 is asked for);
    with `sprites` (the batch the network will get), the CPU thread count `cpu_threads` chooses.
    ``gradients=True`` takes no_grad instead of inference_mode, so that a block inside may turn gradients
    back on (torch.enable_grad) and differentiate through the network.

    Yields (network to call, resolved precision)."""
    resolved = resolve_precision(precision, device)
    folded = resolved != "fp32" or (precision == "auto" and torch.device(device).type == "cpu")
    threads = contextlib.nullcontext() if sprites is None else cpu_threads(sprites, model.height, device)
    with threads:
        net = fold_batchnorm(model).to(memory_format=torch.channels_last) if folded else model
        with torch.no_grad() if gradients else torch.inference_mode(), autocast(device, resolved):
            yield net, resolved
