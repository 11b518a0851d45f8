"""The classroom demo's own panels (notebooks/classroom_demo.ipynb, served with its code hidden by
``python -m course_lib demo``): the denoising race, training in front of the class, and the projector's style.

The race and the training run in background threads, so their pictures update while they compute and a
click on another control is answered at once; a newer race cancels the older one at its next step.
Like ``widgets``, nothing in the library imports this module.
"""
import threading
import time

import torch
from matplotlib.figure import Figure

from .data import CLASS_NAMES, SpriteDataset
from .latency import median_seconds
from .progress_snapshots import sample_snapshot
from .samplers import sample_ddim, sample_ddpm
from .training import PRESETS, preset_model, train
from .viz import figure_png, plot_losses
from .widgets import sprites_png

PROJECTOR_CSS = """<style>
.course-demo .widget-label, .course-demo .widget-readout, .course-demo .widget-html-content,
.course-demo .widget-button, .course-demo .widget-toggle-button, .course-demo select,
.course-demo input {font-size: 16px !important;}
.course-demo .widget-label {min-width: 120px;}
.course-demo .widget-html-content {line-height: 1.5;}
</style>"""
PROJECTOR_SCALE = 7  # 16-pixel sprites shown 112 px wide
DEMO_STEPS = 25  # DDIM steps of the class panels and the editing (the race's DDIM lane starts there too)
DEMO_CAPTION_STEPS = 10  # DDIM steps of the caption panels (guided and composed: 2 to 3 times the network calls)
DEMO_SPRITES = 6  # sprites per row in the context and caption panels


def panel_latency(model, sched, caption_model, caption_sched, sprites, classes, repeats=3, steps=DEMO_STEPS):
    """{panel: median seconds} of what each panel computes when a control moves, at the demo's sizes, after a
    warm-up call (the race's lanes run in the background and show "working…" at once, so they are not here)."""
    from .caption_widgets import caption_box
    from .editing_widgets import edit_explorer, sketch_pad
    from .widgets import context_mixer

    panels = {"context mixer": context_mixer(model, sched, n=DEMO_SPRITES, steps=steps, scale=PROJECTOR_SCALE),
              "caption box": caption_box(caption_model, caption_sched, n=DEMO_SPRITES,
                                         steps=min(steps, DEMO_CAPTION_STEPS), scale=PROJECTOR_SCALE),
              "edit explorer": edit_explorer(model, sched, sprites, classes, steps=steps, scale=PROJECTOR_SCALE),
              "sketch pad": sketch_pad(model, sched, steps=steps, scale=PROJECTOR_SCALE)}
    return {name: median_seconds(panel.render, repeats) for name, panel in panels.items()}


class _Superseded(Exception):
    """Raised inside a step callback when a newer run has started: ends the old run quietly."""


def denoising_race(model, sched, context="hero", ddim_steps=25, ddpm_steps=None, n=4, seed=0,
                   scale=PROJECTOR_SCALE, frames_per_second=8):
    """DDPM (all T steps) and DDIM (`ddim_steps`) from the same noise, each in its own thread: x_t and the
    predicted clean sprite x̂_0 update as they are computed, with the step and the seconds so far.

    Starts a race at once and after every change of a control. Returns a VBox with CSS classes
    "course-demo course-race"; ``.steps``, ``.seed``, ``.context``, ``.lanes`` ({"ddpm"|"ddim": (x_t image,
    x̂_0 image, label)}) and ``.wait()`` (blocks until the current race ends) give access to its parts."""
    import ipywidgets as w

    ddpm_steps = sched.timesteps if ddpm_steps is None else ddpm_steps
    steps = w.IntSlider(value=ddim_steps, min=2, max=100, description="DDIM steps", continuous_update=False)
    seed_box = w.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
    context_menu = w.Dropdown(options=list(CLASS_NAMES[:model.n_cfeat]), value=context, description="class")
    again = w.Button(description="Race again", button_style="primary")
    lanes = {name: (w.Image(format="png"), w.Image(format="png"), w.HTML()) for name in ("ddpm", "ddim")}
    state = {"race": 0, "threads": []}

    def run_lane(race, name, sampler, k, x_T, context):
        image, x0_image, label = lanes[name]
        title = f"<b>{name.upper()}</b>, {k} steps"
        start = last = time.perf_counter()

        def show(step):
            nonlocal last
            if state["race"] != race:
                raise _Superseded
            now = time.perf_counter()
            if now - last >= 1 / frames_per_second or step["t"] == 0:
                last = now
                image.value = sprites_png(step["x"].clamp(-1, 1).cpu(), nrow=n, scale=scale)
                if step["x0_hat"] is not None:
                    x0_image.value = sprites_png(step["x0_hat"].cpu(), nrow=n, scale=scale)
                label.value = f"{title}: step {step['i'] + 1} of {k}, {now - start:.1f} s"

        try:
            sampler(model, sched, n=n, steps=k, context=context, x_T=x_T,
                    generator=torch.Generator().manual_seed(seed_box.value), callback=show)
            label.value = f"{title}: done in {time.perf_counter() - start:.1f} s"
        except _Superseded:
            pass
        except Exception as error:  # shown on the page, where a teacher can read it, not as a traceback
            label.value = f"{title}: stopped: {error}"

    def start(*_):
        state["race"] += 1
        x_T = torch.randn(n, model.in_channels, model.height, model.height,
                          generator=torch.Generator().manual_seed(seed_box.value))
        context = torch.eye(model.n_cfeat)[[CLASS_NAMES.index(context_menu.value)] * n]
        runs = (("ddpm", sample_ddpm, ddpm_steps), ("ddim", sample_ddim, steps.value))
        for name, _, k in runs:
            lanes[name][2].value = f"<b>{name.upper()}</b>, {k} steps: working…"
        state["threads"] = [threading.Thread(target=run_lane, args=(state["race"], name, sampler, k, x_T, context),
                                             daemon=True) for name, sampler, k in runs]
        for thread in state["threads"]:
            thread.start()

    def wait(timeout=None):
        for thread in state["threads"]:
            thread.join(timeout)

    for control in (steps, seed_box, context_menu):
        control.observe(start, names="value")
    again.on_click(start)
    columns = [w.VBox([label, w.HTML("x<sub>t</sub>"), image, w.HTML("x̂<sub>0</sub>, its guess of the clean sprite"),
                       x0_image], layout=w.Layout(margin="0 40px 0 0")) for image, x0_image, label in lanes.values()]
    box = w.VBox([w.HBox([steps, seed_box, context_menu, again]), w.HBox(columns)])
    box.add_class("course-demo")
    box.add_class("course-race")
    box.steps, box.seed, box.context, box.again, box.lanes, box.wait = steps, seed_box, context_menu, again, lanes, wait
    start()
    return box


def preset_buttons(options, control):
    """A row of buttons, one per option, that set `control.value` when clicked (and follow it)."""
    import ipywidgets as w

    buttons = w.ToggleButtons(options=options, value=control.value if control.value in options else None,
                              style={"button_width": "auto"})
    buttons.observe(lambda change: change["new"] is not None and setattr(control, "value", change["new"]),
                    names="value")
    control.observe(lambda change: setattr(buttons, "value", change["new"] if change["new"] in options else None),
                    names="value")
    buttons.add_class("course-demo")
    return buttons


class _Stopped(Exception):
    """Raised by the epoch callback when the teacher pressed Stop."""


def training_panel(sched, preset="live", n_sprites=None, max_steps=None, epochs=10, sample_steps=50,
                   scale=PROJECTOR_SCALE, device="cpu"):
    """Chapter 2's live run in front of the class: Start trains a fresh network with the `preset` recipe
    (sizes overridable), and after every epoch shows its samples (two per class, the same noise each time)
    and the loss curve; Stop ends the run after the current epoch.

    Returns a VBox with CSS classes "course-demo course-training"; ``.start``, ``.stop``, ``.status``,
    ``.samples``, ``.loss`` and ``.wait()`` give access to its parts."""
    import ipywidgets as w

    recipe = PRESETS[preset]
    n_sprites = recipe.n_sprites if n_sprites is None else n_sprites
    max_steps = recipe.config["max_steps"] if max_steps is None else max_steps
    start_button = w.Button(description="Start training", button_style="success")
    stop_button = w.Button(description="Stop", button_style="danger", disabled=True)
    status = w.HTML(f"A fresh network ({recipe.n_feat} features), {n_sprites:,} sprites, {max_steps:,} steps "
                    f"in {epochs} epochs: press <b>Start training</b>.")
    samples, loss = w.Image(format="png"), w.Image(format="png")
    state = {"stop": False, "thread": None}

    def after_epoch(result):
        if state["stop"]:
            raise _Stopped
        grid = sample_snapshot(result.ema_model, sched, steps=sample_steps)
        samples.value = sprites_png(grid, nrow=len(grid), scale=scale)
        fig = Figure(figsize=(7, 3))  # not pyplot's: this runs outside the main thread
        plot_losses(result.losses, ax=fig.subplots(), title=f"loss after {result.step:,} steps",
                    prediction=recipe.prediction)
        loss.value = figure_png(fig)
        status.value = f"epoch {round(result.epoch)} of {epochs}: {result.step:,} steps, {result.seconds:.0f} s."

    def run():
        start = time.perf_counter()
        try:
            torch.manual_seed(0)
            model = preset_model(preset).to(device)
            data = SpriteDataset.generated(n_sprites, seed=0)
            train(model, sched, data, callback=after_epoch, progress=False,
                  **dict(recipe.config, epochs=epochs, max_steps=max_steps))
            status.value += f" Done in {time.perf_counter() - start:.0f} s."
        except _Stopped:
            status.value += " Stopped."
        except Exception as error:  # on the page, not as a traceback
            status.value = f"Training stopped: {error}"
        finally:
            start_button.disabled, stop_button.disabled = False, True

    def on_start(_):
        state["stop"] = False
        start_button.disabled, stop_button.disabled = True, False
        status.value = "Training: the first samples come after one epoch…"
        state["thread"] = threading.Thread(target=run, daemon=True)
        state["thread"].start()

    def on_stop(_):
        state["stop"] = True
        stop_button.disabled = True
        status.value += " Stopping after this epoch…"

    def wait(timeout=None):
        if state["thread"] is not None:
            state["thread"].join(timeout)

    start_button.on_click(on_start)
    stop_button.on_click(on_stop)
    box = w.VBox([w.HBox([start_button, stop_button]), status, samples, loss])
    box.add_class("course-demo")
    box.add_class("course-training")
    box.start, box.stop, box.status, box.samples, box.loss, box.wait = (
        start_button, stop_button, status, samples, loss, wait)
    return box
