"""The Colab links and the notebooks' clone address, built from one setting in pyproject.toml.

The repository's address is set once, as ``Repository`` under ``[project.urls]``. It is repeated in the
"Open in Colab" links (README.md and the top of each notebook) and in the ``REPO = "..."`` line of each
notebook's setup cell, which clones the repository on Colab. ``python -m course_lib.colab`` rewrites
them from pyproject.toml (run it after changing the address, e.g. in a fork); ``--check`` only lists
the files that are out of date.
"""
import argparse
import json
import re
import sys
from pathlib import Path

from .checkpoint import atomic_write

REPO_ROOT = Path(__file__).resolve().parent.parent
BRANCH = "main"
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/\s()]+/[^/\s()]+/blob/[^/\s()]+/"
                        r"notebooks/(?P<notebook>[\w.-]+\.ipynb)")
CLONE_LINE = re.compile(r'^REPO = "[^"]*"', re.M)
GIT_CLONE = re.compile(r"(git clone (?:--?[\w-]+(?:[ =]\d+)? )*)[^\s-]\S*")  # options such as --depth 1 kept


def repository_url(pyproject=REPO_ROOT / "pyproject.toml"):
    """The ``Repository`` entry of pyproject.toml's ``[project.urls]`` table."""
    text = Path(pyproject).read_text(encoding="utf-8")
    table = re.search(r"^\[project\.urls\][ \t]*\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    entry = table and re.search(r'^Repository\s*=\s*"([^"]+)"', table.group(1), re.M)
    if not entry:
        raise ValueError(f'{pyproject} has no Repository = "https://github.com/OWNER/NAME" under [project.urls]; '
                         "add it: the Colab links and the notebooks' setup cells are built from it")
    return entry.group(1)


def colab_url(repo_url, notebook):
    """The address that opens notebooks/`notebook` of the GitHub repository `repo_url` in Colab."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url)
    if not match:
        raise ValueError(f"Colab opens notebooks from GitHub: the repository URL must look like "
                         f"https://github.com/OWNER/NAME, got {repo_url!r}; fix it in pyproject.toml")
    owner, name = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{BRANCH}/notebooks/{notebook}"


def _relink(text, repo_url):
    """`text` with every Colab link pointing into `repo_url` and every `git clone URL` cloning it."""
    text = COLAB_LINK.sub(lambda m: colab_url(repo_url, m["notebook"]), text)
    return GIT_CLONE.sub(lambda m: m[1] + repo_url, text)


def _updated_notebook(nb, repo_url):
    """The notebook's cells with their links and their ``REPO = "..."`` line made current (in place);
    True if anything changed."""
    changed = False
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        new = _relink(source, repo_url)
        if cell["cell_type"] == "code":
            new = CLONE_LINE.sub(f'REPO = "{repo_url}"', new)
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
            changed = True
    return changed


def sync(root=REPO_ROOT, write=True):
    """Make README.md and notebooks/*.ipynb under `root` use the repository URL of `root`/pyproject.toml;
    returns the files that were (with write=False: would be) changed."""
    root = Path(root)
    repo_url = repository_url(root / "pyproject.toml")
    colab_url(repo_url, "check.ipynb")  # a clear error for a URL Colab cannot open
    changed = []
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    if _relink(text, repo_url) != text:
        changed.append(readme)
        if write:
            with atomic_write(readme, "w") as f:
                f.write(_relink(text, repo_url))
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if _updated_notebook(nb, repo_url):
            changed.append(path)
            if write:
                with atomic_write(path, "w") as f:
                    f.write(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_lib.colab", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list the files that are out of date (exit 1 if any)")
    args = parser.parse_args(argv)
    try:
        changed = sync(write=not args.check)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    verb = "out of date" if args.check else "rewrote"
    for path in changed:
        print(f"{verb}: {path.relative_to(REPO_ROOT)}")
    if not changed:
        print(f"up to date with {repository_url()}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
