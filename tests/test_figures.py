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


def test_column_labels_sit_over_their_columns_and_runs_are_written_once():
    images = torch.zeros(6, 3, 16, 16)
    fig = viz.show_grid(images, nrow=6, col_labels=["hero", "hero", "food", "spell", "spell", "spell"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hero", "food", "spell"]
    # column i spans pixels 1 + 17 i .. 17 (i + 1); a run's label sits at the middle of its columns
    assert list(ax.get_xticks()) == [17.0, 42.5, 76.5]
    ticks = ax.xaxis.get_major_ticks()
    assert all(t.label2.get_visible() and not t.label1.get_visible() for t in ticks)  # above the grid


def test_compare_grids_titles_do_not_overlap_and_panels_wrap():
    one = torch.zeros(1, 3, 16, 16)
    titles = ["x_t\n(t = 200)", "intact", "cut\ndown2 → up1", "cut\ndown1 → up2", "cut\ninit_conv → out", "cut\nall three"]
    fig = viz.compare_grids({title: one for title in titles}, nrow=1)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), "panel titles run into each other"

    four = viz.compare_grids({f"panel {i}": torch.zeros(5, 3, 16, 16) for i in range(4)}, nrow=5, per_row=2)
    shown = [ax for ax in four.axes if ax.get_title()]
    assert len(four.axes) == 4 and [ax.get_title() for ax in shown] == [f"panel {i}" for i in range(4)]
    rows = sorted({round(ax.get_position().y0, 3) for ax in four.axes})
    assert len(rows) == 2


def test_schedule_plot_labels_both_axes(sched):
    fig = viz.plot_schedule(sched)
    assert [ax.get_ylabel() for ax in fig.axes] == ["share of x_t's variance", "SNR (log)"]


def test_training_progress_labels_the_classes():
    snaps = [(1, torch.zeros(4, 3, 16, 16))]
    fig = viz.training_progress_figure([1.0, 0.5], snaps, col_labels=["hero", "hero", "food", "food"])
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["hero", "food"]
