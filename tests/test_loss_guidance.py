"""Guidance by a loss (course_lib/loss_guidance.py): the colour loss, the steered ε against its formula, and
the shipped model's sprites moving toward the asked colour under every sampler."""
import math

import pytest
import torch

from course_lib.loss_guidance import (MAX_STRENGTH, colour_distance, colour_loss, figure_mean_colour, loss_steer,
                                      parse_colour)
from course_lib.pretrained import load_pretrained
from course_lib.samplers import SAMPLERS, sample_ddim
from course_lib.schedule import NoiseSchedule

BLUE = "#2060e0"


@pytest.fixture(scope="module")
def shipped():
    return load_pretrained()


def test_colours_are_read_as_hex_or_rgb_and_mapped_to_the_models_range():
    assert parse_colour("#ff0000").tolist() == [1.0, -1.0, -1.0]
    assert torch.allclose(parse_colour((255, 127.5, 0)), torch.tensor([1.0, 0.0, -1.0]))
    for bad in ("red", "#12345", "#gg0000", (0, 0), (0, 0, 300), (float("nan"), 0, 0)):
        with pytest.raises(ValueError, match="a colour is '#rrggbb'"):
            parse_colour(bad)


def test_the_figure_mean_colour_ignores_the_white_background():
    images = torch.ones(2, 3, 16, 16)  # white
    images[0, :, 4:8, 4:8] = torch.tensor([0.6, -0.8, -0.8]).view(3, 1, 1)  # a red square on white
    images[1, :, :, :8] = -1.0  # half black
    means = figure_mean_colour(images)
    assert torch.allclose(means[0], torch.tensor([0.6, -0.8, -0.8]), atol=1e-3)
    assert torch.allclose(means[1], torch.full((3,), -1.0), atol=1e-3)
    assert torch.allclose(colour_loss("#ff0000")(images[:1]), torch.tensor([0.4 ** 2 + 2 * 0.2 ** 2]), atol=1e-3)


def test_the_steered_eps_is_eps_plus_strength_times_the_gradient_through_x0_hat():
    """With a network whose ε is 0, x̂_0 = x_t / sqrt(ᾱ_t), so ∇_{x_t} L = ∇_{x̂_0} L / sqrt(ᾱ_t), and the
    colour loss's gradient is 2 (m − c) w_p / Σ w on every figure pixel p: the formula, worked by hand."""
    sched = NoiseSchedule(timesteps=500)
    t, s = 100, 7.0
    ab = float(sched.alpha_bars[t])
    x0 = torch.ones(1, 3, 16, 16)
    x0[0, :, 2:10, 3:9] = torch.tensor([-0.5, 0.2, 0.8]).view(3, 1, 1)  # a 48-pixel figure on white
    x_t = x0 * math.sqrt(ab)
    target = parse_colour(BLUE)
    eps = loss_steer(sched, colour_loss(BLUE), s)(lambda x: torch.zeros_like(x), x_t, t)
    figure = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    figure[0, 0, 2:10, 3:9] = True
    expected_grad = 2 * (torch.tensor([-0.5, 0.2, 0.8]) - target).view(1, 3, 1, 1) / 48 * figure / math.sqrt(ab)
    expected = s * math.sqrt(1 - ab) * expected_grad
    assert torch.allclose(eps, expected, atol=1e-4 * expected.abs().max())


def test_strength_zero_changes_nothing_and_bad_strengths_are_refused(shipped):
    model, sched = shipped
    context = torch.eye(5)[:4]
    plain = sample_ddim(model, sched, n=4, steps=5, context=context, generator=torch.Generator().manual_seed(0))
    steered = sample_ddim(model, sched, n=4, steps=5, context=context, generator=torch.Generator().manual_seed(0),
                          steer=loss_steer(sched, colour_loss(BLUE), 0))
    assert torch.equal(plain.images, steered.images)
    with pytest.raises(TypeError, match="steer must be a function steer"):
        sample_ddim(model, sched, n=1, steps=2, steer=3.0)
    for bad in (-1, MAX_STRENGTH + 1, float("nan"), "10", True):
        with pytest.raises(ValueError, match=f"strength must be a number from 0 to {MAX_STRENGTH:g}"):
            loss_steer(sched, colour_loss(BLUE), bad)


@pytest.mark.parametrize("sampler, steps", [("ddim", 10), ("ddpm", 50), ("dpm", 10)])
def test_every_sampler_draws_the_asked_colour_when_steered(shipped, sampler, steps):
    model, sched = shipped
    context = torch.eye(5)[torch.arange(10) % 5]  # (10, 5): two of each class

    def distance(strength):
        images = SAMPLERS[sampler](model, sched, n=10, steps=steps, context=context, guidance=2.0,
                                   generator=torch.Generator().manual_seed(0),
                                   steer=loss_steer(sched, colour_loss(BLUE), strength)).images
        assert torch.isfinite(images).all()
        return colour_distance(images.clamp(-1, 1), BLUE).mean().item()

    before, after = distance(0), distance(100)
    assert after < 0.7 * before, (before, after)


def test_the_colour_explorer_redraws_for_a_new_colour_and_strength(shipped):
    from course_lib.guidance_widgets import colour_guidance_explorer
    model, sched = shipped
    box = colour_guidance_explorer(model, sched, colour="#2060e0", strength=100, n=5, steps=5)
    assert "course-colour-guidance" in box._dom_classes and "bottom: strength 100" in box.info.value
    blue = box.image.value
    box.colour.value = "#d02020"
    assert box.image.value != blue and "bottom: strength 100" in box.info.value
    box.colour.value = "teal"  # typed names work, as the picker allows them
    assert "bottom: strength 100" in box.info.value
    box.colour.value = "#2060e0"
    box.strength.value = 0
    before, after = [float(part.split(" from")[0].split()[-1]) for part in box.info.value.split("&middot;")[:2]]
    assert before == after  # strength 0: both rows unsteered, from the same noises
