"""The benchmark's arithmetic and report (speed itself is measured by `python -m course_lib bench`)."""
from course_lib import ContextUnet
from course_lib.bench import forward_flops, markdown, run_bench


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
