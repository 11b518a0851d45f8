"""The benchmark's arithmetic and report (speed itself is measured by `python -m course_lib bench`), and the
latency harness: its competing load starts and stops, every widget call is timed both ways."""
import pytest
import torch

from course_lib import ContextUnet
from course_lib.bench import forward_flops, markdown, run_bench
from course_lib.latency import competing_load, latency_markdown, run_latency


def test_flops_per_image_step_at_course_sizes():
    assert forward_flops(ContextUnet()) == 301_320_448  # counted by torch.utils.flop_counter


def test_tiny_bench_report():
    report = run_bench(batches=(2,), ddpm_steps=2, ddim_steps=2, train_batch=4, train_steps=1, repeats=1)
    assert [(r["what"], r["batch"]) for r in report["rows"]] == [
        ("sample DDIM-2", 2), ("sample DDPM-2", 2), ("train", 4)]
    assert all(r["speedup"] > 0 for r in report["rows"])
    table = markdown(report)
    assert "| sample DDIM-2 | 2 |" in table and "GFLOP per image-step" in table
    assert report["matmul_gflops_bf16"] > 0 and report["matmul_gflops_fp32"] > 0


def test_competing_load_runs_one_process_per_core_and_stops_them_all_even_on_error():
    with pytest.raises(RuntimeError, match="interrupted"):
        with competing_load(processes=2, seconds=60) as spinners:
            assert len(spinners) == 2 and all(s.poll() is None for s in spinners)  # still spinning
            raise RuntimeError("interrupted")
    assert all(s.returncode is not None for s in spinners)


@pytest.fixture
def one_thread():
    """torch on one thread, so that "torch default" costs no waiting on a busy test machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_latency_report_times_each_widget_call_both_ways_idle_and_busy(sched, one_thread):
    model = ContextUnet(n_feat=8)  # small and untrained: the harness is under test, not the speed
    report = run_latency(repeats=1, load_processes=1, model=model, sched=sched, steps_list=(1, 2))
    assert [(r["call"], r["threads"]) for r in report["rows"][:2]] == [
        ("DDIM-1, one-hot", "library"), ("DDIM-1, one-hot", "torch default")]
    assert [r["call"] for r in report["rows"][::2]] == [
        "DDIM-1, one-hot", "DDIM-1, mixed", "DDIM-2, one-hot", "DDIM-2, mixed"]
    assert {(r["idle_threads"], r["busy_threads"]) for r in report["rows"]} == {(1, 1)}  # torch has one thread here
    assert all(r["busy_over_idle"] == r["busy_s"] / r["idle_s"] and r["idle_s"] > 0 for r in report["rows"])
    assert report["load_ran_throughout"] and report["load_processes"] == 1


def test_latency_markdown_states_the_targets_and_the_gain():
    rows = []
    for call in ("DDIM-10, one-hot", "DDIM-25, mixed"):
        rows += [{"call": call, "threads": "library", "idle_threads": 2, "busy_threads": 1, "idle_s": 0.2,
                  "busy_s": 0.5, "busy_over_idle": 2.5},
                 {"call": call, "threads": "torch default", "idle_threads": 2, "busy_threads": 2, "idle_s": 0.15,
                  "busy_s": 3.0, "busy_over_idle": 20.0}]
    report = {"machine": "test CPU", "sprites": 8, "repeats": 5, "load_processes": 2, "load_ran_throughout": True,
              "rows": rows}
    text = latency_markdown(report)
    assert "| DDIM-10, one-hot | library | 0.200 s (2) | 0.500 s (1) | 2.5x |" in text
    assert "- idle, DDIM-10 one-hot, library's choice: 0.200 s (target < 0.3 s): met" in text
    assert "- busy / idle, library's choice: at most 2.5x (DDIM-10, one-hot; target <= 3x): met" in text
    assert "torch's default 3.000 s against the library's 0.500 s, 6.0x; idle: 0.150 s against 0.200 s, 0.75x" in text
