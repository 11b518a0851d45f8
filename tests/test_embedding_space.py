import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import ContextUnet  # noqa: E402
from course_lib.captions import VOCABULARY  # noqa: E402
from course_lib.embedding_plots import class_paths, plot_class_space, word_space_widget  # noqa: E402
from course_lib.embedding_space import context_embedding, fit_pca  # noqa: E402


@pytest.fixture(scope="module")
def one_hot_model():
    torch.manual_seed(0)
    return ContextUnet(n_feat=16).eval()


@pytest.fixture(scope="module")
def caption_model():
    torch.manual_seed(0)
    return ContextUnet(n_feat=16, n_cfeat=len(VOCABULARY), context_film=True).eval()


def test_context_embedding_concatenates_every_context_layer(one_hot_model, caption_model):
    c = torch.eye(5)[[0, 3]]
    e = context_embedding(one_hot_model, c)
    assert e.shape == (2, 3 * 16)
    with torch.no_grad():
        assert torch.equal(e, torch.cat([one_hot_model.contextembed1(c), one_hot_model.contextembed2(c)], 1))
    assert context_embedding(caption_model, torch.zeros(1, len(VOCABULARY))).shape == (1, 2 * 16 + 16 + 2 * 16 + 16 + 2 * 16)
    with pytest.raises(ValueError, match="context"):
        context_embedding(one_hot_model, torch.zeros(2, 4))


def test_pca_of_points_on_a_line_and_in_a_plane():
    direction = torch.tensor([0.0, 3.0, 4.0]) / 5
    line = torch.arange(5.0)[:, None] * direction + torch.tensor([1.0, 1.0, 1.0])  # (5, 3)
    projection = fit_pca(line)
    assert projection.explained[0] == pytest.approx(1.0) and projection.explained[1] == pytest.approx(0.0, abs=1e-12)
    assert torch.allclose(projection.axes[0], direction.double(), atol=1e-12)  # signed: largest component > 0
    assert torch.allclose(projection(line)[:, 0], torch.arange(5.0).double() - 2, atol=1e-6)  # line is float32
    plane = torch.tensor([[0.0, 0, 0], [2, 0, 0], [0, 1, 0], [2, 1, 0]])
    p = fit_pca(plane)
    assert torch.allclose(p.axes @ p.axes.T, torch.eye(2).double(), atol=1e-12)
    assert p.explained.tolist() == pytest.approx([0.8, 0.2])
    with pytest.raises(ValueError, match="at least 3 vectors"):
        fit_pca(torch.zeros(2, 4))


def test_class_paths_walk_from_one_class_to_another():
    path = class_paths("hero", "food", points=5)
    assert torch.equal(path[0], torch.eye(5)[0]) and torch.equal(path[-1], torch.eye(5)[2])
    assert torch.allclose(path.sum(1), torch.ones(5)) and path[2].tolist() == [0.5, 0, 0.5, 0, 0]


def test_plots_and_the_word_widget(one_hot_model, caption_model):
    fig = plot_class_space(one_hot_model)
    assert len(fig.axes[0].lines) == 2 and "of the variance" in fig.axes[0].get_xlabel()
    view = word_space_widget(caption_model, "red potion")
    before = view.image.value
    view.text.value = "blue ghost"
    assert view.image.value != before and view.info.value == ""
    shown = view.image.value
    view.text.value = "blue gost"
    assert "'gost' is not in the vocabulary" in view.info.value and view.image.value == shown
