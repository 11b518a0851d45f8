"""Our step functions and loops against diffusers' schedulers, which serve as the oracle."""
import pytest
import torch

from course_lib import ddim_step, ddpm_step, sample_ddim, sample_ddpm, sample_dpm_solver, sampling_timesteps

diffusers = pytest.importorskip("diffusers")


def _betas(sched):
    return sched.betas[1:].numpy()  # diffusers indexes steps 0..T-1: its step d is our step d + 1


def _diffusers_loop(scheduler, model, x_T, T, **step_kwargs):
    x = x_T.clone()
    for td in scheduler.timesteps:
        eps = model(x, (int(td) + 1) / T)
        x = scheduler.step(eps, td, x, **step_kwargs).prev_sample
    return x


def test_ddpm_step_matches_diffusers(sched, fake_model, x_T):
    oracle = diffusers.DDPMScheduler(num_train_timesteps=500, trained_betas=_betas(sched),
                                     variance_type="fixed_large", clip_sample=False)
    for t in (500, 250, 37, 2, 1):
        eps = fake_model(x_T, t / 500)
        expected = oracle.step(eps, t - 1, x_T, generator=torch.Generator().manual_seed(t)).prev_sample
        noise = torch.randn(x_T.shape, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(ddpm_step(sched, x_T, t, eps, noise), expected, atol=1e-5, rtol=1e-5)


def test_full_ddpm_loop_matches_diffusers(sched, fake_model, x_T):
    oracle = diffusers.DDPMScheduler(num_train_timesteps=500, trained_betas=_betas(sched),
                                     variance_type="fixed_large", clip_sample=False)
    oracle.set_timesteps(500)
    expected = _diffusers_loop(oracle, fake_model, x_T, 500, generator=torch.Generator().manual_seed(7))
    ours = sample_ddpm(fake_model, sched, n=2, x_T=x_T, generator=torch.Generator().manual_seed(7),
                       precision="fp32")
    torch.testing.assert_close(ours.images, expected, atol=1e-5, rtol=1e-5)


def _ddim_oracle(sched, steps):
    oracle = diffusers.DDIMScheduler(num_train_timesteps=500, trained_betas=_betas(sched), set_alpha_to_one=True,
                                     clip_sample=False, timestep_spacing="trailing")
    oracle.set_timesteps(steps)
    return oracle


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(sched, fake_model, x_T, eta):
    oracle = _ddim_oracle(sched, 25)
    for t, t_prev in ((500, 480), (100, 80), (20, 0)):
        eps = fake_model(x_T, t / 500)
        noise = torch.randn(x_T.shape, generator=torch.Generator().manual_seed(t))
        expected = oracle.step(eps, t - 1, x_T, eta=eta, variance_noise=noise).prev_sample
        torch.testing.assert_close(ddim_step(sched, x_T, t, t_prev, eps, eta=eta, noise=noise), expected,
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("steps", [10, 25])
def test_full_ddim_loop_matches_diffusers(sched, fake_model, x_T, steps):
    oracle = _ddim_oracle(sched, steps)
    assert [int(td) + 1 for td in oracle.timesteps] + [0] == sampling_timesteps(sched, steps)
    expected = _diffusers_loop(oracle, fake_model, x_T, 500, eta=0.0)
    ours = sample_ddim(fake_model, sched, n=2, steps=steps, x_T=x_T, precision="fp32")
    torch.testing.assert_close(ours.images, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 10, 20])
def test_dpm_solver_matches_diffusers(sched, fake_model, x_T, steps):
    oracle = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=500, trained_betas=_betas(sched),
                                                   algorithm_type="dpmsolver++", solver_order=2,
                                                   timestep_spacing="trailing")
    oracle.set_timesteps(steps)
    assert [int(td) + 1 for td in oracle.timesteps] + [0] == sampling_timesteps(sched, steps)
    expected = _diffusers_loop(oracle, fake_model, x_T, 500)
    ours = sample_dpm_solver(fake_model, sched, n=2, steps=steps, x_T=x_T, precision="fp32")
    torch.testing.assert_close(ours.images, expected, atol=1e-4, rtol=1e-4)
