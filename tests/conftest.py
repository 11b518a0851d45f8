import pytest
import torch
from torch import nn

from course_lib import NoiseSchedule


class FakeEps(nn.Module):
    """A deterministic stand-in for the U-Net: a smooth function of (x, t, c), batch-independent."""
    in_channels, height, n_cfeat = 3, 8, 5

    def forward(self, x, t, c=None):
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1, 1)  # (B, 1, 1, 1)
        shift = 0.0 if c is None else 0.1 * c.sum(1).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        return 0.3 * x * (1 - t) + 0.2 * torch.sin(3 * x) + shift


@pytest.fixture
def fake_model():
    return FakeEps()


@pytest.fixture(scope="session")
def sched():
    return NoiseSchedule()


@pytest.fixture
def x_T():
    return torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(123))
