"""The caption path end to end: the CLI's --prompt, `vocabulary` and `evaluate --prompt`, the
attribute scoring and its real-sprite ceiling, and the caption widgets driven from Python."""
import json
import re

import numpy as np
import pytest
import torch

from course_lib.__main__ import main
from course_lib.caption_metrics import (ATTRIBUTES, PROMPT_SETS, asked_attributes, keep_half, load_caption_classifier,
                                       predict_attributes, real_sprites_for, score_prompt, score_real_sprites)
from course_lib.caption_widgets import caption_box, caption_mixer, caption_rows, mix_caption, plot_caption_vector
from course_lib.captions import MIX_COMPOSE, MIX_GUIDANCE, VOCABULARY, caption_words, encode_caption
from course_lib.data import to_model_space
from course_lib.pretrained import load_pretrained
from course_lib.sprites import CLASS_NAMES, COLOUR_NAMES, generate_sprite_attributes


def _kind(word):
    return ATTRIBUTES["kind"].index(word)


def test_asked_attributes_fixed_values():
    food, hero, side = (CLASS_NAMES.index(c) for c in ("food", "hero", "side-facing"))
    assert asked_attributes("red potion") == {"class": {food}, "kind": _kind("potion"),
                                              "colour": COLOUR_NAMES.index("red")}
    assert asked_attributes("sword") == {"class": {hero, side}, "kind": _kind("sword")}  # drawn in both classes
    assert asked_attributes("hero sword blue")["class"] == {hero}
    assert asked_attributes("mushroom, ghost=0.7") == {"class": {CLASS_NAMES.index("non-hero")},
                                                       "mix": (_kind("mushroom"), _kind("ghost"))}
    assert asked_attributes("pink") == {"colour": COLOUR_NAMES.index("pink")}


def test_score_prompt_counts_each_attribute():
    predicted = {"class": torch.tensor([2, 2, 1]), "kind": torch.tensor([_kind("potion"), _kind("mug"), 0]),
                 "colour": torch.tensor([0, 0, 0]), "kind_halves": torch.zeros(3, 4, dtype=torch.long)}
    hits = score_prompt(predicted, asked_attributes("red potion"))
    assert hits["class"].tolist() == [True, True, False]
    assert hits["kind"].tolist() == [True, False, False]
    assert hits["colour"].tolist() == [True, True, True]
    assert hits["all"].tolist() == [True, False, False]
    m, g, b = _kind("mushroom"), _kind("ghost"), _kind("bat")
    halves = torch.tensor([[g, m, g, g],   # columns: top, bottom, left, right; ghost over mushroom: found
                           [m, b, m, g],   # mushroom beside ghost: found
                           [m, m, m, m],   # a mushroom in every half: not found
                           [g, b, m, b]])  # each kind in a half, but of different splits: not found
    mix = score_prompt({"class": torch.ones(4, dtype=torch.long), "kind_halves": halves},
                       asked_attributes("mushroom, ghost"))
    assert mix["both_kinds"].tolist() == [True, True, False, False]


def test_prompt_sets_use_only_vocabulary_words():
    assert {"seen", "held-out", "mixes"} == set(PROMPT_SETS)
    for prompts in PROMPT_SETS.values():
        for prompt in prompts:
            encode_caption(prompt)  # raises on a word outside the vocabulary
    assert all("mix" in asked_attributes(p) for p in PROMPT_SETS["mixes"])


def test_mix_caption_weights():
    assert mix_caption("mushroom", "ghost", 0.25) == "mushroom=0.75, ghost=0.25"
    assert torch.allclose(encode_caption(mix_caption("red mushroom", "ghost", 0.5)),
                          encode_caption("red mushroom, ghost"))
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        mix_caption("a", "b", 1.5)


@pytest.fixture(scope="module")
def caption_model():
    return load_pretrained("captions")


def test_caption_rows_share_the_noise(caption_model):
    model, sched = caption_model
    images = caption_rows(model, sched, ["potion", "potion", "ghost"], per_row=3, steps=2, seed=1)
    assert images.shape == (9, 3, 16, 16)
    assert torch.equal(images[:3], images[3:6]) and not torch.equal(images[:3], images[6:])


def test_caption_box_updates_on_text_and_explains_a_typo(caption_model):
    model, sched = caption_model
    box = caption_box(model, sched, caption="red potion", n=2, steps=2)
    first = box.image.value
    assert first[:4] == b"\x89PNG" and "potion 0.71" in box.info.value and "red 0.71" in box.info.value
    box.text.value = "ghost"
    assert box.image.value != first and "ghost 1.00" in box.info.value
    shown = box.image.value
    box.text.value = "mushrom"
    assert "did you mean 'mushroom'" in box.info.value and box.image.value == shown


def test_caption_box_eta_adds_noise_that_the_seed_repeats(caption_model):
    model, sched = caption_model
    box = caption_box(model, sched, caption="staff", n=2, steps=3)
    plain = box.image.value
    assert "DDIM 3 steps, η 0," in box.info.value
    box.eta.value = 1.0
    noisy = box.image.value
    assert noisy != plain and "DDIM 3 steps, η 1," in box.info.value
    box.seed.value = 1
    box.seed.value = 0
    assert box.image.value == noisy


def test_caption_mixer_weight_moves_the_context(caption_model):
    model, sched = caption_model
    mixer = caption_mixer(model, sched, first="mushroom", second="ghost", weight=0.0, n=2, steps=2)
    assert "mushroom 1.00" in mixer.info.value and "ghost" not in mixer.info.value.split("&rarr;")[1]
    mixer.weight.value = 0.5
    assert "ghost 0.71" in mixer.info.value and "mushroom 0.71" in mixer.info.value
    plain = mixer.image.value
    mixer.eta.value = 0.5
    assert mixer.image.value != plain and "η 0.5," in mixer.info.value


def test_caption_mixer_composes_the_two_captions(caption_model):
    model, sched = caption_model
    mixer = caption_mixer(model, sched, first="mushroom", second="ghost", n=2, steps=2)
    assert (mixer.guidance.value, mixer.compose.value) == (MIX_GUIDANCE, MIX_COMPOSE)
    assert "3 conditions composed" in mixer.info.value
    composed = mixer.image.value
    mixer.compose.value = 0.0
    assert "composed" not in mixer.info.value and mixer.image.value != composed
    mixer.weight.value = 1.0  # one caption left: nothing to compose
    mixer.compose.value = 0.5
    assert "composed" not in mixer.info.value


def test_plot_caption_vector_draws_one_bar_per_word():
    fig = plot_caption_vector("red potion")
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert len(heights) == len(VOCABULARY)
    assert sorted(heights)[-2:] == pytest.approx([0.7071, 0.7071], abs=1e-4) and sum(heights) == pytest.approx(1.4142, abs=1e-4)


def test_sample_prompt_writes_sprites_and_is_seeded(tmp_path, capsys):
    outs = [tmp_path / "a.npy", tmp_path / "b.npy"]
    for out in outs:
        assert main(["sample", "--prompt", "red potion", "--n", "3", "--steps", "2", "--seed", "4",
                     "--out", str(out)]) == 0
    a, b = (np.load(out) for out in outs)
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.uint8 and np.array_equal(a, b)


@pytest.mark.parametrize("prompt, message", [
    ("red potoin", "'potoin' is not in the vocabulary (caption 'red potoin'); did you mean 'potion'?"),
    ("ghost=-2", "must be finite and >= 0"),
])
def test_bad_prompts_exit_2_with_a_message(tmp_path, capsys, prompt, message):
    assert main(["sample", "--prompt", prompt, "--out", str(tmp_path / "x.png")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_prompt_and_context_together_exit_2_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["sample", "--prompt", "ghost", "--context", "hero", "--out", str(tmp_path / "x.png")])
    assert err.value.code == 2
    assert "argument --context: not allowed with argument --prompt" in capsys.readouterr().err


def test_compose_without_a_mixed_prompt_or_out_of_range_exits_2(tmp_path, capsys):
    assert main(["sample", "--compose", "0.5", "--out", str(tmp_path / "x.png")]) == 2
    assert "--compose acts on mixed captions" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
    assert main(["evaluate", "--prompt-set", "seen", "--compose", "0,2", "--n", "10"]) == 2
    assert "compose must be a number in [0, 1]" in capsys.readouterr().err
    assert main(["evaluate", "--compose", "0.5", "--n", "10"]) == 2
    assert "--compose is for the caption model's mixes: give --prompt-set or --prompt too" in capsys.readouterr().err


def test_evaluate_compose_runs_plain_captions_once(capsys):
    assert main(["evaluate", "--prompt", "ghost", "--prompt", "mushroom, ghost", "--compose", "0,0.5", "--n", "2",
                 "--steps", "2", "--guidance", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["prompt_set"], line.get("compose")) for line in lines] == [
        ("ghost", None), ("mushroom, ghost", 0.0), ("mushroom, ghost", 0.5)]


def test_sample_composed_prompt_is_seeded_and_differs_from_the_mixed_vector(tmp_path):
    def sprites(name, *compose):
        out = tmp_path / name
        assert main(["sample", "--prompt", "mushroom, ghost", "--n", "3", "--steps", "2", "--guidance", "3",
                     "--out", str(out), *compose]) == 0
        return np.load(out)
    a, b, mixed = sprites("a.npy", "--compose", "0.5"), sprites("b.npy", "--compose", "0.5"), sprites("c.npy")
    assert np.array_equal(a, b) and not np.array_equal(a, mixed)


def test_vocabulary_lists_every_word(capsys):
    assert main(["vocabulary"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("classes: hero non-hero food spell side-facing\n")
    assert "sword (hero/side-facing)" in out and "held out of training: blue mushroom" in out
    for word in VOCABULARY:
        assert word in out


def test_evaluate_prompt_prints_per_attribute_accuracy(capsys):
    assert main(["evaluate", "--prompt", "red potion", "--prompt-set", "mixes", "--n", "8", "--steps", "2",
                 "--guidance", "0"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["prompt_set"] for line in lines] == ["red potion", "mixes"]
    assert {"class_acc", "kind_acc", "colour_acc", "all_acc"} <= set(lines[0])
    assert {"class_acc", "both_kinds_acc", "all_acc"} <= set(lines[1]) and len(lines[1]["by_prompt"]) == 4
    for line in lines:
        assert all(0 <= v <= 1 for k, v in line.items() if k.endswith("_acc"))


def test_evaluate_prompt_passes_eta_to_ddim_and_refuses_it_without_ddim(capsys):
    assert main(["evaluate", "--prompt", "staff", "--sampler", "ddim,ddpm", "--eta", "1", "--n", "2",
                 "--steps", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["sampler"], line.get("eta")) for line in lines] == [("ddim", 1.0), ("ddpm", None)]
    assert main(["evaluate", "--prompt", "staff", "--sampler", "ddpm", "--eta", "1", "--n", "2"]) == 2
    assert "--eta applies to ddim only; got --eta 1.0 with --sampler ddpm" in capsys.readouterr().err


def test_report_prints_the_caption_table(tmp_path, capsys):
    rows = [{"prompt_set": "seen", "guidance": 2.0, "sampler": "ddim", "steps": 10, "n": 1000, "class_acc": 0.99,
             "kind_acc": 0.5, "colour_acc": 0.25, "all_acc": 0.125},
            {"prompt_set": "mixes", "guidance": 0.0, "compose": 0.0, "sampler": "ddim", "steps": 10, "n": 1000,
             "class_acc": 1.0, "both_kinds_acc": 0.4, "all_acc": 0.4},
            {"prompt_set": "mixes", "guidance": 3.0, "compose": 0.5, "sampler": "ddim", "steps": 10, "n": 1000,
             "class_acc": 1.0, "both_kinds_acc": 0.45, "all_acc": 0.45},
            {"prompt_set": "held-out", "sampler": "real sprites", "n": 20, "class_acc": 1.0, "kind_acc": 1.0,
             "colour_acc": 0.95, "all_acc": 0.95},
            {"prompt_set": "seen", "guidance": 2.0, "sampler": "ddim", "steps": 10, "eta": 1.0, "n": 1000,
             "class_acc": 1.0, "kind_acc": 0.75, "colour_acc": 0.5, "all_acc": 0.25}]
    path = tmp_path / "captions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert main(["report", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "| captions | guidance | compose | sprites from | n | class | kind | colour | both kinds found | "
        "all named attributes |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| seen | 2 | – | ddim 10 | 1000 | 99.0% | 50.0% | 25.0% | – | 12.5% |",
        "| mixes | 0 | 0 | ddim 10 | 1000 | 100.0% | – | – | 40.0% | 40.0% |",
        "| mixes | 3 | 0.5 | ddim 10 | 1000 | 100.0% | – | – | 45.0% | 45.0% |",
        "| held-out | – | – | real sprites | 20 | 100.0% | 100.0% | 95.0% | – | 95.0% |",
        "| seen | 2 | – | ddim 10, η = 1 | 1000 | 100.0% | 75.0% | 50.0% | – | 25.0% |"]


def test_real_sprites_show_what_the_caption_names():
    images = real_sprites_for("blue mushroom", 6, seed=2, pool=500)
    pool, attributes = generate_sprite_attributes(500, seed=2, classes=(CLASS_NAMES.index("non-hero"),))
    rows = [int(np.flatnonzero((pool == image).all(axis=(1, 2, 3)))[0]) for image in images]
    assert rows == sorted(rows) and len(set(rows)) == 6  # the first six that fit, in order
    assert set(attributes["kind"][rows]) == {"mushroom"} and set(attributes["colour"][rows]) == {"blue"}


def test_real_sprites_score_the_classifier_ceiling():
    row = score_real_sprites(["blue mushroom", "food apple red"], n=20, pool=500)
    assert row["sampler"] == "real sprites" and list(row["by_prompt"]) == ["blue mushroom", "food apple red"]
    assert (row["class_acc"], row["kind_acc"], row["colour_acc"], row["all_acc"]) == (1.0, 1.0, 1.0, 1.0)


def test_keep_half_whitens_the_other_half():
    images = torch.linspace(-1, 0.5, 2 * 3 * 4 * 4).view(2, 3, 4, 4)
    for half, kept in (("top", (slice(None), slice(None), slice(0, 2))), ("bottom", (..., slice(2, 4), slice(None))),
                       ("left", (..., slice(0, 2))), ("right", (..., slice(2, 4)))):
        out = keep_half(images, half)
        assert torch.equal(out[kept], images[kept]) and (out == 1).sum().item() == images.numel() // 2, half


def test_shipped_classifier_finds_both_kinds_in_real_hybrids_only():
    """The mix judge on real sprites: halves of two kinds are found, one kind whole is not."""
    mixes = list(PROMPT_SETS["mixes"])
    hybrids = score_real_sprites(mixes, n=80, pool=2000)
    assert hybrids["both_kinds_acc"] >= 0.9, hybrids["by_prompt"]
    classifier = load_caption_classifier()
    for mix in mixes:
        for words, _ in caption_words(mix):
            predicted = predict_attributes(classifier, to_model_space(real_sprites_for(" ".join(words), 20, pool=2000)))
            assert score_prompt(predicted, asked_attributes(mix))["both_kinds"].sum() <= 1, (mix, words)


def test_real_sprites_of_a_mix_are_hybrids_of_its_kinds():
    images = real_sprites_for("mushroom, ghost=0.5", 4, pool=500)
    mushrooms, ghosts = real_sprites_for("mushroom", 4, pool=500), real_sprites_for("ghost", 4, pool=500)
    assert np.array_equal(images[0, :8], mushrooms[0, :8]) and np.array_equal(images[0, 8:], ghosts[0, 8:])
    assert np.array_equal(images[1, :, :8], mushrooms[1, :, :8]) and np.array_equal(images[1, :, 8:], ghosts[1, :, 8:])


@pytest.mark.parametrize("prompt, message", [
    ("mushroom ghost", "no real sprite shows 'mushroom ghost'"),
    ("red blue", "no real sprite shows 'red blue'"),
    ("hero staff red", "only 6 of 500 real sprites show 'hero staff red'; ask for n <= 6 per caption"),
])
def test_real_sprites_refuse_what_no_real_sprite_shows(prompt, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        real_sprites_for(prompt, 10, pool=500)


def test_evaluate_real_sprites_needs_captions(capsys):
    assert main(["evaluate", "--prompt", "food apple red", "--real-sprites", "--n", "4"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert (line["prompt_set"], line["sampler"], line["n"], line["all_acc"]) == ("food apple red", "real sprites", 4, 1.0)
    assert main(["evaluate", "--real-sprites"]) == 2
    assert "--real-sprites scores real sprites of captions: give --prompt-set or --prompt too" in capsys.readouterr().err
