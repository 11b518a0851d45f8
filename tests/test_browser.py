"""End to end: the notebooks' widgets render and respond in JupyterLab, in a real (headless) Chromium.

A learner runs ``jupyter lab notebooks/``, opens a chapter, runs all cells and moves a slider; the sprite
image must change, no cell may show an error, and no widget may stay at "Loading widget...".  This catches
what the Python tests cannot: a missing or mismatched widget front-end, or an output that never updates.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``; .ci/run installs it) and the
``playwright`` Python package; no browser is downloaded.  Screenshots go to ``$COURSE_SCREENSHOTS``
(relative to the repo root, e.g. ``COURSE_SCREENSHOTS=docs/screenshots``) or else to pytest's tmp dir.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from browser_support import (
    CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT, DemoServer, LabServer, copy_notebook, image_fingerprint, open_notebook,
    page_errors, run_all_cells, screenshot, set_slider, slider, slider_range, wait_image_change,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
REAL = ["01_unet.ipynb", "02_training.ipynb", "03_context.ipynb", "04_ddpm_vs_ddim.ipynb"]
SELFCHECK = "00_selfcheck.ipynb"

# A tiny notebook with the same shape as the course widgets (a slider driving an ipywidgets.Image in a
# container with a CSS class): if this fails the harness or the front-end is broken, not the chapters.
SELFCHECK_SOURCE = r'''
import io, numpy as np, ipywidgets as W
from PIL import Image as PILImage

def png(mix):
    rng = np.random.default_rng(int(mix * 1000))
    a = (rng.random((16, 16, 3)) * 255).astype("uint8")
    buf = io.BytesIO(); PILImage.fromarray(a).resize((128, 128), PILImage.NEAREST).save(buf, "PNG")
    return buf.getvalue()

mix = W.FloatSlider(value=0.25, min=0.0, max=1.0, step=0.05, description="mix", continuous_update=False)
img = W.Image(value=png(mix.value), format="png", layout=W.Layout(width="128px"))
mix.observe(lambda ch: setattr(img, "value", png(ch["new"])), names="value")
box = W.VBox([mix, img]); box.add_class("course-selfcheck")
box
'''


def _selfcheck_notebook() -> dict:
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "selfcheck", "metadata": {},
                   "outputs": [], "source": SELFCHECK_SOURCE.strip()}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(INSTALL_HINT)
    return CHROMIUM


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    root = tmp_path_factory.mktemp("lab-root")
    state = tmp_path_factory.mktemp("lab-state")
    (root / SELFCHECK).write_text(json.dumps(_selfcheck_notebook()))
    for name in REAL:
        if (NOTEBOOKS / name).exists():
            copy_notebook(NOTEBOOKS / name, root / name)
    server = LabServer(root, state)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    pg = context.new_page()
    pg.js_errors = []
    pg.on("pageerror", lambda e: pg.js_errors.append(str(e)))
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory) -> Path:
    env = os.environ.get("COURSE_SCREENSHOTS")
    if env:
        d = Path(env) if Path(env).is_absolute() else REPO / env
    else:
        d = tmp_path_factory.mktemp("screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _need(name: str) -> None:
    if not (NOTEBOOKS / name).exists():
        pytest.skip(f"notebooks/{name} not written yet")


def _run_and_find(page, lab, name: str, css_class: str):
    t0 = time.monotonic()
    open_notebook(page, lab, name)
    prompts = run_all_cells(page, lab, name)
    print(f"{name}: ran {len(prompts)} code cells in {time.monotonic() - t0:.1f}s")
    container = page.locator(f".{css_class}").first
    try:
        container.wait_for(state="visible", timeout=30_000)
    except Exception as e:
        raise AssertionError(f"no rendered widget with class {css_class!r} in {name}; "
                             f"problems: {page_errors(page)}") from e
    return container


def _assert_clean(page, name: str) -> None:
    # give any widget renderer a moment to resolve, then require none pending and no errors
    deadline = time.monotonic() + 30
    while (problems := page_errors(page)) and time.monotonic() < deadline:
        time.sleep(1)
    assert problems == [], f"{name} shows problems: {problems}"


def _poke(container, description: str, target) -> tuple:
    before = image_fingerprint(container)
    set_slider(container, description, target)
    after = wait_image_change(container, before)
    lo, hi, now = slider_range(container, description)
    assert now == pytest.approx(float(target)), f"slider {description!r} reads {now}, expected {target}"
    assert after[0] != before[0] and after[1] != before[1]
    return before, after


def test_selfcheck_widget_round_trip(lab, page, tmp_path):
    """The harness itself: a slider change reaches the kernel and a new PNG comes back to the page."""
    box = _run_and_find(page, lab, SELFCHECK, "course-selfcheck")
    _poke(box, "mix", 0.8)
    _assert_clean(page, SELFCHECK)
    assert page.js_errors == []
    print(f"screenshot: {screenshot(page, box, tmp_path / 'selfcheck.png')}")


@pytest.mark.parametrize("name, css_class, control, target", [
    ("01_unet.ipynb", "course-feature-maps", "t", 100),  # a sprite still visible under the noise
    ("02_training.ipynb", "course-noising", "t", 60),
])
def test_chapter_widget_renders_and_responds(lab, page, shots_dir, name, css_class, control, target):
    _need(name)
    box = _run_and_find(page, lab, name, css_class)
    _assert_clean(page, name)
    lo, hi, now = slider_range(box, control)
    assert lo <= target <= hi and now != target, f"cannot move {control!r} to {target} (range {lo}..{hi}, value {now})"
    _poke(box, control, target)
    _assert_clean(page, name)
    print(f"screenshot: {screenshot(page, box, shots_dir / name.replace('.ipynb', '.png'))}")


def test_context_mixer_renders_and_responds(lab, page, shots_dir):
    name = "03_context.ipynb"
    _need(name)
    mixer = _run_and_find(page, lab, name, "course-context-mixer")
    for label in ("hero", "non-hero", "food", "spell", "side-facing"):
        assert slider(mixer, label).count() == 1, f"no {label!r} slider in the context mixer"
    _assert_clean(page, name)
    lo, hi, now = slider_range(mixer, "food")
    target = hi if now < (lo + hi) / 2 else lo
    before, after = _poke(mixer, "food", target)
    _assert_clean(page, name)
    shot = screenshot(page, mixer, shots_dir / "03_context.png")
    print(f"screenshot: {shot}")


def test_sampler_explorer_and_sketch_pad_respond(lab, page, shots_dir):
    name = "04_ddpm_vs_ddim.ipynb"
    _need(name)
    explorer = _run_and_find(page, lab, name, "course-sampler-explorer")
    _assert_clean(page, name)
    lo, hi, now = slider_range(explorer, "steps")
    target = max(lo, round(now / 2)) if now > lo else min(hi, now * 2)
    assert target != now, f"cannot move the steps slider (range {lo}..{hi}, value {now})"
    before, after = _poke(explorer, "steps", int(target))
    _assert_clean(page, name)
    shot = screenshot(page, explorer, shots_dir / "04_ddpm_vs_ddim.png")
    print(f"screenshot: {shot}")

    pad = page.locator(".course-sketch-pad").first
    pad.wait_for(state="visible", timeout=30_000)
    before = image_fingerprint(pad)
    pad.locator("button", has_text="blue").first.click()
    cell = pad.locator(".widget-gridbox button").nth(16 * 12 + 3)  # row 12, column 3: white in the starter
    cell.click()
    colour = "rgb(50, 90, 210)"  # PALETTE["blue"]
    page.wait_for_function("([el, c]) => getComputedStyle(el).backgroundColor === c", arg=[cell.element_handle(), colour])
    pad.locator("button", has_text="Make it a sprite").click()
    wait_image_change(pad, before)
    _assert_clean(page, name)
    print(f"screenshot: {screenshot(page, pad, shots_dir / '04_sketch_pad.png')}")


@pytest.fixture(scope="module")
def demo(chromium, tmp_path_factory):
    pytest.importorskip("voila", reason="the classroom demo needs Voilà: pip install -r requirements.txt")
    server = DemoServer(tmp_path_factory.mktemp("demo-state"))
    try:
        yield server.start()
    finally:
        server.stop()


DEMO_PANELS = ("course-race", "course-context-mixer", "course-caption-box", "course-caption-mixer",
               "course-training", "course-edit-explorer", "course-sketch-pad")


def test_classroom_demo_page(demo, page, shots_dir):
    """`python -m course_lib demo`: every panel shows, no code and no traceback on the page, projector sizes,
    and the race, the context presets and the training answer a click."""
    page.goto(demo.url)
    for panel in DEMO_PANELS:
        page.locator(f".{panel}").first.wait_for(state="visible", timeout=120_000)
    assert page.locator(".jp-InputArea-editor, .jp-CodeMirrorEditor, .cm-editor").count() == 0, "code is on the page"
    text = page.inner_text("body")
    assert "Traceback" not in text and "Error" not in text, demo.log_tail()
    labels = page.locator(".course-demo .widget-label")
    assert min(labels.nth(i).evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
               for i in range(labels.count())) >= 16
    race = page.locator(".course-race")
    page.wait_for_function("() => [...document.querySelectorAll('.course-race .widget-html-content')]"
                           ".filter(e => e.textContent.includes('done in')).length == 2", timeout=120_000)
    ddim_x_t = race.locator("img").nth(2)
    assert ddim_x_t.evaluate("e => e.getBoundingClientRect().width") >= 4 * 96  # 4 sprites, 96 px or more each
    before = image_fingerprint(race)
    set_slider(race, "DDIM steps", 5)
    wait_image_change(race, before)
    mixer = page.locator(".course-context-mixer")
    before = image_fingerprint(mixer)
    page.locator(".course-demo .widget-toggle-button", has_text="half hero, half food").click()
    wait_image_change(mixer, before)
    training = page.locator(".course-training")
    training.locator("button", has_text="Start training").click()
    page.wait_for_function("() => document.querySelector('.course-training').innerText.includes('Done in')",
                           timeout=120_000)
    assert training.locator("img").first.evaluate("e => e.naturalWidth") > 0
    text = page.inner_text("body")
    assert "Traceback" not in text and "stopped:" not in text.lower()
    print(f"screenshot: {screenshot(page, race, shots_dir / 'classroom_demo.png')}")
