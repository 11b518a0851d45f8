"""Prediction targets ε, x_0 and v: one conversion in the schedule, and every sampler takes any of them."""
import pytest
import torch
from torch import nn

from course_lib import ContextUnet, sample_ddim, sample_ddpm, sample_dpm_solver
from course_lib.pretrained import load_weights, save_weights
from course_lib.schedule import PREDICTION_TARGETS
from course_lib.training import diffusion_loss


@pytest.mark.parametrize("prediction", PREDICTION_TARGETS)
def test_eps_from_inverts_target_of(sched, prediction):
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(6, 3, 8, 8, generator=g) * 2 - 1, torch.randn(6, 3, 8, 8, generator=g)
    t = torch.tensor([1, 2, 50, 250, 499, 500])
    x_t = sched.add_noise(x0, t, noise)
    target = sched.target_of(prediction, x0, t, noise)
    assert torch.allclose(sched.eps_from(prediction, x_t, t, target), noise, atol=2e-3)


def test_v_is_the_velocity_of_salimans_and_ho(sched):
    x0, noise, t = torch.ones(1, 3, 4, 4), torch.full((1, 3, 4, 4), 2.0), torch.tensor([100])
    ab = sched.alpha_bars[100]
    expected = ab.sqrt() * 2.0 - (1 - ab).sqrt() * 1.0  # v = sqrt(ᾱ) ε − sqrt(1 − ᾱ) x_0
    assert torch.allclose(sched.target_of("v", x0, t, noise), expected.expand(1, 3, 4, 4))


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_guidance_commutes_with_eps_from(sched, prediction):
    """So guidance may combine outputs or ε's: (1 + w) ε(a) − w ε(b) = ε((1 + w) a − w b)."""
    g = torch.Generator().manual_seed(1)
    x_t, a, b = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(3))
    w, t = 2.5, 120
    combined = (1 + w) * sched.eps_from(prediction, x_t, t, a) - w * sched.eps_from(prediction, x_t, t, b)
    assert torch.allclose(combined, sched.eps_from(prediction, x_t, t, (1 + w) * a - w * b), atol=1e-4)


class Repredicted(nn.Module):
    """An ε network's answers given as x_0 or v: a model of another target that should sample the same."""

    def __init__(self, eps_model, sched, prediction):
        super().__init__()
        self.eps_model, self.sched, self.prediction = eps_model, sched, prediction
        self.in_channels, self.height, self.n_cfeat = eps_model.in_channels, eps_model.height, eps_model.n_cfeat

    def forward(self, x, t_frac, c=None):
        t = (torch.as_tensor(t_frac) * self.sched.timesteps).round().long().reshape(-1)
        eps = self.eps_model(x, t_frac, c)
        x0 = (x - (1 - self.sched.alpha_bars[t]).sqrt().view(-1, 1, 1, 1) * eps) / \
            self.sched.alpha_bars[t].sqrt().view(-1, 1, 1, 1)
        return self.sched.target_of(self.prediction, x0, t, eps)


@pytest.mark.parametrize("prediction", ["x0", "v"])
@pytest.mark.parametrize("sampler, kwargs", [(sample_ddpm, {"steps": 50}), (sample_ddim, {"steps": 20}),
                                             (sample_dpm_solver, {"steps": 10})])
def test_every_sampler_takes_a_model_of_any_target(sched, fake_model, x_T, prediction, sampler, kwargs):
    common = dict(n=2, x_T=x_T, context=torch.eye(5)[:2], guidance=1.5, precision="fp32", **kwargs)
    as_eps = sampler(fake_model, sched, generator=torch.Generator().manual_seed(5), **common).images
    other = sampler(Repredicted(fake_model, sched, prediction), sched,
                    generator=torch.Generator().manual_seed(5), **common).images
    assert torch.allclose(as_eps, other, atol=1e-3), (as_eps - other).abs().max()


def test_the_prediction_target_is_saved_with_the_weights(sched, tmp_path):
    model = ContextUnet(n_feat=8, prediction="x0")
    assert model.config["prediction"] == "x0"
    assert "prediction" not in ContextUnet(n_feat=8).config  # the course's model keeps its four fields
    save_weights(model, sched, tmp_path / "x0.pt")
    loaded, _ = load_weights(tmp_path / "x0.pt")
    assert loaded.prediction == "x0"


def test_an_unknown_prediction_target_is_refused():
    with pytest.raises(ValueError, match=r"prediction must be one of \('eps', 'x0', 'v'\).*got 'noise'"):
        ContextUnet(n_feat=8, prediction="noise")


@pytest.mark.parametrize("prediction", PREDICTION_TARGETS)
def test_diffusion_loss_regresses_on_the_models_target(sched, prediction):
    torch.manual_seed(0)
    model = ContextUnet(n_feat=8, prediction=prediction).eval()
    x0 = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    loss = diffusion_loss(model, sched, x0, None, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the same draws diffusion_loss makes, in its order
    t = torch.randint(1, sched.timesteps + 1, (4,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        out = model(sched.add_noise(x0, t, noise), t / sched.timesteps, None)
    expected = ((out - sched.target_of(prediction, x0, t, noise)) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_loss_curve_names_the_loss_of_the_target():
    import matplotlib.pyplot as plt
    from course_lib.viz import training_progress_figure
    fig = training_progress_figure([1.0, 0.5], [(1, torch.zeros(2, 3, 16, 16))], prediction="x0")
    assert fig.axes[0].get_ylabel() == r"MSE($x_0$, $\hat x_0$)"
    plt.close(fig)
