"""The notebooks are committed clean: no outputs, no execution counts (so diffs show only real edits)."""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; strip them with "
                       f"`jupyter nbconvert --clear-output --inplace {path.name}` before committing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_first_cell_is_the_setup(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    first = next(cell for cell in nb["cells"] if cell["cell_type"] == "code")
    source = "".join(first["source"])
    for needed in ('"google.colab" in sys.modules', '"git", "clone"', "pick_device()",
                   'QUICK = os.environ.get("COURSE_QUICK") == "1"'):
        assert needed in source, f"{path.name}: the first code cell lacks {needed!r} (see README, Design notes)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_avoids_known_pitfalls(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        assert ".cuda()" not in source, f"{path.name} cell {i}: use the picked `device`, not .cuda()"
        last = source.rstrip().splitlines()[-1] if source.strip() else ""
        assert not last.rstrip().endswith(";"), f"{path.name} cell {i}: a trailing ';' breaks nbval 0.11"


NBVAL_TAGS = {"nbval-ignore-output", "nbval-check-output", "nbval-skip", "nbval-raises-exception"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_markers_are_cell_tags(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        assert "# NBVAL_" not in source, (f"{path.name} cell {i}: mark it with a cell tag, not a comment "
                                          f"(one of {sorted(NBVAL_TAGS)}, in the cell's metadata.tags)")
        unknown = {tag for tag in cell["metadata"].get("tags", []) if tag.startswith("nbval")} - NBVAL_TAGS
        assert not unknown, f"{path.name} cell {i}: nbval ignores the tags {sorted(unknown)}; use {sorted(NBVAL_TAGS)}"
