"""The fast path (bf16 autocast, channels_last, folded BatchNorm) against plain fp32."""
import pytest
import torch

from course_lib import ContextUnet, ddim_step
from course_lib.precision import (eval_mode, fold_batchnorm, inference_context, pick_device, prepare_input,
                                  resolve_precision)
from course_lib.pretrained import load_pretrained


def _relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_folding_batchnorm_keeps_the_function():
    torch.manual_seed(0)
    model = ContextUnet(n_feat=16)
    model.train()
    model(torch.randn(8, 3, 16, 16), torch.rand(8))  # give the BatchNorms non-trivial statistics
    model.eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x, t = torch.randn(4, 3, 16, 16), torch.rand(4)
    with torch.no_grad():
        torch.testing.assert_close(folded(x, t), model(x, t), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("precision", ["bf16"])
def test_fast_path_agrees_with_fp32_on_one_denoising_step(precision):
    model, sched = load_pretrained()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 16, 16, generator=g)
    context = torch.eye(5)[torch.arange(16) % 5]
    for t, t_prev in ((500, 480), (250, 230), (20, 0)):
        t_frac = torch.full((16,), t / sched.timesteps)
        eps = {}
        for p in ("fp32", precision):
            with inference_context(model, "cpu", p) as (net, resolved):
                assert resolved == p
                eps[p] = net(prepare_input(x, p), t_frac, context).float()
        assert _relative_error(eps[precision], eps["fp32"]) < 2e-2
        step = {p: ddim_step(sched, x, t, t_prev, e) for p, e in eps.items()}
        assert _relative_error(step[precision], step["fp32"]) < 2e-2


def test_auto_in_fp32_on_a_cpu_samples_with_the_folded_copy_and_fp32_by_name_with_the_model(monkeypatch):
    monkeypatch.setattr("course_lib.precision.cpu_has_fast_bf16", lambda: False)
    model, _ = load_pretrained()
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t_frac, context = torch.full((8,), 0.3), torch.eye(5)[torch.arange(8) % 5]
    outputs = {}
    for asked in ("auto", "fp32"):
        with inference_context(model, "cpu", asked) as (net, resolved):
            assert resolved == "fp32"
            outputs[asked] = net(prepare_input(x, resolved), t_frac, context)
            folded = not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
            first_conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
            layout_last = first_conv.weight.is_contiguous(memory_format=torch.channels_last)
            assert (net is model) == (asked == "fp32")
            assert folded == layout_last == (asked == "auto")
    torch.testing.assert_close(outputs["auto"], outputs["fp32"], atol=1e-5, rtol=1e-4)


def test_resolve_precision():
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("auto", "cpu") in ("fp32", "bf16")
    with pytest.raises(ValueError, match=r"precision must be one of \('auto', 'fp32', 'bf16', 'fp16'\), got 'int8'"):
        resolve_precision("int8", "cpu")
    with pytest.raises(ValueError, match="fp16 is for GPUs"):
        resolve_precision("fp16", "cpu")


def test_pick_device_checks_the_name_and_that_the_device_is_there():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' is not available"):
            pick_device("cuda")


def test_eval_mode_restores_the_mode_the_model_had_even_on_error():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    with eval_mode(net):
        assert not net.training and not net[1].training
    assert net.training and net[1].training
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(net):
            raise RuntimeError("boom")
    assert net.training
    with eval_mode(net.eval()):
        pass
    assert not net.training
