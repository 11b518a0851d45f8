"""Helpers for the end-to-end browser tests: a headless JupyterLab server and widget pokes via Playwright.

Everything here runs against Debian's Chromium (``/usr/bin/chromium``), never a downloaded browser.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = (
    "Chromium not found at /usr/bin/chromium; install it with "
    "`sudo apt-get update && sudo apt-get install -y chromium` (Debian/Ubuntu; .ci/run does this)"
)
# As root, in a container, with a closed network: no sandbox, no GPU, and no background connections
# (without these Chromium stalls on refused connections).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

# Lab user settings: no news/update fetches, and every cell attached to the DOM (no windowing), so
# that the prompts and outputs of all cells can be inspected.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` on 127.0.0.1 with a private root dir, settings and runtime dir; kernels get COURSE_QUICK=1."""

    def __init__(self, root: Path, state: Path):
        self.root, self.state = Path(root), Path(state)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.state / "jupyter-lab.log"

    # -- REST
    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?token={self.token}&reset"

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- lifecycle
    def start(self, timeout: float = 90) -> "LabServer":
        settings = self.state / "user-settings"
        for rel, value in LAB_SETTINGS.items():
            p = settings / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(value))
        (self.state / "workspaces").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, COURSE_QUICK="1",
                   JUPYTER_RUNTIME_DIR=str(self.state / "runtime"),
                   JUPYTER_CONFIG_DIR=str(self.state / "config"))
        env.pop("JUPYTER_TOKEN", None)
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.state / 'workspaces'}",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer on {self.base} in {timeout}s:\n{self.log_tail()}")

    def kernel_state(self, notebook: str) -> str | None:
        """Execution state of the kernel of the session for ``notebook`` (None while there is none)."""
        for sess in self.api("/api/sessions"):
            if sess.get("path") == notebook and sess.get("kernel"):
                return self.api(f"/api/kernels/{sess['kernel']['id']}").get("execution_state")
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            for k in self.api("/api/kernels"):
                try:
                    self.api(f"/api/kernels/{k['id']}", method="DELETE")
                except Exception:
                    pass
        except Exception:
            pass
        stop_server(self.proc)
        self.proc = None


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started as its own process group, then the kernels it started (each in a group of its own)."""
    pid = proc.pid
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"JPY_PARENT_PID={pid}".encode() in environ:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


class DemoServer:
    """``python -m course_lib demo --quick --no-browser`` on a free port, with private Jupyter dirs."""

    def __init__(self, state: Path):
        self.state = Path(state)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = self.state / "voila.log"
        self.proc: subprocess.Popen | None = None

    log_tail = LabServer.log_tail  # the end of self.log_path, as for the Lab server

    def start(self, timeout: float = 90) -> "DemoServer":
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.state / "runtime"),
                   JUPYTER_CONFIG_DIR=str(self.state / "config"))
        cmd = [sys.executable, "-m", "course_lib", "demo", "--quick", "--no-browser", "--port", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo exited with {self.proc.returncode}:\n{self.log_tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.3)
        raise TimeoutError(f"the demo did not listen on {self.url} in {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_server(self.proc)
            self.proc = None


# ---------------------------------------------------------------- page helpers (Playwright sync API)

ERROR_JS = r"""() => {
  const out = [];
  for (const el of document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
    out.push('error output: ' + el.innerText.slice(0, 2000));
  for (const el of document.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'))
    if (/Traceback|Error:/.test(el.innerText)) out.push('stderr: ' + el.innerText.slice(0, 2000));
  for (const el of document.querySelectorAll('.jp-OutputArea-output'))
    if (/^(Loading widget\.\.\.|Error displaying widget.*)$/.test(el.innerText.trim())) out.push('widget: ' + el.innerText.trim());
  // without the widget front-end (jupyterlab_widgets) Lab falls back to the widget's text/plain repr
  for (const el of document.querySelectorAll('.jp-OutputArea-output[data-mime-type="text/plain"]'))
    if (/^\w+\((children|value|description|layout|min|max|options)=/.test(el.innerText.trim()))
      out.push('widget shown as plain text, not rendered (is jupyterlab_widgets installed?): ' + el.innerText.trim().slice(0, 200));
  return out;
}"""

PROMPTS_JS = r"""() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt'))
  .map(e => e.innerText.trim())"""


def dismiss_dialogs(page) -> None:
    """Accept a 'Select Kernel' (or any other) dialog with its default button."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        accept = dialog.locator(".jp-mod-accept")
        (accept.first.click() if accept.count() else page.keyboard.press("Escape"))


def open_notebook(page, server: LabServer, name: str, timeout_ms: int = 90_000) -> None:
    page.goto(server.url(name), wait_until="domcontentloaded", timeout=timeout_ms)
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=timeout_ms)
    # wait for the notebook's kernel to have started and be idle
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        dismiss_dialogs(page)
        try:
            if server.kernel_state(name) == "idle":
                break
        except Exception:
            pass
        time.sleep(0.5)
    else:
        raise TimeoutError(f"kernel for {name} never became idle:\n{server.log_tail()}")


def run_all_cells(page, server: LabServer, name: str, timeout_s: float = 240) -> list[str]:
    """Run > Run All Cells through the menu bar; wait until every code cell has a number and the kernel is idle.

    Fails early when the kernel is idle but cells are left unrun (Run All stops at a cell that raised)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel",
                 has_text=re.compile(r"^Run All Cells$")).click()
    t0 = time.monotonic()
    prompts: list[str] = []
    stalled_since = None
    while time.monotonic() - t0 < timeout_s:
        dismiss_dialogs(page)
        prompts = page.evaluate(PROMPTS_JS)
        idle = server.kernel_state(name) == "idle"
        done = [bool(re.fullmatch(r"\[\d+\]:", p)) for p in prompts]
        if prompts and all(done) and idle:
            return prompts
        if idle and any(done) and "[*]:" not in prompts:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 5:
                raise AssertionError(f"Run All stopped in {name} after code cell {done.index(False) + 1} of "
                                     f"{len(prompts)}; prompts {prompts}; problems: {page_errors(page)}")
        else:
            stalled_since = None
        time.sleep(1)
    raise TimeoutError(f"Run All did not finish in {timeout_s}s in {name}: prompts {prompts}; "
                       f"problems: {page_errors(page)}")


def copy_notebook(src: Path, dst: Path) -> Path:
    """Copy a notebook without its stored outputs and prompt numbers (so 'all cells ran' is unambiguous)."""
    nb = json.loads(Path(src).read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    dst.write_text(json.dumps(nb, indent=1))
    return dst


def page_errors(page) -> list[str]:
    return page.evaluate(ERROR_JS)


def slider(container, description: str):
    """The ipywidgets slider inside ``container`` whose description label is ``description``."""
    return container.locator(".widget-slider").filter(
        has=container.page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$")))


def set_slider(container, description: str, value) -> None:
    """Type ``value`` into the slider's editable readout and press Enter (like a learner would)."""
    s = slider(container, description)
    s.wait_for(timeout=30_000)
    readout = s.locator(".widget-readout")
    readout.click()
    readout.press("ControlOrMeta+a")
    readout.type(str(value))
    readout.press("Enter")


def slider_range(container, description: str) -> tuple[float, float, float]:
    """(min, max, value) from the noUiSlider handle's aria attributes."""
    h = slider(container, description).locator(".noUi-handle").first
    h.wait_for(timeout=30_000)
    return tuple(float(h.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax", "aria-valuenow"))


def slider_value(container, description: str) -> str:
    return slider(container, description).locator(".widget-readout").inner_text().strip()


def image_fingerprint(container, timeout_s: float = 30) -> tuple[str, str]:
    """(src, sha256 of the PNG bytes) of the first ``<img>`` in the container.

    The widget shows its PNG through a blob URL that it revokes on every update, so the bytes are fetched
    in the page and the read is retried when an update revokes the URL under our feet."""
    img = container.locator("img").first
    img.wait_for(timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    while True:
        got = img.evaluate(
            """async (el) => { const src = el.src;
                 try { const b = new Uint8Array(await (await fetch(src)).arrayBuffer());
                       let s = ''; for (const x of b) s += String.fromCharCode(x); return [src, btoa(s)]; }
                 catch (e) { return [src, null]; } }""")
        if got[1]:
            return got[0], hashlib.sha256(got[1].encode()).hexdigest()
        if time.monotonic() > deadline:
            raise AssertionError(f"could not read the widget image {got[0]!r}")
        time.sleep(0.2)


def wait_image_change(container, before: tuple[str, str], timeout_s: float = 120) -> tuple[str, str]:
    deadline = time.monotonic() + timeout_s
    now = before
    while time.monotonic() < deadline:
        now = image_fingerprint(container)
        if now[1] != before[1]:
            return now
        time.sleep(0.5)
    raise AssertionError(f"the widget's image did not change within {timeout_s}s (src {before[0]!r} -> {now[0]!r})")


def screenshot(page, container, path: Path) -> Path:
    """Screenshot of the page with the left sidebar (file browser) collapsed and the widget in view."""
    current = page.locator("#jp-left-stack:not(.lm-mod-hidden)")
    if current.count():
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").first.click()
    page.mouse.move(0, 0)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    container.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path
