"""What the figures say: the numbers and labels they show, checked against the model and the data."""
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from course_lib import ContextUnet, count_parameters, trace_shapes, viz  # noqa: E402
from course_lib.gallery import build_parser  # noqa: E402


def figure_texts(fig):
    return [text.get_text() for ax in fig.axes for text in ax.texts] + [ax.get_title() for ax in fig.axes]


def unet_texts(n_feat):
    model = ContextUnet(n_feat=n_feat)
    return model, figure_texts(viz.draw_unet(trace_shapes(model, torch.zeros(1, 3, 16, 16))))


def test_unet_diagram_parameter_labels_add_up_to_the_model():
    for n_feat in (64, 16):
        model, texts = unet_texts(n_feat)
        labelled = [int(n.replace(",", "")) for text in texts for n in re.findall(r"([\d,]+) params", text)]
        assert len(labelled) == 9  # eight blocks and the embeddings box
        assert sum(labelled) == count_parameters(model)
        assert any(f"{count_parameters(model):,} parameters" in text for text in texts)


def test_unet_diagram_labels_the_embeddings():
    model, texts = unet_texts(64)
    assert count_parameters(model) == 1_481_027
    assert [text for text in texts if "timeembed" in text and "42,880 params" in text]


def test_gallery_writes_to_out_unless_told_otherwise():
    assert Path(build_parser().parse_args([]).out) == Path("out", "gallery")
    assert Path(build_parser().parse_args(["--out", "docs/gallery"]).out) == Path("docs", "gallery")
