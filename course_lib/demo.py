"""``python -m course_lib demo``: the classroom demo page (notebooks/classroom_demo.ipynb) served by Voilà,
which shows the notebook's outputs and widgets as a web page with the code hidden. Works offline."""
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

DEMO_NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "classroom_demo.ipynb"
DEFAULT_PORT = 8866  # Voilà's own default


def add_demo_arguments(parser):
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the page's port (default {DEFAULT_PORT})")
    parser.add_argument("--no-browser", action="store_true", help="print the address only; do not open a browser")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (a DDPM lane of 50 steps, a few training steps): a rehearsal in seconds")
    parser.add_argument("--latency", action="store_true",
                        help="serve nothing: time how long each panel takes to answer a control on this machine")


def check_port(port):
    """ValueError unless `port` is a port number nothing on this machine is listening on."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"--port must be a port number from 1 to 65535, got {port!r}")
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise ValueError(f"port {port} is in use (another demo or Jupyter?): stop it, or pick another with "
                             f"--port {port + 1}") from None


def voila_command(port, open_browser=True):
    """The Voilà command line that serves the demo notebook on localhost:`port`."""
    command = [sys.executable, "-m", "voila", str(DEMO_NOTEBOOK), f"--port={port}", "--Voila.ip=127.0.0.1"]
    return command + ([] if open_browser else ["--no-browser"])


def latency_table(repeats=3):
    """Markdown: each panel's median seconds to answer a control, at the demo's sizes, on this machine."""
    from .bench import machine_description
    from .demo_widgets import DEMO_CAPTION_STEPS, DEMO_STEPS, panel_latency
    from .editing import held_out_sprites
    from .pretrained import load_pretrained

    model, sched = load_pretrained()
    caption_model, caption_sched = load_pretrained("captions")
    seconds = panel_latency(model, sched, caption_model, caption_sched, *held_out_sprites(8), repeats=repeats)
    lines = [f"Machine: {machine_description()}; DDIM {DEMO_STEPS} steps ({DEMO_CAPTION_STEPS} for captions), "
             f"median of {repeats}.", "",
             "| panel | seconds to answer |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {s:.2f} |" for name, s in seconds.items()])


def run_demo_command(args):
    if args.latency:
        if args.quick or args.no_browser:
            raise ValueError("--latency serves nothing: drop --quick and --no-browser")
        print(latency_table())
        return
    if importlib.util.find_spec("voila") is None:
        raise ValueError("the demo needs Voilà: pip install -r requirements.txt (or pip install voila)")
    check_port(args.port)
    env = dict(os.environ, COURSE_QUICK="1" if args.quick else os.environ.get("COURSE_QUICK", "0"))
    print(f"classroom demo: http://127.0.0.1:{args.port}/  (Ctrl+C stops it)", flush=True)
    try:
        code = subprocess.call(voila_command(args.port, not args.no_browser), env=env)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise ValueError(f"Voilà stopped with exit status {code}; its messages are above")
