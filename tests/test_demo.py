"""The classroom demo: its command line and its panels driven from Python (the page itself: test_browser.py)."""
import socket
import sys

import pytest
import torch

from course_lib import ContextUnet, NoiseSchedule
from course_lib.__main__ import main
from course_lib.demo import DEMO_NOTEBOOK, check_port, voila_command
from course_lib.demo_widgets import denoising_race, preset_buttons, training_panel


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return ContextUnet(n_feat=16).eval()


def test_voila_command_serves_the_demo_notebook():
    command = voila_command(8870, open_browser=False)
    assert command[:3] == [sys.executable, "-m", "voila"] and command[3] == str(DEMO_NOTEBOOK)
    assert "--port=8870" in command and "--no-browser" in command and DEMO_NOTEBOOK.exists()
    assert "--no-browser" not in voila_command(8870)


def test_a_busy_or_impossible_port_is_refused(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {busy} is in use.*--port {busy + 1}"):
            check_port(busy)
        assert main(["demo", "--port", str(busy), "--no-browser"]) == 2
    assert f"port {busy} is in use" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--port must be a port number from 1 to 65535, got 70000"):
        check_port(70000)


def test_demo_without_voila_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert main(["demo", "--no-browser"]) == 2
    assert "the demo needs Voilà: pip install -r requirements.txt" in capsys.readouterr().err


def test_race_runs_both_lanes_and_a_newer_race_replaces_it(small_model):
    sched = NoiseSchedule(timesteps=20)
    race = denoising_race(small_model, sched, ddim_steps=4, n=2, scale=2)
    race.wait()
    labels = {name: lane[2].value for name, lane in race.lanes.items()}
    assert "20 steps: done in" in labels["ddpm"] and "4 steps: done in" in labels["ddim"]
    shown = race.lanes["ddim"][0].value
    race.steps.value = 2
    race.wait()
    assert "2 steps: done in" in race.lanes["ddim"][2].value and race.lanes["ddim"][0].value != shown


def test_training_panel_trains_shows_and_stops(small_model):
    sched = NoiseSchedule(timesteps=20)
    panel = training_panel(sched, n_sprites=128, max_steps=4, epochs=2, sample_steps=2, scale=2)  # 2 steps an epoch
    assert panel.samples.value == b"" and not panel.start.disabled and panel.stop.disabled
    panel.start.click()
    panel.wait(120)
    assert "epoch 2 of 2: 4 steps" in panel.status.value and "Done in" in panel.status.value
    assert panel.samples.value[:4] == b"\x89PNG" and panel.loss.value[:4] == b"\x89PNG"
    panel = training_panel(sched, n_sprites=128, max_steps=40, epochs=20, sample_steps=2, scale=2)
    panel.start.click()
    panel.stop.click()  # the run ends at its first epoch's end
    panel.wait(120)
    assert panel.status.value.endswith("Stopped.") and not panel.start.disabled


def test_preset_buttons_set_and_follow_their_control():
    import ipywidgets as w

    menu = w.Dropdown(options=["hero", "food", "spell"], value="hero")
    buttons = preset_buttons(["hero", "food"], menu)
    buttons.value = "food"
    assert menu.value == "food"
    menu.value = "spell"
    assert buttons.value is None


def test_panel_latency_times_each_panel(small_model):
    from course_lib.captions import VOCABULARY
    from course_lib.demo_widgets import panel_latency
    from course_lib.editing import held_out_sprites

    torch.manual_seed(0)
    caption_model = ContextUnet(n_feat=16, n_cfeat=len(VOCABULARY)).eval()
    sched = NoiseSchedule(timesteps=20)
    seconds = panel_latency(small_model, sched, caption_model, sched, *held_out_sprites(2), repeats=1, steps=2)
    assert list(seconds) == ["context mixer", "caption box", "edit explorer", "sketch pad"]
    assert all(0 < s < 60 for s in seconds.values())
