"""CPU step settings: bf16 autocast choice for `precision: auto`, the allocator thresholds, cheap dropout masks."""

from __future__ import annotations

import sys

import pytest
import torch

from dl4hep.config import TrainingConfig


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_precision_takes_bf16_on_a_bf16_cpu_for_point_models_only(monkeypatch, has_bf16):
    from dl4hep.models.registry import build_model
    from dl4hep.training import devices

    monkeypatch.setattr(devices, "_cpu_has_bf16", lambda: has_bf16)
    cpu = torch.device("cpu")
    pfn = build_model("pfn", {"phi_sizes": [8], "f_sizes": [8]}, num_classes=2, input_dim=3)
    dnn = build_model("dnn", {"hidden": [8]}, num_classes=2, input_dim=3)
    auto, fp32 = TrainingConfig(precision="auto"), TrainingConfig(precision="fp32")
    x = torch.randn(4, 3)
    with devices.autocast(auto, cpu, pfn):
        assert (
            torch.nn.functional.linear(x, torch.randn(2, 3)).dtype == torch.bfloat16
        ) is has_bf16
    for cfg, net in ((auto, dnn), (fp32, pfn)):
        with devices.autocast(cfg, cpu, net):
            assert torch.nn.functional.linear(x, torch.randn(2, 3)).dtype == torch.float32


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_keep_freed_memory_is_set_once():
    from dl4hep.training.host_memory import keep_freed_memory

    assert keep_freed_memory() is True
    assert keep_freed_memory() is True


def test_dropout_keep_rate_and_independence():
    from dl4hep.models.common import FastDropout, dropout_keep

    torch.manual_seed(0)
    keep = dropout_keep((1000, 1000), 0.1, torch.device("cpu"))
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    rate = keep.float().mean().item()
    assert abs(rate - 0.9) < 5 * (0.9 * 0.1 / 1e6) ** 0.5  # binomial: 5 sigma
    # neighbours come from different 16-bit slices of one draw: no correlation between them
    flat = keep.reshape(-1).float()
    corr = torch.corrcoef(torch.stack([flat[:-1], flat[1:]]))[0, 1].item()
    assert abs(corr) < 5e-3
    drop = FastDropout(0.25).train()
    x = torch.ones(200_000)
    y = drop(x)
    torch.testing.assert_close(torch.unique(y), torch.tensor([0.0, 4 / 3]))
    assert abs(y.mean().item() - 1.0) < 0.01  # inverted scaling keeps the mean
    assert torch.equal(drop.eval()(x), x)
