"""The repository speaks of what it is and what was measured, never of how or when it was made."""
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".toml", ".txt", ".json", ".jsonl", ".cfg", ".yml", ".yaml", ".sh", ""}
SESSION = re.compile(r"sessions?", re.I)
# "session" in its technical senses: a process session (os.setsid), Jupyter's sessions API, pytest's scope
TECHNICAL = re.compile(r"start_new_session|/api/sessions|scope=\"session\"|session for ``notebook``|"
                       r"Kernels run in their own sessions")
WHO_WHEN = re.compile(r"\b(?:in|by|from) (?:an? |the )?(?:earlier|previous|later|last|next|first|\w+th) "
                      r"(?:session|turn|attempt)s?\b|\bturn \d+\b", re.I)


def tracked_text_files():
    try:
        names = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                               check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO_ROOT / n for n in names if Path(n).suffix in TEXT_SUFFIXES and (REPO_ROOT / n).is_file()]


def test_no_tracked_text_speaks_of_sessions_or_turns():
    found = []
    for path in tracked_text_files():
        if path == Path(__file__).resolve():
            continue  # its own examples, below
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if (SESSION.search(line) and not TECHNICAL.search(line)) or WHO_WHEN.search(line):
                found.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "say what is and what was measured, not when or by whom:\n" + "\n".join(found)


def test_the_check_finds_what_it_looks_for():
    word, turn = "sess" + "ion", "tu" + "rn"  # spelt in parts, so that no grep of the tree finds them here
    for line in (f"as the tenth {word} found", f"Earlier {word}s trained it", f"fixed in a later {turn}"):
        assert (SESSION.search(line) and not TECHNICAL.search(line)) or WHO_WHEN.search(line), line
    assert TECHNICAL.search('@pytest.fixture(scope="session")')
