"""Skips that add instead of concatenate (model.skip_join): the same U-Net shapes, the decoder fed the sum,
the option saved with the weights, and the experiment's bookkeeping."""
import pytest
import torch

from course_lib.model import ContextUnet, count_parameters, join_skip
from course_lib.pretrained import load_weights, save_weights
from course_lib.schedule import NoiseSchedule
from course_lib.segmentation import SegmentationUnet
from course_lib.skip_joins import parameter_counts, spread


def test_join_skip_stacks_or_sums_the_channels():
    x, skip = torch.arange(8.0).view(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    assert torch.equal(join_skip(x, skip, "concat"), torch.cat((x, skip), 1))
    assert torch.equal(join_skip(x, skip, "add"), x + 1)


@pytest.mark.parametrize("net", [lambda join: ContextUnet(n_feat=16, skip_join=join),
                                 lambda join: SegmentationUnet(n_feat=16, skip_join=join)],
                         ids=["noise U-Net", "segmentation U-Net"])
def test_an_additive_unet_keeps_every_shape_and_feeds_its_decoder_the_sum(net):
    torch.manual_seed(0)
    model = net("add").eval()
    x = torch.randn(2, 3, 16, 16)
    seen = {}
    model.up1.model[0].register_forward_hook(lambda module, args, out: seen.update(up1_input=args[0]))
    model.down2.register_forward_hook(lambda module, args, out: seen.update(down2=out))
    model.up0.register_forward_hook(lambda module, args, out: seen.update(up0=out))
    with torch.no_grad():
        out = model(x, torch.full((2,), 0.5), torch.eye(5)[:2]) if isinstance(model, ContextUnet) else model(x)
    assert out.shape[-3:] == (model.in_channels if isinstance(model, ContextUnet) else 1, 16, 16)
    assert seen["up1_input"].shape == seen["down2"].shape  # (2, 2F, 4, 4): added, not stacked
    if isinstance(model, SegmentationUnet):
        assert torch.allclose(seen["up1_input"], seen["up0"] + seen["down2"])


def test_adding_costs_the_decoder_the_inputs_of_its_first_convolutions():
    counts = parameter_counts(segmentation_feat=16, noise_feat=32)
    assert counts["concat"] == (91_217, 372_899)  # docs/segmentation.md's figure, and the U-Net of skip_joins.md
    f = 32  # up1's transposed conv (2x2) sees 2F fewer inputs, up2's F fewer, out's 3x3 conv F fewer
    assert counts["concat"][1] - counts["add"][1] == 2 * f * f * 4 + f * f * 4 + f * f * 9
    assert count_parameters(ContextUnet(n_feat=64)) == count_parameters(ContextUnet(n_feat=64, skip_join="concat"))


def test_the_join_is_saved_with_the_weights_and_the_courses_config_keeps_its_fields(tmp_path):
    assert "skip_join" not in ContextUnet(n_feat=8).config
    model = ContextUnet(n_feat=8, skip_join="add")
    save_weights(model, NoiseSchedule(), tmp_path / "add.pt")
    loaded, _ = load_weights(tmp_path / "add.pt")
    assert loaded.skip_join == "add" and loaded.config == model.config
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x, 0.5), model.eval()(x, 0.5))


def test_an_unknown_join_is_refused():
    for make in (lambda: ContextUnet(skip_join="multiply"), lambda: SegmentationUnet(skip_join="")):
        with pytest.raises(ValueError, match="skip_join must be 'concat'"):
            make()


def test_spread_is_mean_min_and_max_over_matching_rows():
    rows = [{"join": "add", "iou": v} for v in (0.5, 0.7, 0.9)] + [{"join": "concat", "iou": 0.1}]
    assert spread(rows, "iou", join="add") == pytest.approx((0.7, 0.5, 0.9))
    with pytest.raises(ValueError, match="no rows match"):
        spread(rows, "iou", join="none")
