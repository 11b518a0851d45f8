"""Timestep lists, fixed values of full seeded loops, determinism, guidance, frames, bad input."""
import pytest
import torch

from course_lib import ContextUnet, sample_ddim, sample_ddpm, sample_dpm_solver, sampling_timesteps
from course_lib.samplers import check_conditions, guided_eps, sampler_options

SAMPLERS = [sample_ddpm, sample_ddim, sample_dpm_solver]


def test_timestep_lists(sched):
    assert sampling_timesteps(sched, 1) == [500, 0]
    assert sampling_timesteps(sched, 7) == [500, 429, 357, 286, 214, 143, 71, 0]
    thirty = sampling_timesteps(sched, 30)
    assert thirty[:6] == [500, 483, 467, 450, 433, 417]
    assert thirty == [round(500 * (30 - i) / 30) for i in range(30)] + [0]
    assert thirty[-3:] == [33, 17, 0]
    assert sampling_timesteps(sched, 500) == list(range(500, -1, -1))
    for steps in range(1, 501):
        ts = sampling_timesteps(sched, steps)
        assert len(ts) == steps + 1 and len(set(ts)) == steps + 1 and ts[0] == 500 and ts[-1] == 0
        assert all(a > b for a, b in zip(ts, ts[1:]))


# Fixed values: full seeded loops with the deterministic fake model (regression guards; the
# formulas themselves are checked against diffusers in test_samplers_oracle.py).
@pytest.mark.parametrize("sampler, kwargs, total, mean", [
    (sample_ddpm, {}, -1042.3333, -2.7144096),
    (sample_ddim, {"steps": 25, "eta": 0.5}, -759.5072, -1.9778833),
    (sample_dpm_solver, {"steps": 10}, -693.4705, -1.8059129),
])
def test_fixed_values_of_seeded_loops(sched, fake_model, sampler, kwargs, total, mean):
    images = sampler(fake_model, sched, n=2, generator=torch.Generator().manual_seed(2024), precision="fp32",
                     context=torch.eye(5)[:2], guidance=1.5, **kwargs).images
    # 1e-5 relative: float rounding differs between CPUs (AVX2 or AVX512 kernels) and adds up over
    # DDPM's 500 steps (2e-6 seen); a changed formula moves these sums by far more
    assert images.sum().item() == pytest.approx(total, rel=1e-5)
    assert images.mean().item() == pytest.approx(mean, rel=1e-5)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return ContextUnet(n_feat=16, height=8)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_same_sprites_bit_identical(small_model, sched, sampler):
    kwargs = dict(n=3, steps=20, context=torch.eye(5)[1], guidance=2.0)
    a = sampler(small_model, sched, generator=torch.Generator().manual_seed(5), **kwargs).images
    b = sampler(small_model, sched, generator=torch.Generator().manual_seed(5), **kwargs).images
    c = sampler(small_model, sched, generator=torch.Generator().manual_seed(6), **kwargs).images
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_ddim_eta0_is_deterministic_given_x_T(small_model, sched):
    x_T = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    a = sample_ddim(small_model, sched, n=2, steps=10, x_T=x_T, generator=torch.Generator().manual_seed(1))
    b = sample_ddim(small_model, sched, n=2, steps=10, x_T=x_T, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.images, b.images)


def test_guidance_combines_conditional_and_null_predictions(fake_model):
    x, t, c = torch.randn(2, 3, 8, 8), torch.full((2,), 0.3), torch.eye(5)[:2]
    expected = 3.0 * fake_model(x, t, c) - 2.0 * fake_model(x, t, torch.zeros(2, 5))
    torch.testing.assert_close(guided_eps(fake_model, x, t, c, 2.0), expected)
    torch.testing.assert_close(guided_eps(fake_model, x, t, c, 0.0), fake_model(x, t, c))


def test_composed_guidance_weighs_each_condition_by_its_share(fake_model):
    x, t = torch.randn(2, 3, 8, 8), torch.full((2,), 0.3)
    conditions = torch.stack([torch.eye(5)[[0, 1]], torch.eye(5)[[2, 3]]])  # (n=2, C=2, 5)
    shares = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    eps = [fake_model(x, t, conditions[:, i]) for i in range(2)]
    mixed = shares[:, :1, None, None] * eps[0] + shares[:, 1:, None, None] * eps[1]  # Σ_i a_i ε(x, c_i)
    expected = 3.0 * mixed - 2.0 * fake_model(x, t, torch.zeros(2, 5))
    torch.testing.assert_close(guided_eps(fake_model, x, t, conditions, 2.0, shares), expected)
    torch.testing.assert_close(guided_eps(fake_model, x, t, conditions, 0.0, shares), mixed)
    one = guided_eps(fake_model, x, t, conditions[:, :1], 2.0, torch.ones(2, 1))
    torch.testing.assert_close(one, guided_eps(fake_model, x, t, conditions[:, 0], 2.0))


def test_composed_sampling_of_one_condition_twice_is_plain_sampling(small_model, sched):
    c = torch.eye(5)[2]
    kwargs = dict(n=2, steps=10, guidance=2.0, precision="fp32")
    plain = sample_ddim(small_model, sched, context=c, generator=torch.Generator().manual_seed(3), **kwargs).images
    twice = sample_ddim(small_model, sched, context=torch.stack([c, c]), context_shares=torch.tensor([0.4, 0.6]),
                        generator=torch.Generator().manual_seed(3), **kwargs).images
    torch.testing.assert_close(twice, plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("context, shares, message", [
    (torch.eye(5)[:2], torch.tensor([0.5, 0.6]), r"sum to 1 over each sprite's conditions, got sums from 1.1 to 1.1"),
    (torch.eye(6)[:2], torch.tensor([0.5, 0.5]), r"need a context \(n, C, 5\) or \(C, 5\)"),
    (torch.eye(5)[:2], torch.tensor([1.5, -0.5]), "must be finite and >= 0, got a minimum of -0.5"),
    (torch.eye(5)[:2], torch.ones(3) / 3, r"got context \(3, 2, 5\) and shares \(3, 3\)"),
    (-torch.eye(5)[:2], torch.tensor([0.5, 0.5]), r"context weights must lie in \[0, 10\]"),
    (None, torch.tensor([0.5, 0.5]), r"give the context \(n, C, k\) they belong to"),
])
def test_composed_conditions_refuse_bad_shares(context, shares, message):
    with pytest.raises(ValueError, match=message):
        check_conditions(context, shares, 3, 5)


def test_record_every_keeps_frames_and_predicted_x0(fake_model, sched):
    res = sample_ddim(fake_model, sched, n=2, steps=10, record_every=3, precision="fp32",
                      generator=torch.Generator().manual_seed(0))
    assert res.frame_steps == [500, 350, 200, 50, 0]
    assert res.frames.shape == res.x0_frames.shape == (5, 2, 3, 8, 8)
    assert torch.equal(res.frames[-1], res.images) and res.timesteps == sampling_timesteps(sched, 10)
    assert res.x0_frames[:-1].abs().max() <= 1 and torch.equal(res.x0_frames[-1], res.images)


def test_sampling_without_added_noise_differs(fake_model, sched):
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with_noise = sample_ddpm(fake_model, sched, n=2, generator=g(), precision="fp32").images
    without = sample_ddpm(fake_model, sched, n=2, generator=g(), precision="fp32", add_noise=False).images
    assert not torch.allclose(with_noise, without)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps must be from 1 to 500.*got 0"),
    ({"steps": 501}, "steps must be from 1 to 500.*got 501"),
    ({"steps": 2.5}, "steps must be an integer from 1 to 500, got 2.5"),
    ({"eta": 1.5}, r"eta must be a number in \[0, 1\].*got 1.5"),
    ({"eta": -0.1}, r"eta must be a number in \[0, 1\]"),
    ({"guidance": -1.0}, "guidance must be a number from 0 to 20.*got -1.0"),
    ({"context": torch.zeros(2, 3)}, r"context must have shape \(B, 5\)"),
    ({"context": torch.tensor([1.0, 0, 0, -1, 0])}, r"context weights must lie in \[0, 10\], got -1"),
    ({"context": torch.tensor([float("nan"), 0, 0, 0, 0])}, "NaN"),
    ({"x_T": torch.zeros(2, 3, 4, 4)}, r"x_T must have shape \(2, 3, 8, 8\)"),
    ({"record_every": -1}, "record_every must be an integer >= 0"),
    ({"n": 0}, "n must be a positive integer number of sprites, got 0"),
    ({"n": -3}, "n must be a positive integer number of sprites, got -3"),
])
def test_bad_sampler_arguments(fake_model, sched, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_ddim(fake_model, sched, **{"n": 2, "steps": 10, **kwargs})


def test_callback_sees_every_step(fake_model, sched):
    seen = []
    res = sample_ddim(fake_model, sched, n=2, steps=4, precision="fp32", generator=torch.Generator().manual_seed(0),
                      callback=lambda step: seen.append((step["i"], step["t"], step["x"].clone(), step["x0_hat"])))
    assert [(i, t) for i, t, _, _ in seen] == [(0, 375), (1, 250), (2, 125), (3, 0)]
    assert torch.equal(seen[-1][2], res.images) and all(x0.abs().max() <= 1 for *_, x0 in seen)


def test_sampler_options_give_eta_to_ddim_alone():
    assert sampler_options("ddim", 25, 1.0) == {"steps": 25, "eta": 1.0}
    assert sampler_options("ddpm", 25) == {"steps": 25}
    with pytest.raises(ValueError, match="eta applies to ddim only; got eta=0.5 with sampler 'ddpm'"):
        sampler_options("ddpm", 25, 0.5)
