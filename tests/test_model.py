import pytest
import torch

from course_lib import ContextUnet, count_parameters, trace_shapes
from course_lib.model import with_context_film


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ContextUnet().eval()


def test_parameter_count_at_course_sizes(model):
    assert count_parameters(model) == 1_481_027


@pytest.mark.parametrize("height", [8, 16, 32])
def test_output_has_input_shape_for_any_height_divisible_by_4(height):
    m = ContextUnet(n_feat=16, height=height).eval()
    x = torch.randn(3, 3, height, height)
    assert m(x, torch.rand(3), torch.eye(5)[:3]).shape == (3, 3, height, height)


def test_eval_outputs_are_deterministic(model):
    x, t, c = torch.randn(4, 3, 16, 16), torch.rand(4), torch.eye(5)[:4]
    with torch.no_grad():
        assert torch.equal(model(x, t, c), model(x, t, c))


def test_residual_shortcut_is_a_registered_trained_conv(model):
    assert model.init_conv.shortcut.weight.shape == (64, 3, 1, 1)
    assert "init_conv.shortcut.weight" in model.state_dict()
    assert model.init_conv.shortcut.weight.requires_grad


def test_context_and_time_change_the_prediction(model):
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        base = model(x, 0.5, None)
        assert not torch.allclose(base, model(x, 0.5, torch.eye(5)[:2]))
        assert not torch.allclose(base, model(x, 0.9, None))
        torch.testing.assert_close(base, model(x, torch.tensor([0.5, 0.5]), torch.zeros(2, 5)))


def test_trace_shapes_lists_every_block(model):
    rows = trace_shapes(model, torch.zeros(2, 3, 16, 16))
    shapes = {name: shape for name, shape, _ in rows}
    assert shapes["init_conv"] == (2, 64, 16, 16)
    assert shapes["down1"] == (2, 64, 8, 8)
    assert shapes["down2"] == (2, 128, 4, 4)
    assert shapes["to_vec"] == (2, 128, 1, 1)
    assert shapes["up0"] == (2, 128, 4, 4)
    assert shapes["up1"] == (2, 64, 8, 8)
    assert shapes["up2"] == (2, 64, 16, 16)
    assert shapes["out"] == (2, 3, 16, 16)
    assert sum(n for _, _, n in rows) == count_parameters(model)


@pytest.mark.parametrize("x, c, error, match", [
    (torch.zeros(3, 16, 16), None, ValueError, r"shape \(B, 3, H, W\), got \(3, 16, 16\)"),
    (torch.zeros(1, 16, 16, 3), None, ValueError, r"got \(1, 16, 16, 3\); for uint8 NHWC"),
    (torch.zeros(1, 3, 18, 18), None, ValueError, "divisible by 4, got \\(18, 18\\)"),
    (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), None, TypeError, "float tensor"),
    (torch.zeros(2, 3, 16, 16), torch.zeros(2, 4), ValueError, r"context must have shape \(B, 5\).*got \(2, 4\)"),
    (torch.zeros(2, 3, 16, 16), torch.zeros(3, 5), ValueError, "context has 3 rows but there are 2 images"),
    (torch.zeros(1, 3, 16, 16), torch.tensor([[1.0, -0.5, 0, 0, 0]]), ValueError, r"lie in \[0, 10\], got -0.5"),
    (torch.zeros(1, 3, 16, 16), torch.tensor([[float("nan"), 0, 0, 0, 0]]), ValueError, "NaN"),
])
def test_bad_input_is_explained(model, x, c, error, match):
    with pytest.raises(error, match=match):
        model(x, 0.5, c)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"height must be a positive multiple of 4 .*got 18"):
        ContextUnet(height=18)
    for n_feat in (20, 0, -8, 8.0):
        with pytest.raises(ValueError, match=f"n_feat must be a positive multiple of 8 .*got {n_feat}"):
            ContextUnet(n_feat=n_feat)


def test_the_course_model_keeps_the_course_config(model):
    assert model.config == {"in_channels": 3, "n_feat": 64, "n_cfeat": 5, "height": 16}
    assert not any(name.startswith(("contextshift", "contextfilm")) for name in model.state_dict())


def test_context_film_adds_54_464_parameters_at_caption_sizes():
    plain, film = ContextUnet(n_cfeat=53), ContextUnet(n_cfeat=53, context_film=True)
    # shifts: 53->128->128 and 53->64->64; gamma and beta: 53->128->128
    assert count_parameters(film) - count_parameters(plain) == (53 * 128 + 128 + 128 * 128 + 128) * 2 \
        + (53 * 64 + 64 + 64 * 64 + 64) == 54_464
    assert film.config["context_film"] is True


def test_added_context_film_layers_leave_the_predictions_unchanged_until_trained():
    torch.manual_seed(1)
    plain = ContextUnet(n_feat=16, n_cfeat=7).eval()
    film = with_context_film(plain).eval()
    x, t, c = torch.randn(3, 3, 16, 16), torch.rand(3), torch.rand(3, 7)
    with torch.no_grad():
        assert torch.equal(plain(x, t, c), film(x, t, c))
        film.contextfilm3.model[-1].bias[:16] += 0.5  # gamma: the 16x16 stage now scales by 1.5
        assert not torch.allclose(plain(x, t, c), film(x, t, c))
    with pytest.raises(ValueError, match="already has context_film layers"):
        with_context_film(film)
