import math

import pytest
import torch

from course_lib import NoiseSchedule


def test_course_defaults_and_conventions(sched):
    assert sched.timesteps == 500
    assert sched.betas.shape == sched.alphas.shape == sched.alpha_bars.shape == (501,)
    assert sched.alpha_bars[0] == 1 and sched.betas[0] == 0
    assert sched.betas[1].item() == pytest.approx(1e-4) and sched.betas[500].item() == pytest.approx(0.02)
    exact = math.prod(1 - (1e-4 + (0.02 - 1e-4) * i / 499) for i in range(500))
    assert sched.alpha_bars[500].item() == pytest.approx(exact, rel=1e-5)
    assert sched.alpha_bars[500].item() == pytest.approx(0.00640, abs=5e-5)  # x_T is nearly pure noise
    assert torch.all(sched.alpha_bars[1:] < sched.alpha_bars[:-1])


def test_add_noise_uses_square_roots(sched):
    x0, noise = torch.full((3, 3, 4, 4), 0.5), torch.full((3, 3, 4, 4), -1.0)
    t = torch.tensor([1, 250, 500])
    ab = sched.alpha_bars[t].view(3, 1, 1, 1)
    expected = ab.sqrt() * 0.5 - (1 - ab).sqrt()
    torch.testing.assert_close(sched.add_noise(x0, t, noise), expected.expand(3, 3, 4, 4))


def test_add_noise_has_the_forward_process_statistics(sched):
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1, 1), 0.8)
    x_t = sched.add_noise(x0, torch.full((20000,), 100), torch.randn(x0.shape, generator=g))
    ab = sched.alpha_bars[100].item()
    assert x_t.mean().item() == pytest.approx(math.sqrt(ab) * 0.8, abs=0.02)
    assert x_t.var().item() == pytest.approx(1 - ab, abs=0.02)


def test_cosine_schedule():
    cos = NoiseSchedule(kind="cosine")
    assert cos.alpha_bars[0] == 1 and cos.alpha_bars.shape == (501,)
    assert torch.all(cos.alpha_bars[1:] < cos.alpha_bars[:-1])
    assert cos.alpha_bars[250].item() == pytest.approx(math.cos((0.5 + 0.008) / 1.008 * math.pi / 2) ** 2
                                                       / math.cos(0.008 / 1.008 * math.pi / 2) ** 2, rel=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    ({"timesteps": 0}, "timesteps must be an integer from 1 to 100,000"),
    ({"timesteps": 10.5}, "timesteps must be an integer from 1 to 100,000"),
    ({"kind": "sigmoid"}, "kind must be one of"),
    ({"beta1": 0.1, "beta2": 0.01}, "beta1 <= beta2"),
])
def test_bad_schedule_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(**kwargs)


@pytest.mark.parametrize("t, match", [
    (torch.tensor([0]), "t must lie in 1..500, got values from 0"),
    (torch.tensor([501]), "to 501"),
    (torch.tensor([0.5]), "integer steps"),
])
def test_add_noise_rejects_bad_steps(sched, t, match):
    with pytest.raises(ValueError, match=match):
        sched.add_noise(torch.zeros(1, 3, 4, 4), t, torch.zeros(1, 3, 4, 4))


def test_add_noise_rejects_mismatched_noise(sched):
    with pytest.raises(ValueError, match=r"noise has shape \(1, 3, 4, 4\) but x0 has \(1, 3, 8, 8\)"):
        sched.add_noise(torch.zeros(1, 3, 8, 8), torch.tensor([3]), torch.zeros(1, 3, 4, 4))
