"""Every hostile input of tests/red_team.py ends as a trusted tool's should: refused with a message that
says what to do, or done with a sound result; never a traceback, a lost file or garbage with exit 0."""
import pytest
from red_team import GOOD, build_fixture, cases, run_case

CASES = cases()


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("red_team") / "inputs")


def test_the_red_team_tries_at_least_300_inputs_across_every_subcommand_and_the_library():
    groups = {case.group for case in CASES}
    assert len(CASES) >= 300
    assert {"sample", "train", "evaluate", "report", "export", "bench", "segment", "library"} <= groups


@pytest.mark.parametrize("case", CASES, ids=[f"{case.group}: {case.label}" for case in CASES])
def test_hostile_input(case, fixture):
    outcome = run_case(case, fixture)
    assert outcome.verdict in GOOD, f"{outcome.verdict}: {outcome.detail}"
