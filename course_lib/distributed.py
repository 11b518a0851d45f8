"""Training on more than one process or GPU: the process group that `torchrun` describes.

`torchrun --nproc_per_node N -m course_lib train ...` starts N copies of the command and gives each
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment. `process_group` reads
them, joins the group (gloo on CPU, nccl on CUDA) and leaves it at the end of its block. Without
torchrun, or with one process, it does nothing and training runs as it always did.
"""
import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the training processes; rank 0 of 1 without torchrun."""
    rank: int = 0
    size: int = 1
    backend: str | None = None

    @property
    def is_main(self):
        """Rank 0 writes the files and prints the progress."""
        return self.rank == 0


def launched_by_torchrun():
    """True when torchrun (or another launcher setting WORLD_SIZE) started more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def processes_on_this_machine():
    """How many training processes share this machine's memory (torchrun's LOCAL_WORLD_SIZE)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def local_device(device):
    """Under torchrun a CUDA device without an index becomes this process's GPU, cuda:LOCAL_RANK."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def backend_for(device):
    """nccl for CUDA tensors, gloo for CPU tensors."""
    device = torch.device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"training on several processes runs on cpu (gloo) or cuda (nccl), not {device.type}; "
                         "pass --device cpu or --device cuda")
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def process_group(device):
    """The World of this process. Under torchrun, joins the process group for the block (backend chosen by
    `device`) unless one is open already, in which case the block uses that one and leaves it open."""
    if dist.is_available() and dist.is_initialized():
        yield World(dist.get_rank(), dist.get_world_size(), dist.get_backend())
        return
    if not launched_by_torchrun():
        yield World()
        return
    if not dist.is_available():
        raise ValueError("this PyTorch build has no torch.distributed; run without torchrun")
    device = torch.device(device)
    backend = backend_for(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    try:
        yield World(dist.get_rank(), dist.get_world_size(), backend)
        # Leave together: a rank that tears gloo down while rank 0 still writes the weights can abort
        # ("terminate called without an active exception"). After an error the others may never come.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def sum_over_ranks(values, device):
    """The element-wise sum of a list of floats over all processes (one all-reduce); a list of floats."""
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def gather_from_ranks(tensor, world, device):
    """Every rank's copy of a same-sized CPU `tensor`, in rank order (on CPU)."""
    local = tensor.to(device)
    copies = [torch.empty_like(local) for _ in range(world.size)]
    dist.all_gather(copies, local)
    return [c.cpu() for c in copies]


def broadcast_buffers(module):
    """Give every rank rank 0's buffers (BatchNorm statistics), as DDP does before each forward pass."""
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)
