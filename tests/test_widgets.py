"""The pure functions behind the chapter 1 and 2 widgets and plots, and the widgets wired to them.

Each widget test builds the view, moves a control from Python, and checks the picture changed.
"""
import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from course_lib import ContextUnet, trace_shapes  # noqa: E402
from course_lib import viz, widgets as W  # noqa: E402


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return ContextUnet(n_feat=16).eval()


@pytest.fixture(scope="module")
def sprites():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, 16, 16, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def noise():
    return torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _png(data):
    return np.asarray(Image.open(io.BytesIO(data)))


# ---- the library never imports the view modules

def test_library_does_not_import_viz_or_widgets():
    import subprocess
    import sys
    code = ("import sys, course_lib, course_lib.samplers, course_lib.training, course_lib.pretrained, "
            "course_lib.data, course_lib.metrics; "
            "print(any(m in sys.modules for m in ('course_lib.viz', 'course_lib.widgets')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---- viz

def test_to_display_maps_without_stretching():
    x = torch.tensor([-1.0, 0.0, 0.5, 2.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4)
    shown = viz.to_display(x)
    assert shown.shape == (1, 1, 4, 3)
    assert np.allclose(shown[0, 0, :, 0], [0.0, 0.5, 0.75, 1.0])
    dim = torch.full((1, 3, 2, 2), -0.5)  # a uniformly dark image stays dark: no min/max stretch
    assert np.allclose(viz.to_display(dim), 0.25)


def test_png_bytes_round_trip():
    pic = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert np.array_equal(_png(viz.png_bytes(pic)), pic)


def test_smooth_is_a_moving_average():
    assert np.allclose(viz.smooth([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    assert np.allclose(viz.smooth([1, 2], 10), [1.5])  # window capped at the length


def test_noising_strip_starts_clean_and_uses_one_noise(sched, sprites, noise):
    strip = viz.noising_strip(sprites, sched, [0, 10, 500], noise)
    assert strip.shape == (3, 3, 3, 16, 16)
    assert torch.equal(strip[0], sprites)
    ab = sched.alpha_bars[500]
    assert torch.allclose(strip[2], ab.sqrt() * sprites + (1 - ab).sqrt() * noise)


def test_feature_grid_tiles_and_shared_scale():
    maps = torch.zeros(5, 4, 4)
    maps[1] = 1.0
    grid = viz.feature_grid(maps, ncol=4, scale=2, pad=1)
    assert grid.shape == ((2 * 5 + 1) * 2, (4 * 5 + 1) * 2, 3)
    tile0, tile1 = grid[2:10, 2:10], grid[2:10, 12:20]
    assert (tile0 != tile1).any()  # the all-ones channel is coloured differently from the zeros


def test_figures_draw(sched):
    model = ContextUnet(n_feat=16)
    rows = trace_shapes(model, torch.zeros(1, 3, 16, 16))
    figs = [viz.draw_unet(rows), viz.plot_losses(np.linspace(1, 0.1, 300)), viz.plot_schedule(sched, t=100),
            viz.training_progress_figure([1.0, 0.5], [(1, torch.zeros(4, 3, 16, 16))]),
            viz.compare_grids({"a": torch.zeros(2, 3, 16, 16), "b": torch.ones(2, 3, 16, 16)}),
            viz.show_strip(torch.zeros(3, 2, 3, 16, 16), [500, 250, 0])]
    for fig in figs:
        assert viz.figure_png(fig)[:4] == b"\x89PNG"


def test_training_progress_keeps_at_most_max_rows():
    snaps = [(e, torch.full((2, 3, 16, 16), e / 10 - 1)) for e in range(1, 13)]
    fig = viz.training_progress_figure(list(np.linspace(1, 0.1, 100)), snaps, max_rows=4)
    labels = [tick.get_text() for tick in fig.axes[1].get_yticklabels()]
    assert labels == ["epoch 1", "epoch 5", "epoch 8", "epoch 12"]


def test_draw_unet_needs_a_trace():
    with pytest.raises(ValueError, match="trace_shapes"):
        viz.draw_unet([("init_conv", (1, 64, 16, 16), 10)])


def test_denoise_animation_steps_through_frames():
    frames = torch.linspace(-1, 1, 3).view(3, 1, 1, 1, 1).expand(3, 2, 3, 16, 16)
    anim = viz.denoise_animation(frames, frames, steps=[20, 10, 0])
    html = anim.to_jshtml()
    assert html.count("data:image/png;base64") == 3


# ---- chapter 1: feature maps and skip connections

def test_feature_maps_shapes(small_model):
    x = torch.zeros(2, 3, 16, 16)
    expected = {"init_conv": (16, 16, 16), "down1": (16, 8, 8), "down2": (32, 4, 4), "to_vec": (32, 1, 1),
                "up0": (32, 4, 4), "up1": (16, 8, 8), "up2": (16, 16, 16), "out": (3, 16, 16)}
    for name, shape in expected.items():
        assert tuple(W.feature_maps(small_model, x, name).shape) == shape
    assert not small_model._forward_hooks and not small_model.down1._forward_hooks  # hooks removed


def test_feature_maps_match_a_manual_forward(small_model, sprites):
    with torch.no_grad():
        expected = small_model.down1(small_model.init_conv(sprites[:1]))[0]
    assert torch.allclose(W.feature_maps(small_model, sprites[:1], "down1", t=0.3), expected)


def test_feature_maps_rejects_unknown_block(small_model):
    with pytest.raises(ValueError, match="block_name must be one of"):
        W.feature_maps(small_model, torch.zeros(1, 3, 16, 16), "timeembed1")


def test_cut_skips_zeroes_only_the_skip(small_model, sprites, sched, noise):
    x = sprites[:1]
    with torch.no_grad():
        intact = small_model(x, torch.tensor([0.4]))
        with W.cut_skips(small_model, ("down1",)):
            cut = small_model(x, torch.tensor([0.4]))
            down2 = W.feature_maps(small_model, x, "down2", t=0.4)
        after = small_model(x, torch.tensor([0.4]))
    assert not torch.allclose(intact, cut)
    assert torch.equal(intact, after)  # hooks gone afterwards
    assert torch.allclose(down2, W.feature_maps(small_model, x, "down2", t=0.4))  # encoder path untouched
    with pytest.raises(ValueError, match="unknown skip"):
        with W.cut_skips(small_model, ("up1",)):
            pass


def test_cut_skips_matches_a_manual_forward(small_model, sprites):
    m, x = small_model, sprites[:2]
    t = torch.full((2, 1), 0.5)
    c = torch.zeros(2, 5)
    with torch.no_grad():
        h0 = m.init_conv(x)
        d1 = m.down1(h0)
        d2 = m.down2(d1)
        u = m.up0(m.to_vec(d2))
        u = m.up1(m.contextembed1(c).view(2, -1, 1, 1) * u + m.timeembed1(t).view(2, -1, 1, 1), torch.zeros_like(d2))
        u = m.up2(m.contextembed2(c).view(2, -1, 1, 1) * u + m.timeembed2(t).view(2, -1, 1, 1), torch.zeros_like(d1))
        expected = m.out(torch.cat((u, torch.zeros_like(h0)), 1))
        with W.cut_skips(m):
            got = m(x, torch.full((2,), 0.5))
    assert torch.allclose(got, expected, atol=1e-6)


def test_skip_ablation_values(small_model, sched, sprites, noise):
    r = W.skip_ablation(small_model, sched, sprites, 200, noise)
    assert set(r) >= {"x_t", "eps", "eps_cut", "x0_hat", "x0_hat_cut", "mse", "mse_cut"}
    assert torch.allclose(r["x_t"], sched.add_noise(sprites, torch.full((3,), 200), noise))
    assert r["mse"] == pytest.approx(float(((r["eps"] - noise) ** 2).mean()), rel=1e-5)
    none_cut = W.skip_ablation(small_model, sched, sprites, 200, noise, skips=())
    assert torch.equal(none_cut["eps"], none_cut["eps_cut"])
    assert W.render_skip_ablation(r, scale=1).shape == (3 * 17 + 1, 3 * 17 + 1, 3)


def test_time_embeddings_shapes(small_model):
    e = W.time_embeddings(small_model, [0.0, 0.5, 1.0], context=torch.eye(5)[0])
    assert e["temb1"].shape == (3, 32) and e["temb2"].shape == (3, 16)
    assert e["cemb1"].shape == (3, 32) and np.allclose(e["cemb1"][0], e["cemb1"][2])


def test_feature_map_widget_reacts(small_model, sched, sprites):
    view = W.feature_map_widget(small_model, sched, sprites)
    (block, index, step), caption, image = view.children[0].children, view.children[1], view.children[2]
    before = image.value
    assert _png(before).ndim == 3 and "down1" in caption.value
    block.value = "up0"
    assert image.value != before and "up0" in caption.value and "32 channels of 4×4" in caption.value
    shown = image.value
    step.value = 300
    assert image.value != shown
    shown = image.value
    index.value = 2
    assert image.value != shown


def test_skip_widget_reacts(small_model, sched, sprites):
    view = W.skip_widget(small_model, sched, sprites, t=200)
    controls, caption, image = view.children
    before = image.value
    controls.children[0].value = False  # keep the init_conv skip
    assert image.value != before
    shown = image.value
    controls.children[-1].value = 400
    assert image.value != shown and "t = 400" in caption.value


# ---- chapter 2: the forward process

def test_noising_stats(sched):
    s = W.noising_stats(sched, 500)
    assert s["alpha_bar"] == pytest.approx(0.0064, abs=1e-4)
    assert s["signal_scale"] ** 2 + s["noise_scale"] ** 2 == pytest.approx(1)
    assert s["snr"] == pytest.approx(s["alpha_bar"] / (1 - s["alpha_bar"]))
    assert float(sched.snr(torch.tensor([500]))) == pytest.approx(s["snr"], rel=1e-5)
    assert W.noising_stats(sched, 0)["snr"] == float("inf")


def test_render_noising_values(sched, sprites, noise):
    clean = W.render_noising(sprites, 0, sched, noise, scale=1)
    assert np.array_equal(clean, viz.grid_array(sprites, nrow=3))
    t = 250
    x_t = sched.add_noise(sprites, torch.full((3,), t), noise)
    assert np.array_equal(W.render_noising(sprites, t, sched, noise, scale=1), viz.grid_array(x_t, nrow=3))
    assert W.render_noising(sprites, t, sched, noise, scale=5).shape == (5 * 18, 5 * 52, 3)
    assert np.array_equal(W.render_noising(sprites, t, sched), W.render_noising(sprites, t, sched))  # seeded


def test_noising_widget_reacts(sched, sprites, noise):
    view = W.noising_widget(sprites, sched, noise=noise, t=0)
    step, caption, image, curve = view.children
    assert np.array_equal(_png(image.value), W.render_noising(sprites, 0, sched, noise))
    before, curve_before = image.value, curve.value
    step.value = 500
    assert image.value != before and curve.value != curve_before
    assert np.array_equal(_png(image.value), W.render_noising(sprites, 500, sched, noise))
    assert "ᾱ_t = 0.0064" in caption.value


# ---- the gallery script

def test_gallery_cheap_figures(tmp_path):
    from course_lib import gallery
    assert torch.equal(gallery.one_hot_rows(2)[:4], torch.tensor([[1., 0, 0, 0, 0]] * 2 + [[0., 1, 0, 0, 0]] * 2))
    losses = tmp_path / "losses.npy"
    np.save(losses, np.linspace(1, 0.05, 500))
    for fig in (gallery.loss_figure(losses), gallery.training_sprites_figure(per_class=2),
                gallery.unet_figure(ContextUnet(n_feat=16))):
        assert viz.figure_png(fig)[:4] == b"\x89PNG"


# ---- chapters 3 and 4


def test_compare_schedules_draws_alpha_bar_and_log_snr(sched):
    from course_lib import NoiseSchedule

    cosine = NoiseSchedule(kind="cosine")
    fig = viz.compare_schedules({"linear": sched, "cosine": cosine})
    ab_axis, snr_axis = fig.axes
    assert [line.get_label() for line in snr_axis.lines] == ["linear", "cosine"]
    x, y = snr_axis.lines[1].get_data()
    ab = cosine.alpha_bars.double()[250]
    assert x[249] == 250 and y[249] == pytest.approx(float(torch.log(ab / (1 - ab))))
    assert ab_axis.lines[0].get_data()[1][0] == 1.0  # ᾱ_0 = 1: nothing added yet
