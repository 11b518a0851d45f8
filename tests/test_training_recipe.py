"""The training recipe: t drawn by log-SNR, the presets on the command line and in the library, and
`bench --train`, which times a preset to its FID target."""
import json
import re
from pathlib import Path

import pytest
import torch

from course_lib import ContextUnet, NoiseSchedule
from course_lib.__main__ import main
from course_lib.memorisation import train_on_subset
from course_lib.pretrained import expected_sha256, load_weights, save_weights
from course_lib.recipe_bench import bench_recipe, recipe_markdown
from course_lib.skip_joins import noise_unet
from course_lib.training import (PRESETS, TrainConfig, check_config, diffusion_loss, draw_timesteps, preset_config,
                                 preset_model)

TINY = ["--n", "40", "--max-steps", "2", "--n-feat", "8"]


def test_nearest_t_inverts_the_log_snr_of_every_step(sched):
    steps = torch.arange(1, sched.timesteps + 1)
    assert torch.equal(sched.nearest_t(sched.snr(steps).log()), steps)
    assert sched.nearest_t(torch.tensor([100.0, -100.0])).tolist() == [1, 500]  # beyond the ends: the ends


def test_log_snr_normal_draws_centre_on_the_asked_snr(sched):
    t = draw_timesteps(sched, 20_000, torch.Generator().manual_seed(0), log_snr_normal=(0.0, 1.0))
    log_snr = sched.snr(t).log()
    assert abs(log_snr.median().item()) < 0.05 and 0.9 < log_snr.std().item() < 1.1
    uniform = draw_timesteps(sched, 5, torch.Generator().manual_seed(0))
    assert torch.equal(uniform, torch.randint(1, 501, (5,), generator=torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("spec", [(0.0,), (0.0, 0.0), (0.0, -1.0), (float("nan"), 1.0), "0,3", (True, 1.0)])
def test_a_bad_log_snr_normal_is_refused(spec):
    with pytest.raises(ValueError, match=r"log_snr_normal must be \(mean, std\)"):
        check_config(TrainConfig(log_snr_normal=spec))


def test_input_perturbation_shows_the_network_extra_noise_and_keeps_the_target(sched):
    torch.manual_seed(0)
    model = ContextUnet(n_feat=8).eval()  # predicts ε
    x0 = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    loss = diffusion_loss(model, sched, x0, None, torch.Generator().manual_seed(3), input_perturbation=0.1)
    g = torch.Generator().manual_seed(3)  # the draws diffusion_loss makes, in its order: t, ε, ξ
    t = torch.randint(1, sched.timesteps + 1, (4,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    xi = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        out = model(sched.add_noise(x0, t, noise + 0.1 * xi), t / sched.timesteps, None)
        unperturbed = model(sched.add_noise(x0, t, noise), t / sched.timesteps, None)
    assert loss.item() == pytest.approx(((out - noise) ** 2).mean().item(), rel=1e-5)
    assert not torch.allclose(out, unperturbed)  # γ = 0.1 is large enough for the first check to tell


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan"), True, "0.1"])
def test_a_bad_input_perturbation_is_refused(gamma):
    with pytest.raises(ValueError, match=r"input_perturbation \(γ, --input-perturbation\) must be a number in "
                                         r"\[0, 1\], got " + re.escape(repr(gamma))):
        check_config(TrainConfig(input_perturbation=gamma))


def test_input_perturbation_on_the_command_line_reaches_the_run(tmp_path, capsys):
    checkpoint = tmp_path / "run.ckpt"
    assert main(["train", *TINY, "--batch-size", "20", "--input-perturbation", "0.1", "--checkpoint",
                 str(checkpoint), "--out", str(tmp_path / "w.pt")]) == 0
    assert torch.load(checkpoint, weights_only=True)["train_config"]["input_perturbation"] == 0.1


def test_the_live_preset_is_the_x0_recipe_of_notebook_02():
    model, config = preset_model("live"), preset_config("live")
    assert (model.n_feat, model.prediction, model.context_film) == (32, "x0", True)
    assert (config.max_steps, config.epochs, config.batch_size, config.lr) == (1250, None, 64, 2e-3)
    assert config.log_snr_normal == (0.0, 2.0) and preset_config("course").log_snr_normal is None
    assert config.context_dropout == 0.05 and preset_config("course").context_dropout == 0.1
    assert PRESETS["live"].n_sprites == 8000
    assert preset_model("course").config == {"in_channels": 3, "n_feat": 64, "n_cfeat": 5, "height": 16}


def test_notebook_02_trains_the_live_preset_at_full_settings():
    cells = json.loads((Path(__file__).parents[1] / "notebooks" / "02_training.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "N_SPRITES = " in "".join(c["source"]))
    settings = {"QUICK": False}
    exec("\n".join(line for line in source.splitlines() if line.split(" ")[0].isupper()), settings)
    preset, config = PRESETS["live"], preset_config("live")
    assert (settings["N_SPRITES"], settings["N_FEAT"], settings["PREDICTION"]) == (preset.n_sprites, preset.n_feat,
                                                                                 preset.prediction)
    assert (settings["CONTEXT_FILM"], settings["CONTEXT_DROPOUT"]) == (preset.context_film, config.context_dropout)
    assert (settings["LOG_SNR_NORMAL"], settings["BATCH"]) == (config.log_snr_normal, config.batch_size)
    assert settings["EPOCHS"] * (settings["N_SPRITES"] // settings["BATCH"]) == config.max_steps
    training_cell = next("".join(c["source"]) for c in cells if "run = train(" in "".join(c["source"]))
    for argument in ("context_film=CONTEXT_FILM", "context_dropout=CONTEXT_DROPOUT", "log_snr_normal=LOG_SNR_NORMAL",
                     "batch_size=BATCH", "lr=2e-3"):
        assert argument in training_cell
    assert config.lr == 2e-3


def test_the_recorded_experiments_keep_the_network_they_were_measured_with():
    model, _ = train_on_subset(16, steps=1)
    assert (model.n_feat, model.prediction, model.context_film) == (32, "x0", False)
    assert not noise_unet(32, "add").context_film and preset_model("live").context_film


def test_an_unknown_preset_names_the_ones_there_are():
    with pytest.raises(ValueError, match=r"unknown preset 'fast'; choose one of \['course', 'live'\]"):
        preset_config("fast")


def test_train_with_the_live_preset_writes_an_x0_model(tmp_path, capsys):
    out, checkpoint = tmp_path / "live.pt", tmp_path / "live.ckpt"
    assert main(["train", "--preset", "live", *TINY, "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    config = torch.load(checkpoint, weights_only=True)["train_config"]
    assert (config["batch_size"], config["lr"], tuple(config["log_snr_normal"])) == (64, 2e-3, (0.0, 2.0))
    assert config["context_dropout"] == 0.05
    model, _ = load_weights(out, sha256=expected_sha256(out))
    assert model.prediction == "x0" and model.n_feat == 8  # an option given overrides the preset's
    assert model.context_film
    entry = json.loads((tmp_path / "manifest.json").read_text())["live.pt"]
    assert entry["preset"] == "live" and entry["steps"] == 2 and entry["n_sprites"] == 40


def test_no_context_film_turns_off_the_live_presets_film_layers(tmp_path, capsys):
    out = tmp_path / "live.pt"
    assert main(["train", "--preset", "live", *TINY, "--no-context-film", "--out", str(out)]) == 0
    model, _ = load_weights(out)
    assert not model.context_film and "context_film" not in model.config


def test_the_live_preset_with_init_keeps_the_weights_network_and_takes_its_dropout(tmp_path, capsys):
    save_weights(preset_model("course", n_feat=8), NoiseSchedule(), tmp_path / "init.pt")
    out, checkpoint = tmp_path / "out.pt", tmp_path / "run.ckpt"
    assert main(["train", "--preset", "live", "--n", "40", "--max-steps", "1", "--init", str(tmp_path / "init.pt"),
                 "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    model, _ = load_weights(out)
    assert model.config == {"in_channels": 3, "n_feat": 8, "n_cfeat": 5, "height": 16}  # no FiLM layers added
    assert torch.load(checkpoint, weights_only=True)["train_config"]["context_dropout"] == 0.05


def test_train_without_a_preset_is_the_courses_eps_network(tmp_path, capsys):
    out = tmp_path / "course.pt"
    assert main(["train", *TINY, "--batch-size", "20", "--out", str(out)]) == 0
    model, _ = load_weights(out)
    assert model.prediction == "eps" and "prediction" not in model.config


def test_log_snr_normal_on_the_command_line_reaches_the_run(tmp_path, capsys):
    checkpoint = tmp_path / "run.ckpt"
    assert main(["train", *TINY, "--batch-size", "20", "--log-snr-normal", "1,1.5", "--checkpoint", str(checkpoint),
                 "--out", str(tmp_path / "w.pt")]) == 0
    assert tuple(torch.load(checkpoint, weights_only=True)["train_config"]["log_snr_normal"]) == (1.0, 1.5)


def test_context_dropout_on_the_command_line_reaches_the_run(tmp_path, capsys):
    checkpoint = tmp_path / "run.ckpt"
    assert main(["train", "--preset", "live", *TINY, "--context-dropout", "0.2", "--checkpoint", str(checkpoint),
                 "--out", str(tmp_path / "w.pt")]) == 0
    assert torch.load(checkpoint, weights_only=True)["train_config"]["context_dropout"] == 0.2
    assert main(["train", *TINY, "--context-dropout", "1.5", "--out", str(tmp_path / "x.pt")]) == 2
    assert "--context-dropout) must be a number in [0, 1], got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("option", [["--n-feat", "16"], ["--prediction", "x0"]])
def test_network_options_with_init_are_refused(tmp_path, capsys, option):
    save_weights(preset_model("course", n_feat=8), NoiseSchedule(), tmp_path / "init.pt")
    args = ["train", "--n", "40", "--max-steps", "1", "--init", str(tmp_path / "init.pt"), *option,
            "--out", str(tmp_path / "out.pt")]
    assert main(args) == 2
    assert f"{option[0]} would do nothing with --init" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


def test_bench_train_scores_at_each_interval_and_reports_speed():
    report = bench_recipe(max_steps=4, eval_every=2, n=50, n_sprites=64, target=1e9)
    assert [row["step"] for row in report["scores"]] == [2, 4]  # 64 sprites: one step per epoch
    assert report["steps"] == 4 and report["batch_size"] == 64
    assert report["sprites_per_second"] == pytest.approx(report["steps_per_second"] * 64, rel=0.01)
    assert report["seconds_to_target"] == report["scores"][0]["train_seconds"]  # any FID meets 1e9
    assert all(0 <= row["acc_g2"] <= 1 and row["fid_g2"] > 0 for row in report["scores"])
    table = recipe_markdown(report, "this CPU")
    assert "| 2 |" in table and "| 4 |" in table and "steps/s" in table


def test_bench_train_and_latency_are_one_at_a_time(capsys):
    assert main(["bench", "--train", "--latency"]) == 2
    assert "two different benches" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--repeats", "0"], "--repeats must be a whole number >= 1, got 0"),
    (["--train-steps", "0"], "--train-steps must be a whole number >= 1, got 0"),
    (["--train", "--eval-every", "-5"], "--eval-every must be a whole number >= 1, got -5"),
    (["--batches", "-2"], "--batches takes sampling batch sizes >= 1, comma-separated (e.g. 32,128), got '-2'"),
    (["--batches", "32,x"], "--batches takes sampling batch sizes >= 1"),
])
def test_bench_counts_that_would_time_nothing_are_refused(capsys, args, message):
    assert main(["bench", *args]) == 2
    assert message in capsys.readouterr().err


def test_bench_options_of_train_are_refused_without_it(capsys):
    assert main(["bench", "--preset", "course", "--seed", "3"]) == 2
    assert "--preset and --seed would do nothing without --train" in capsys.readouterr().err
