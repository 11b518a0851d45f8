"""The library chooses the CPU thread count of a sampling call: one thread for a small call, torch's
count for a large one, or what set_threads / COURSE_THREADS say. (Its effect on speed is measured by
`python -m course_lib bench --latency`.)"""
import pytest
import torch

from course_lib import sample_ddim
from course_lib.precision import SMALL_CALL_SPRITES, cpu_threads, set_threads, threads_for


class ThreadRecorder(torch.nn.Module):
    """A tiny stand-in network that records the thread count each forward pass runs with (called with
    precision="fp32", so that the samplers call it and not a copy)."""
    in_channels, height, n_cfeat = 3, 16, 5

    def __init__(self):
        super().__init__()
        self.threads = []

    def forward(self, x, t, c=None):
        self.threads.append(torch.get_num_threads())
        return 0.1 * x


@pytest.fixture(autouse=True)
def library_choice(monkeypatch):
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    set_threads(None)
    before = torch.get_num_threads()
    yield
    set_threads(None)
    torch.set_num_threads(before)


@pytest.fixture
def two_threads():
    torch.set_num_threads(2)  # what torch chooses on the 2-core test machine; a small call must use 1


def test_small_calls_run_on_one_thread_and_large_ones_on_torchs_count(sched, two_threads):
    assert threads_for(8) == 1 and threads_for(SMALL_CALL_SPRITES) == 1
    assert threads_for(SMALL_CALL_SPRITES + 1) == 2
    assert threads_for(8, height=64) == 2  # 8 sprites of 64x64 are as much work as 128 of 16x16
    net = ThreadRecorder()
    sample_ddim(net, sched, n=8, steps=3, precision="fp32")
    sample_ddim(net, sched, n=SMALL_CALL_SPRITES + 1, steps=2, precision="fp32")
    assert net.threads == [1, 1, 1, 2, 2]
    assert torch.get_num_threads() == 2  # restored after the call


def test_guidance_doubles_the_batch_that_counts(sched, two_threads):
    net = ThreadRecorder()
    half = SMALL_CALL_SPRITES // 2
    context = torch.eye(5)[torch.arange(half + 1) % 5]
    sample_ddim(net, sched, n=half + 1, steps=1, context=context, guidance=2.0, precision="fp32")
    assert net.threads == [2]  # c and the null context run as one batch of 2 (half + 1) > SMALL_CALL_SPRITES


def test_set_threads_and_course_threads_override_the_choice(sched, two_threads, monkeypatch):
    monkeypatch.setenv("COURSE_THREADS", "3")
    assert threads_for(8) == 3 and threads_for(10_000) == 3
    set_threads(1)
    assert threads_for(10_000) == 1  # the function wins over the environment
    net = ThreadRecorder()
    sample_ddim(net, sched, n=64, steps=2, precision="fp32")
    assert net.threads == [1, 1] and torch.get_num_threads() == 2


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_course_threads_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("COURSE_THREADS", value)
    with pytest.raises(ValueError, match="the environment variable COURSE_THREADS must be a positive whole number"):
        threads_for(8)


def test_set_threads_refuses_what_is_not_a_count():
    with pytest.raises(ValueError, match=r"set_threads\(n\) must be a positive whole number .* got 0"):
        set_threads(0)


def test_cpu_threads_restores_the_count_after_an_error(two_threads):
    with pytest.raises(RuntimeError, match="stop"):
        with cpu_threads(8, 16, "cpu"):
            assert torch.get_num_threads() == 1
            raise RuntimeError("stop")
    assert torch.get_num_threads() == 2
