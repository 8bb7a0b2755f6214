"""Batches without padding work: lengths, trimming, the length-bucketing sampler, trimmed = padded outputs."""

from __future__ import annotations

import pytest
import torch

from dl4hep.data.buckets import bucketed_batches, point_lengths, trim_length
from dl4hep.data.tensors import TensorBatches

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {
    "pfn": {"phi_sizes": [16, 16], "f_sizes": [16], "dropout": 0.0},
    "particlenet": {
        "k": 4,
        "conv_channels": [[16, 16], [16, 16]],
        "fc_channels": [16],
        "dropout": 0.0,
    },
    "particle_transformer": {
        "embed_dims": [16, 16],
        "pair_embed_dims": [8, 8],
        "num_heads": 2,
        "num_layers": 2,
        "num_cls_layers": 1,
        "dropout": 0.0,
    },
    "hit_gnn": {"k": 4, "hidden": 16, "num_layers": 2, "dropout": 0.0, "dynamic": True},
}


def _jets(n: int, slots: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Padded clouds with 1..slots/2 real entries first, like the feature sets write them."""
    from dl4hep.models.registry import example_inputs

    x = example_inputs(
        ("points", "points_mask", "points_p4"),
        batch=n,
        input_dim=5,
        max_points=slots // 2,
        generator=torch.Generator().manual_seed(seed),
    )
    pad = slots - slots // 2
    return {
        "points": torch.nn.functional.pad(x["points"], (0, 0, 0, pad)),
        "points_mask": torch.nn.functional.pad(x["points_mask"], (0, pad)),
        "points_p4": torch.nn.functional.pad(x["points_p4"], (0, 0, 0, pad)),
        "label": torch.arange(n),
    }


def test_point_lengths_is_one_past_the_last_real_slot():
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert point_lengths(mask).tolist() == [2, 0, 3, 4]
    assert trim_length(point_lengths(mask), torch.tensor([0, 1])) == 2
    assert trim_length(point_lengths(mask), torch.tensor([1])) == 1  # never an empty particle axis


def test_bucketed_batches_visit_every_row_once_and_group_lengths():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 100, (1000,), generator=g)
    perm = torch.randperm(1000, generator=g)
    batches = bucketed_batches(
        perm, lengths, batch_size=32, window=8, generator=torch.Generator().manual_seed(1)
    )
    rows = torch.cat(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    assert sorted(len(b) for b in batches)[1:] == [32] * (len(batches) - 1)  # only one short batch
    # each window of 8 batches is sorted, so a batch spans ~1/8 of the length range, not all of it
    spread = torch.tensor([float(lengths[b].max() - lengths[b].min()) for b in batches])
    plain = torch.tensor([float(lengths[b].max() - lengths[b].min()) for b in perm.split(32)])
    assert spread.median() < 0.25 * plain.median()
    # padded slots per batch (what trimming leaves) against plain shuffled batches
    waste = sum(float(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)
    waste_plain = sum(float(lengths[b].max() * len(b) - lengths[b].sum()) for b in perm.split(32))
    assert waste < 0.25 * waste_plain


def test_bucketed_batches_reproducible_and_reshuffled():
    lengths = torch.randint(1, 50, (300,), generator=torch.Generator().manual_seed(0))
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(2))

    def run(seed):
        return [
            b.tolist()
            for b in bucketed_batches(
                perm,
                lengths,
                batch_size=16,
                window=4,
                generator=torch.Generator().manual_seed(seed),
            )
        ]

    assert run(5) == run(5)
    assert run(5) != run(6)  # the batch order is shuffled
    plain = bucketed_batches(perm, lengths, batch_size=16, window=1, generator=None)
    assert torch.equal(torch.cat(plain), perm)


def test_training_batches_are_trimmed_bucketed_and_resumable():
    data = _jets(200, slots=24)
    g = torch.Generator().manual_seed(3)
    tb = TensorBatches(
        data,
        batch_size=16,
        shuffle=True,
        generator=g,
        trim=True,
        bucket_window=4,
        skip_singleton=True,
    )
    lengths = point_lengths(data["points_mask"])
    state = g.get_state()
    first = list(tb)
    assert len(first) == len(tb)
    seen = torch.cat([b["label"] for b in first])
    assert sorted(seen.tolist()) == list(range(200))
    for b in first:
        rows = b["label"]
        width = int(lengths[rows].max())
        assert b["points"].shape[1] == b["points_mask"].shape[1] == b["points_p4"].shape[1] == width
        torch.testing.assert_close(b["points"], data["points"][rows, :width], rtol=0, atol=0)
        assert not data["points_mask"][rows, width:].any()  # nothing real was cut
    second = [b["label"].tolist() for b in tb]
    assert second != [b["label"].tolist() for b in first]  # a new order each epoch
    g.set_state(state)  # the checkpointed generator state replays the epoch exactly
    assert [b["label"].tolist() for b in tb] == [b["label"].tolist() for b in first]


def test_untrimmed_batches_keep_the_padded_width():
    data = _jets(40, slots=24)
    tb = TensorBatches(
        data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    assert all(b["points"].shape[1] == 24 for b in tb)


@pytest.mark.parametrize("kind", list(SMALL))
def test_trimmed_outputs_equal_padded_outputs(kind):
    """A jet's outputs do not change when its batch is cut to the longest cloud (eval mode)."""
    from dl4hep.models.registry import build_model, trims_padding
    from dl4hep.training.predict import score_tensors

    torch.manual_seed(0)
    net = build_model(kind, SMALL[kind], num_classes=3, input_dim=5).eval()
    assert trims_padding(net)
    data = _jets(48, slots=32, seed=4)
    names = net.input_names
    with torch.no_grad():
        padded = torch.softmax(net(*[data[k] for k in names]), 1)
        width = int(point_lengths(data["points_mask"]).max())
        trimmed = torch.softmax(net(*[data[k][:, :width] for k in names]), 1)
    assert width < 32
    torch.testing.assert_close(trimmed, padded, atol=1e-5, rtol=1e-5)
    # the inference path: shortest clouds first, each batch trimmed, rows back in their order
    scored = score_tensors(
        net, {k: data[k] for k in names}, device=torch.device("cpu"), batch_size=8
    )
    torch.testing.assert_close(torch.from_numpy(scored), padded, atol=1e-5, rtol=1e-5)


def test_pair_bias_from_the_lower_triangle_equals_the_dense_embedding():
    from dl4hep.models.nets.particle_transformer import pair_features
    from dl4hep.models.registry import build_model

    torch.manual_seed(0)
    net = build_model(
        "particle_transformer", SMALL["particle_transformer"], num_classes=3, input_dim=5
    )
    data = _jets(6, slots=12, seed=2)
    dense = net.pair_embed(pair_features(data["points_p4"], data["points_mask"])).permute(
        0, 3, 1, 2
    )
    torch.testing.assert_close(
        net.pair_bias(data["points_p4"], data["points_mask"]), dense, atol=1e-6, rtol=1e-6
    )


def _part_bias_inputs(seed: int):
    data = _jets(6, slots=12, seed=seed)
    p4, mask = data["points_p4"], data["points_mask"].clone()
    mask[2] = False  # a jet without any real particle
    keys = mask.clone()
    keys[:, 0] |= ~mask.any(1)  # as ParticleTransformer.forward: an empty jet sees particle 0
    return data, p4, mask, keys


@pytest.mark.parametrize("grad", [False, True])
def test_attention_bias_embeds_only_real_pairs_with_the_same_values(grad):
    """Only real pairs are embedded (training and inference); the bias equals every pair's plus the key mask."""
    from dl4hep.models.nets.particle_transformer import pair_features_tril, real_pair_features
    from dl4hep.models.registry import build_model

    torch.manual_seed(0)
    net = build_model(
        "particle_transformer", SMALL["particle_transformer"], num_classes=3, input_dim=5
    )
    _, p4, mask, keys = _part_bias_inputs(3)
    key_bias = torch.zeros(6, 1, 1, 12).masked_fill(~keys[:, None, None, :], float("-inf"))
    full = net.pair_bias(p4, mask).detach() + key_bias  # every pair of the triangle
    with torch.set_grad_enabled(grad):
        compact = net.attention_bias(p4, mask, keys, torch.float32)
    assert compact.requires_grad == grad
    assert torch.equal(compact.detach(), full)
    half = net.attention_bias(p4, mask, keys, torch.bfloat16)
    assert half.dtype == torch.bfloat16 and torch.equal(half, full.to(torch.bfloat16))
    feats, row = real_pair_features(p4, mask)
    tril, i, j = pair_features_tril(p4, mask)
    real = mask[:, i] & mask[:, j]
    assert feats.shape[0] == int(real.sum()) < real.numel()
    assert torch.equal(feats, tril[real])
    assert torch.equal(row[real], torch.arange(feats.shape[0]))
    assert bool((row[~real] == feats.shape[0]).all())


def test_explicit_attention_matches_the_textbook_formula_with_dropout():
    """Heads-outermost attention with the boolean mask = softmax(q k^T / sqrt(d) + bias) * keep / (1 - p) @ v."""
    from dl4hep.models.common import dropout_keep
    from dl4hep.models.nets.particle_transformer import _Attention

    g = torch.Generator().manual_seed(1)
    b, h, n, d = 3, 2, 7, 16
    q = torch.randn(b, n, h, d, generator=g)
    kv = torch.randn(b, n, 2, h, d, generator=g)
    bias = torch.randn(b, h, n, n, generator=g)
    bias[0, :, :, 5:] = float("-inf")
    torch.manual_seed(5)
    got = _Attention._explicit(q, kv, bias, 0.25).permute(1, 0, 2, 3)  # (B, H, Q, d)
    torch.manual_seed(5)
    keep = dropout_keep((b, h, n, n), 0.25, q.device).double()
    qd, kd, vd = q.double().transpose(1, 2), kv[:, :, 0].double(), kv[:, :, 1].double()
    logits = qd @ kd.permute(0, 2, 3, 1) / d**0.5 + bias.double()
    want = (torch.softmax(logits, -1) * keep / 0.75) @ vd.transpose(1, 2)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)


def test_training_step_on_real_pairs_equals_every_pair_embedded():
    """Train mode with dropout: logits and every gradient as with the padded all-pairs bias (float rounding)."""
    from dl4hep.models.registry import build_model

    hp = {**SMALL["particle_transformer"], "dropout": 0.1}
    data, p4, mask, _ = _part_bias_inputs(4)
    results = []
    for compact in (True, False):  # False: every pair of the triangle embedded, then the key mask
        torch.manual_seed(0)
        net = build_model("particle_transformer", hp, num_classes=3, input_dim=5).train()
        net.compact_pairs = compact
        torch.manual_seed(7)  # the same dropout draws
        logits = net(data["points"], mask, p4)
        torch.nn.functional.cross_entropy(logits, data["label"] % 3).backward()
        results.append((logits.detach(), {k: v.grad for k, v in net.named_parameters()}))
    (a, ga), (b, gb) = results
    assert a.abs().min() > 0  # dropout on, outputs not trivially zero
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    scale = max(float(g.abs().max()) for g in gb.values())
    for name in gb:
        torch.testing.assert_close(ga[name], gb[name], rtol=1e-4, atol=1e-6 * scale, msg=name)
