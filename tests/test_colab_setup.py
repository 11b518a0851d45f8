"""The notebooks on Colab: the setup cell's Colab branch, run offline, and the links built from pyproject.toml.

The Colab branch is run in a fresh interpreter that has torch but not course_lib (no site-packages .pth
files, so the installed course_lib is invisible), with a stand-in ``google.colab`` module, a local git
repository in place of the GitHub address and a temporary folder in place of /content/course.
"""
import json
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from course_lib import colab

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
NAMES = [path.name for path in NOTEBOOKS]

RUN_CELL = r'''
import importlib.util, json, os, subprocess, sys, types
sys.path += {site_dirs!r}  # torch and friends, without the .pth file that makes course_lib importable
assert importlib.util.find_spec("course_lib") is None, "course_lib must not be importable before the cell"
sys.modules["google.colab"] = types.ModuleType("google.colab")
commands = []

class LoggedPopen(subprocess.Popen):  # every program the cell starts (subprocess.run goes through Popen)
    def __init__(self, args, *rest, **kwargs):
        commands.append(list(args))
        super().__init__(args, *rest, **kwargs)

subprocess.Popen = LoggedPopen
os.system = lambda command: commands.append(command)
exec(compile({cell!r}, "setup cell", "exec"))
import course_lib
print(json.dumps({{"commands": commands, "course_lib": course_lib.__file__, "device": str(device), "quick": QUICK}}))
'''


def setup_cell(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "".join(next(cell for cell in nb["cells"] if cell["cell_type"] == "code")["source"])


@pytest.fixture(scope="module")
def course_repo(tmp_path_factory):
    """A local git repository holding this working tree's course_lib: what the cell clones."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("origin")
    shutil.copytree(REPO_ROOT / "course_lib", repo / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for command in (["init", "-q"], ["add", "course_lib"],
                    ["-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "course"]):
        subprocess.run(["git", *command], cwd=repo, check=True)
    return repo


def run_colab_branch(cell, repo, clone, tmp_path):
    """Run the setup cell as on Colab, cloning `repo` into `clone`; returns what the script reports."""
    assert len(colab.CLONE_LINE.findall(cell)) == 1 and '"/content/course"' in cell
    cell = colab.CLONE_LINE.sub(f'REPO = "{repo.as_uri()}"', cell).replace('"/content/course"', repr(str(clone)))
    site_dirs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    script = RUN_CELL.format(site_dirs=site_dirs, cell=cell)
    done = subprocess.run([sys.executable, "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_colab_branch_clones_installs_nothing_and_imports_the_clone(path, course_repo, tmp_path):
    clone = tmp_path / "content" / "course"
    report = run_colab_branch(setup_cell(path), course_repo, clone, tmp_path)
    assert report["commands"] == [["git", "clone", "-q", "--depth", "1", course_repo.as_uri(), str(clone)]]
    assert Path(report["course_lib"]) == clone / "course_lib" / "__init__.py"
    assert report["device"] == "cpu" and report["quick"] is True
    assert (clone / ".git").is_dir()


def test_colab_branch_after_a_runtime_restart_reuses_the_clone(course_repo, tmp_path):
    clone = tmp_path / "course"
    cell = setup_cell(NOTEBOOKS[0])
    run_colab_branch(cell, course_repo, clone, tmp_path)
    again = run_colab_branch(cell, course_repo, clone, tmp_path)
    assert again["commands"] == []
    assert Path(again["course_lib"]) == clone / "course_lib" / "__init__.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_setup_cell_asks_nothing_and_installs_nothing(path):
    cell = setup_cell(path)
    assert f'REPO = "{colab.repository_url()}"' in cell
    for forbidden in ("input(", "pip", "COURSE_REPO"):
        assert forbidden not in cell, f"{path.name}: the setup cell should not use {forbidden!r}"
    assert not re.search(r"^\s*[!%]", cell, re.M), f"{path.name}: no shell escapes or magics in the setup cell"


def test_links_match_pyproject():
    assert colab.sync(write=False) == [], "run `python -m course_lib.colab` to rewrite the links from pyproject.toml"


def test_every_notebook_has_its_colab_link_at_the_top_and_in_the_readme():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        link = colab.colab_url(colab.repository_url(), path.name)
        assert link == ("https://colab.research.google.com/github/OWNER/diffusion-course-companion/blob/main/"
                        f"notebooks/{path.name}")
        assert link in readme, f"README.md lacks the Colab link of {path.name}"
        nb = json.loads(path.read_text(encoding="utf-8"))
        title = "".join(nb["cells"][0]["source"])
        assert title.startswith("# ") and f"[Open in Colab]({link})" in title


def test_a_fork_changes_the_address_once(tmp_path):
    shutil.copy(REPO_ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(REPO_ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    fork = "https://github.com/someone/my-course"
    (tmp_path / "pyproject.toml").write_text(pyproject.replace(colab.repository_url(), fork), encoding="utf-8")

    changed = colab.sync(tmp_path)
    assert sorted(p.name for p in changed) == sorted(["README.md", *NAMES])
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "OWNER/diffusion-course-companion" not in readme
    assert f"https://colab.research.google.com/github/someone/my-course/blob/main/notebooks/{NAMES[0]}" in readme
    assert "git clone --depth 1 https://github.com/someone/my-course course" in readme  # the options kept
    for name in NAMES:
        text = (tmp_path / "notebooks" / name).read_text(encoding="utf-8")
        assert "OWNER/diffusion-course-companion" not in text and f'REPO = \\"{fork}\\"' in text
        assert json.loads(text)["nbformat"] == 4 and text.endswith("}\n")
    assert colab.sync(tmp_path) == []  # a second run changes nothing


@pytest.mark.parametrize("url", ["https://gitlab.com/me/course", "git@github.com:me/course.git", "github.com/me"])
def test_an_address_colab_cannot_open_is_refused(url):
    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        colab.colab_url(url, "01_unet.ipynb")


def test_missing_repository_entry_says_what_to_add(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[project.scripts]\nx = "y:z"\n')
    with pytest.raises(ValueError, match=r"Repository = .* under \[project.urls\]"):
        colab.repository_url(tmp_path / "pyproject.toml")
