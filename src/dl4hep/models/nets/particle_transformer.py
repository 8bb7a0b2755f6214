"""Particle Transformer (Qu, Li, Qian, arXiv:2202.03772).

Per-particle embedding MLP; pairwise interaction features
``ln Delta, ln kT, ln z, ln m^2`` from the four-momenta, embedded per pair into
``num_heads`` channels and added to the attention logits; ``num_layers``
pre-LayerNorm particle attention blocks; ``num_cls_layers`` class-attention
blocks in which a learnable class token attends to the particles; a linear head.

Padding is masked everywhere: padded keys get ``-inf`` attention logits, the
pair bias of any pair involving padding is zeroed, and the class token never
sees padded particles, so real outputs do not depend on padding content
(batches arrive cut to their longest jet, :mod:`dl4hep.data.buckets`).
The symmetric pair features are embedded once per unordered pair and mirrored, and
only for pairs of two real particles (training and inference; the key mask is part of
the same gather, :meth:`ParticleTransformer.attention_bias`).
Attention uses :func:`torch.nn.functional.scaled_dot_product_attention`, except
in training with dropout on a CPU, where it runs explicitly, heads outermost, with the
cheap dropout mask of :func:`dl4hep.models.common.dropout_keep`. For export,
:meth:`_Attention.use_export_path` switches to explicit attention (the ONNX exporter's SDPA
decomposition fails on this layout).
"""
# ruff: noqa: E402  (torch is imported below the torch-free head: dl4hep.models.specs reads only the head)

from __future__ import annotations

from typing import Any

from pydantic import Field

from dl4hep.contracts import POINT_TENSORS, POINTS
from dl4hep.models import plugin


class Params(plugin.Params):
    """Particle Transformer (arXiv:2202.03772) with pairwise-interaction attention bias."""

    embed_dims: list[int] = Field(
        default_factory=lambda: [128, 512, 128],
        min_length=1,
        description="Particle-embedding MLP widths; the last is the model width.",
    )
    pair_embed_dims: list[int] = Field(
        default_factory=lambda: [64, 64, 64],
        description="Pair-embedding MLP widths (then one layer to num_heads).",
    )
    num_heads: int = Field(8, ge=1)
    num_layers: int = Field(8, ge=1, description="Particle attention blocks.")
    num_cls_layers: int = Field(2, ge=1, description="Class attention blocks.")
    ffn_ratio: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    use_pair_features: bool = Field(
        True, description="Add the ln Delta, ln kT, ln z, ln m^2 attention bias."
    )

    def model_post_init(self, __context: Any) -> None:
        if self.embed_dims[-1] % self.num_heads:
            raise ValueError(
                f"embed_dims[-1]={self.embed_dims[-1]} must be divisible by num_heads={self.num_heads}"
            )


SPEC = plugin.ModelSpec(
    params=Params,
    inputs=(POINTS,),
    description="Particle Transformer (ParT)",
    network="ParticleTransformer",
    requires_p4="use_pair_features",
    permutation_invariant=True,
    export="twin",
    tiny={
        "embed_dims": [32, 32],
        "pair_embed_dims": [8],
        "num_heads": 2,
        "num_layers": 2,
        "num_cls_layers": 1,
        "dropout": 0.0,
    },
)

# ------------------------------------------------------------------ network (imports torch)

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dl4hep.models.common import ExportPath, FastDropout, dropout_keep

__all__ = [
    "SPEC",
    "Params",
    "ParticleTransformer",
    "pair_features",
    "pair_features_tril",
    "real_pair_features",
]

_EPS = 1e-8
#: Pair rows embedded at once in inference: 8192 x 32 float32 activations (1 MiB) stay in cache.
_PAIR_ROWS = 8192


def _mirror(p: int, device: torch.device) -> Tensor:
    """``(P * P,)`` index of pair ``(i, j)`` in the row-major lower triangle (``i >= j``) of ``P``."""
    r = torch.arange(p, device=device)
    hi, lo = torch.maximum(r.unsqueeze(1), r), torch.minimum(r.unsqueeze(1), r)
    return (hi * (hi + 1) // 2 + lo).reshape(-1)


def _kinematics(p4: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-particle ``(pT, y, phi)`` of ``(..., 4)`` four-momenta ``(px, py, pz, E)``."""
    px, py, pz, e = p4.float().unbind(-1)
    pt = torch.sqrt(px * px + py * py)
    rap = 0.5 * torch.log((e + pz).clamp(min=_EPS) / (e - pz).clamp(min=_EPS))
    return pt, rap, torch.atan2(py, px)


def _pair_terms(
    ki: tuple[Tensor, ...], kj: tuple[Tensor, ...], p4i: Tensor, p4j: Tensor, real: Tensor
) -> Tensor:
    """ln Delta, ln kT, ln z, ln m^2 ``(..., 4)`` of particle pairs (broadcasting ``i`` against ``j``)."""
    (pti, rapi, phii), (ptj, rapj, phij) = ki, kj
    dy = rapi - rapj
    dphi = torch.remainder(phii - phij + math.pi, 2 * math.pi) - math.pi
    delta = torch.sqrt(dy * dy + dphi * dphi)
    ptmin = torch.minimum(pti, ptj)
    psum = p4i.float() + p4j.float()
    m2 = psum[..., 3] ** 2 - (psum[..., :3] ** 2).sum(-1)
    feats = torch.stack(
        [
            torch.log(delta.clamp(min=_EPS)),
            torch.log((ptmin * delta).clamp(min=_EPS)),
            torch.log((ptmin / (pti + ptj).clamp(min=_EPS)).clamp(min=_EPS)),
            torch.log(m2.clamp(min=_EPS)),
        ],
        dim=-1,
    )
    return torch.where(real.unsqueeze(-1) & torch.isfinite(feats), feats, feats.new_zeros(()))


def pair_features(p4: Tensor, mask: Tensor) -> Tensor:
    """Pairwise features ``(B, P, P, 4)``: ln Delta, ln kT, ln z, ln m^2 (eq. 2-5 of arXiv:2202.03772).

    ``Delta = sqrt(dy^2 + dphi^2)`` (rapidity y, azimuth phi), ``kT = min(pT_i, pT_j) Delta``,
    ``z = min(pT_i, pT_j) / (pT_i + pT_j)``, ``m^2 = (E_i + E_j)^2 - |p_i + p_j|^2`` (GeV^2).
    Arguments are clamped to ``eps`` before the logarithm; pairs with a padded
    particle are set to 0.

    Args:
        p4: ``(B, P, 4)`` as ``(px, py, pz, E)`` in GeV, zeros for padding.
        mask: ``(B, P)`` bool, True for real particles.
    """
    k = _kinematics(p4)
    ki, kj = tuple(t.unsqueeze(2) for t in k), tuple(t.unsqueeze(1) for t in k)
    real = mask.unsqueeze(2) & mask.unsqueeze(1)
    return _pair_terms(ki, kj, p4.unsqueeze(2), p4.unsqueeze(1), real)


def pair_features_tril(p4: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The features of :func:`pair_features` for the pairs ``i >= j`` only: ``(B, P(P+1)/2, 4)``, ``i``, ``j``.

    All four are symmetric in ``(i, j)``, so the lower triangle holds every value once:
    the pair embedding runs on half the pairs and is mirrored (:meth:`ParticleTransformer.pair_bias`).
    """
    p = p4.shape[1]
    i, j = torch.tril_indices(p, p, device=p4.device)
    k = _kinematics(p4)
    ki = tuple(t.index_select(1, i) for t in k)
    kj = tuple(t.index_select(1, j) for t in k)
    real = mask.index_select(1, i) & mask.index_select(1, j)
    return _pair_terms(ki, kj, p4.index_select(1, i), p4.index_select(1, j), real), i, j


def real_pair_features(p4: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """The features of :func:`pair_features_tril` for the pairs of two real particles only: ``(R, 4)``.

    Also returns ``row`` ``(B, P(P+1)/2)``: each triangle pair's row in the features, ``R`` for
    a pair with padding (whose features are 0). A trimmed batch still pads its shorter jets
    (~25 % of the triangle at the default size); their pairs are not computed at all.
    """
    b, p, _ = p4.shape
    i, j = torch.tril_indices(p, p, device=p4.device)
    real = (mask.index_select(1, i) & mask.index_select(1, j)).reshape(-1)
    flat = (torch.arange(b, device=p4.device) * p).unsqueeze(1)
    fi, fj = (flat + i).reshape(-1)[real], (flat + j).reshape(-1)[real]
    k = tuple(t.reshape(-1) for t in _kinematics(p4))
    ki = tuple(t.index_select(0, fi) for t in k)
    kj = tuple(t.index_select(0, fj) for t in k)
    flat_p4 = p4.reshape(b * p, 4)
    feats = _pair_terms(
        ki, kj, flat_p4.index_select(0, fi), flat_p4.index_select(0, fj), real.new_ones(())
    )
    n = feats.shape[0]
    row = torch.where(real, torch.cumsum(real, 0) - 1, n).view(b, -1)
    return feats, row


class _Attention(nn.Module, ExportPath):
    """Multi-head attention with an additive float bias ``(B, H, Q, K)`` through SDPA.

    ``explicit = True`` computes ``softmax(q k^T / sqrt(d) + bias) v`` with plain
    ops instead (the ONNX exporter's SDPA decomposition fails on this layout), as does
    CPU training with dropout (:meth:`_explicit`).
    """

    explicit = False

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def use_export_path(self) -> None:
        self.explicit = True

    def forward(self, query: Tensor, context: Tensor, bias: Tensor) -> Tensor:
        b, nq, d = query.shape
        h = self.heads
        q = self.q(query).view(b, nq, h, d // h)
        kv = self.kv(context).view(b, context.shape[1], 2, h, d // h)
        drop = self.dropout if self.training else 0.0
        if self.explicit or (drop > 0 and not q.is_cuda):
            # SDPA's CPU dropout draws a bernoulli per weight (slow); the export path needs plain ops
            y = self._explicit(q, kv, bias, drop).permute(1, 2, 0, 3)
        else:  # inference; on CUDA also training with dropout (fused kernel, its own draws)
            k, v = kv.permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(
                q.transpose(1, 2), k, v, attn_mask=bias.to(q.dtype), dropout_p=drop
            ).transpose(1, 2)
        return self.out(y.contiguous().reshape(b, nq, d))

    @staticmethod
    def _explicit(q: Tensor, kv: Tensor, bias: Tensor, drop: float) -> Tensor:
        """``softmax(q k^T / sqrt(d) + bias)`` (with dropout) times ``v``, heads outermost: ``(H, B, Q, d)``.

        Heads outermost, the logits have the memory layout of :meth:`ParticleTransformer.attention_bias`
        (a ``(B, H, P, P)`` view of ``(H, B, P, P)``), so the sum and the softmax stay contiguous.
        ``q`` is scaled instead of the logits (exact where ``d`` is a power of 4, 16 here).
        Dropout multiplies by the boolean mask (no float mask) and scales the output.
        """
        k, v = kv.permute(2, 3, 0, 1, 4)  # (H, B, K, d) each
        q = q.permute(2, 0, 1, 3) * q.shape[-1] ** -0.5
        att = torch.softmax(q @ k.transpose(-2, -1) + bias.transpose(0, 1).to(q.dtype), dim=-1)
        if drop == 0:
            return att @ v
        # the mask drawn in (B, H, Q, K) order (the draws of the layout before); 1 / (1 - p)
        # scales the (H, B, Q, d) output instead of the (H, B, Q, K) weights
        h, b, nq, nk = att.shape
        keep = dropout_keep((b, h, nq, nk), drop, att.device).transpose(0, 1)
        return (att * keep) @ v * (1.0 / (1.0 - drop))


class _Block(nn.Module):
    """Pre-LN transformer block (NormFormer-style extra LayerNorms as in ParT)."""

    def __init__(self, dim: int, heads: int, ffn_ratio: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _Attention(dim, heads, dropout)
        self.norm_attn = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_ratio * dim),
            nn.GELU(),
            nn.LayerNorm(ffn_ratio * dim),
            FastDropout(dropout),
            nn.Linear(ffn_ratio * dim, dim),
        )
        self.drop = FastDropout(dropout)

    def forward(self, x: Tensor, bias: Tensor, cls_token: Tensor | None = None) -> Tensor:
        if cls_token is None:  # particle attention: x attends to x
            h = self.norm1(x)
            x = x + self.drop(self.norm_attn(self.attn(h, h, bias)))
        else:  # class attention: the class token attends to [class token, particles]
            ctx = self.norm1(torch.cat([cls_token, x], dim=1))
            x = cls_token + self.drop(self.norm_attn(self.attn(ctx[:, :1], ctx, bias)))
        return x + self.drop(self.ffn(self.norm2(x)))


class ParticleTransformer(nn.Module, ExportPath):
    """``points`` ``(B, P, F)``, ``points_mask`` ``(B, P)``, ``points_p4`` ``(B, P, 4)`` -> logits ``(B, C)``."""

    input_names = POINT_TENSORS
    #: Outputs do not depend on the padded width: batches may be cut to their longest cloud.
    trim_padding = True
    #: ``precision: auto`` trains it with bf16 autocast on CPUs with native bf16 (faster there).
    cpu_bf16 = True
    #: Embed only real pairs (data-dependent shapes); the export path embeds them all.
    compact_pairs = True

    def __init__(
        self,
        params: Params,
        *,
        num_classes: int,
        input_dim: int,
        point_names: list[str] | None = None,
    ):
        super().__init__()
        dims = [input_dim, *params.embed_dims]
        embed: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            embed += [nn.LayerNorm(a), nn.Linear(a, b), nn.GELU()]
        self.embed = nn.Sequential(*embed)
        dim = params.embed_dims[-1]
        self.heads = params.num_heads
        self.use_pair = params.use_pair_features
        if self.use_pair:
            pdims = [4, *params.pair_embed_dims]
            pair: list[nn.Module] = []
            for a, b in zip(pdims[:-1], pdims[1:], strict=True):
                pair += [nn.Linear(a, b), nn.GELU()]
            pair.append(nn.Linear(pdims[-1], params.num_heads))
            self.pair_embed = nn.Sequential(*pair)
        self.blocks = nn.ModuleList(
            _Block(dim, params.num_heads, params.ffn_ratio, params.dropout)
            for _ in range(params.num_layers)
        )
        # no dropout in class attention, as in the reference implementation (weaver-core)
        self.cls_blocks = nn.ModuleList(
            _Block(dim, params.num_heads, params.ffn_ratio, 0.0)
            for _ in range(params.num_cls_layers)
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def use_export_path(self) -> None:
        self.compact_pairs = False

    def pair_bias(self, p4: Tensor, mask: Tensor) -> Tensor:
        """Embedded pair features as an attention bias ``(B, H, P, P)`` (the reference and export path).

        The embedding runs once per unordered pair (the lower triangle, :func:`pair_features_tril`)
        and one gather mirrors it onto both halves; its backward sums the two halves' gradients.
        :meth:`attention_bias` gives the same values from the real pairs only.
        """
        b, p, _ = p4.shape
        feats, _, _ = pair_features_tril(p4, mask)
        u = self.pair_embed(feats).transpose(1, 2).contiguous()  # (B, H, P(P+1)/2)
        # gathering along the last axis of a 2-d view is ~8x faster than of the 3-d tensor
        return (
            u.view(b * self.heads, -1)
            .index_select(1, _mirror(p, p4.device))
            .view(b, self.heads, p, p)
        )

    def attention_bias(self, p4: Tensor, mask: Tensor, keys: Tensor, dtype: torch.dtype) -> Tensor:
        """Pair bias plus the key mask (``-inf`` where key ``j`` is not in ``keys``): ``(B, H, P, P)``.

        Only the pairs of two real particles are embedded (:func:`real_pair_features`), in row
        blocks whose activations stay in the CPU cache; pairs with padding all have zero
        features, so one extra table column holds their embedding, and a second one ``-inf``
        for masked keys, so one gather gives the bias with the mask (``x + (-inf) = -inf``,
        ``x + 0 = x``: the values of ``pair_bias + key mask``). The table is cast to ``dtype``
        before the gather. The result is a ``(B, H, P, P)`` view of ``(H, B, P, P)`` memory,
        contiguous in the key axis as attention reads it. Its backward adds the gradients of
        all the places a table entry went to (both triangle halves, all padded pairs).
        """
        b, p, _ = p4.shape
        feats, row = real_pair_features(p4, mask)
        n = feats.shape[0]
        feats = torch.cat([feats, feats.new_zeros(1, 4)])
        # row blocks whose activations stay in the CPU cache (~25 % faster; rows are independent)
        emb = torch.cat([self.pair_embed(f) for f in feats.split(_PAIR_ROWS)])
        masked = emb.new_full((1, self.heads), float("-inf"))
        table = torch.cat([emb, masked]).to(dtype).t().contiguous()  # (H, R + 2)
        index = row.index_select(1, _mirror(p, p4.device)).view(b, p, p)
        index = torch.where(keys.unsqueeze(1), index, n + 1).view(-1)
        return table.index_select(1, index).view(self.heads, b, p, p).transpose(0, 1)

    def forward(self, points: Tensor, points_mask: Tensor, points_p4: Tensor) -> Tensor:
        b, p, _ = points.shape
        # A graph with no real particle would give an all -inf row: let it see particle 0.
        keys = points_mask.clone()
        keys[:, 0] |= ~points_mask.any(1)
        x = self.embed(points)
        x = torch.where(points_mask.unsqueeze(-1), x, x.new_zeros(()))
        key_bias = x.new_zeros(b, 1, 1, p).masked_fill(~keys[:, None, None, :], float("-inf"))
        if self.use_pair and self.compact_pairs:
            bias = self.attention_bias(points_p4, points_mask, keys, x.dtype)
        elif self.use_pair:  # export path: every pair, no data-dependent shapes
            bias = self.pair_bias(points_p4, points_mask).to(x.dtype) + key_bias
        else:
            bias = key_bias.expand(b, self.heads, p, p)
        for blk in self.blocks:
            x = blk(x, bias)
        cls_bias = torch.cat([key_bias.new_zeros(b, 1, 1, 1), key_bias], dim=-1).expand(
            b, self.heads, 1, p + 1
        )
        cls = self.cls_token.expand(b, 1, -1)
        for blk in self.cls_blocks:
            cls = blk(x, cls_bias, cls_token=cls)
        return self.head(self.norm(cls.squeeze(1)))
