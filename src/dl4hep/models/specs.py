"""Model-type registry as data: hyperparameter schemas and readable inputs, torch-free.

This module runs at Snakefile parse time (``dl4hep.registry_checks``), so it must
not import torch. Each model type has a pydantic model (``extra="forbid"``) of
its hyperparameters and the dataset blocks it can read. The torch classes are
looked up by the same name in :mod:`dl4hep.models.registry`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dl4hep.errors import ConfigError, did_you_mean

__all__ = [
    "AutoencoderParams",
    "DNNParams",
    "HitGNNParams",
    "MODEL_SPECS",
    "ModelSpec",
    "PFNParams",
    "ParticleNetParams",
    "ParticleTransformerParams",
    "SetAutoencoderParams",
    "check_model",
    "model_types",
    "parse_hyperparameters",
]

Activation = Literal["relu", "silu", "gelu", "tanh", "leaky_relu"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DNNParams(_Params):
    """Multilayer perceptron on the tabular block."""

    hidden: list[int] = Field(default_factory=lambda: [128, 128, 64], min_length=1, description="Widths of the hidden layers.")
    activation: Activation = "silu"
    batch_norm: bool = Field(True, description="BatchNorm1d after each hidden Linear.")
    dropout: float = Field(0.1, ge=0, lt=1)

    @field_validator("hidden")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(h < 1 for h in v):
            raise ValueError(f"widths must be >= 1, got {v}")
        return v


class PFNParams(_Params):
    """Particle Flow Network (Deep Sets): per-particle Phi, masked sum, F."""

    phi_sizes: list[int] = Field(default_factory=lambda: [128, 128, 128], min_length=1)
    f_sizes: list[int] = Field(default_factory=lambda: [128, 128], min_length=1)
    activation: Activation = "relu"
    dropout: float = Field(0.1, ge=0, lt=1)


class ParticleNetParams(_Params):
    """ParticleNet: EdgeConv blocks, static kNN in ``coords`` then dynamic kNN in feature space."""

    k: int = Field(16, ge=1, description="Neighbours per particle.")
    conv_channels: list[list[int]] = Field(
        default_factory=lambda: [[64, 64, 64], [128, 128, 128], [256, 256, 256]], min_length=1,
        description="Channels of the MLP inside each EdgeConv block.",
    )
    fc_channels: list[int] = Field(default_factory=lambda: [256], description="Fully connected head widths.")
    dropout: float = Field(0.1, ge=0, lt=1)
    coords: list[str] | None = Field(
        None, description="Point features of the first kNN graph, e.g. [deta, dphi] (default: the first two).",
    )

    @field_validator("conv_channels")
    @classmethod
    def _nonempty(cls, v: list[list[int]]) -> list[list[int]]:
        if any(len(block) == 0 for block in v):
            raise ValueError("every EdgeConv block needs at least one channel width")
        return v


class ParticleTransformerParams(_Params):
    """Particle Transformer (arXiv:2202.03772) with pairwise-interaction attention bias."""

    embed_dims: list[int] = Field(
        default_factory=lambda: [128, 512, 128], min_length=1,
        description="Particle-embedding MLP widths; the last is the model width.",
    )
    pair_embed_dims: list[int] = Field(
        default_factory=lambda: [64, 64, 64], description="Pair-embedding MLP widths (then one layer to num_heads).",
    )
    num_heads: int = Field(8, ge=1)
    num_layers: int = Field(8, ge=1, description="Particle attention blocks.")
    num_cls_layers: int = Field(2, ge=1, description="Class attention blocks.")
    ffn_ratio: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    use_pair_features: bool = Field(True, description="Add the ln Delta, ln kT, ln z, ln m^2 attention bias.")

    def model_post_init(self, __context: Any) -> None:
        if self.embed_dims[-1] % self.num_heads:
            raise ValueError(
                f"embed_dims[-1]={self.embed_dims[-1]} must be divisible by num_heads={self.num_heads}"
            )


class HitGNNParams(_Params):
    """EdgeConv graph network on calorimeter hit clouds (kNN in ``coords``)."""

    k: int = Field(8, ge=1)
    hidden: int = Field(64, ge=1)
    num_layers: int = Field(3, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    dynamic: bool = Field(False, description="Rebuild the kNN graph in feature space after the first layer.")
    coords: list[str] | None = Field(None, description="Point features of the kNN graph, e.g. [ieta, iphi] (default: the first two).")


class AutoencoderParams(_Params):
    """Dense autoencoder on the tabular block; its output is the per-row reconstruction error."""

    hidden: list[int] = Field(default_factory=lambda: [32, 16], min_length=1,
                              description="Encoder widths (the decoder mirrors them).")
    latent: int = Field(4, ge=1, description="Bottleneck width: far below the feature count, so only the "
                        "training (background) manifold is reconstructed well.")
    activation: Activation = "silu"


class SetAutoencoderParams(_Params):
    """Point-cloud autoencoder: Deep-Sets encoder to a latent vector, decoder to per-particle features."""

    phi_sizes: list[int] = Field(default_factory=lambda: [64, 64], min_length=1,
                                 description="Per-particle encoder widths before the masked mean.")
    latent: int = Field(8, ge=1, description="Width of the jet's latent vector.")
    decoder: list[int] = Field(default_factory=lambda: [64, 64], min_length=1,
                               description="Widths of the decoder that maps (latent, slot position) to a particle.")
    activation: Activation = "relu"


class ModelSpec(BaseModel):
    """A registry entry: hyperparameter schema, readable blocks and a one-line description.

    ``objective``: ``classifier`` models return class logits (or regression outputs);
    ``anomaly`` models return one anomaly score per row and train on the background class only.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    params: type[_Params]
    inputs: tuple[str, ...]
    description: str
    objective: Literal["classifier", "anomaly"] = "classifier"


MODEL_SPECS: dict[str, ModelSpec] = {
    "dnn": ModelSpec(params=DNNParams, inputs=("tabular",), description="MLP on tabular features"),
    "pfn": ModelSpec(params=PFNParams, inputs=("points",), description="Particle Flow Network / Deep Sets"),
    "particlenet": ModelSpec(params=ParticleNetParams, inputs=("points",), description="ParticleNet (EdgeConv)"),
    "particle_transformer": ModelSpec(
        params=ParticleTransformerParams, inputs=("points",), description="Particle Transformer (ParT)"
    ),
    "hit_gnn": ModelSpec(params=HitGNNParams, inputs=("points",), description="EdgeConv GNN on hit clouds"),
    "autoencoder": ModelSpec(params=AutoencoderParams, inputs=("tabular",), objective="anomaly",
                             description="Dense autoencoder: reconstruction error as anomaly score"),
    "set_autoencoder": ModelSpec(params=SetAutoencoderParams, inputs=("points",), objective="anomaly",
                                 description="Deep-Sets point-cloud autoencoder: reconstruction error as anomaly score"),
}


def model_types() -> list[str]:
    """Names of every registered model type."""
    return sorted(MODEL_SPECS)


def parse_hyperparameters(type: str, hyperparameters: dict[str, Any], *, where: str = "model") -> _Params:
    """Validate ``hyperparameters`` for ``type`` and return the typed, defaulted object."""
    if type not in MODEL_SPECS:
        raise ConfigError(
            f"{where}.type: unknown model type '{type}'; registered types are {model_types()}."
            + did_you_mean(type, MODEL_SPECS)
        )
    schema = MODEL_SPECS[type].params
    try:
        return schema.model_validate(hyperparameters or {})
    except ValidationError as err:
        lines = [f"invalid hyperparameters for model type '{type}':"]
        allowed = sorted(schema.model_fields)
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"])
            path = f"{where}.hyperparameters.{key}" if key else f"{where}.hyperparameters"
            if e["type"] == "extra_forbidden":
                lines.append(f"  unknown key '{path}'." + did_you_mean(str(e["loc"][-1]), allowed) + f" Allowed: {allowed}")
            else:
                lines.append(f"  {path}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def check_model(type: str, inputs: str, hyperparameters: dict[str, Any], *, where: str) -> None:
    """Raise :class:`ConfigError` if ``type`` is unknown, cannot read ``inputs`` or has bad hyperparameters.

    Args:
        type: Model type, a key of :data:`MODEL_SPECS`.
        inputs: Dataset block the model reads (``"tabular"`` or ``"points"``).
        hyperparameters: Mapping checked against the type's pydantic schema.
        where: Config key path used in messages, e.g. ``tasks.jets.models.part``.
    """
    if type not in MODEL_SPECS:
        raise ConfigError(
            f"{where}.type: unknown model type '{type}'; registered types are {model_types()}."
            + did_you_mean(type, MODEL_SPECS)
        )
    spec = MODEL_SPECS[type]
    if inputs not in spec.inputs:
        readers = sorted(t for t, s in MODEL_SPECS.items() if inputs in s.inputs)
        raise ConfigError(
            f"{where}.inputs: model type '{type}' reads {list(spec.inputs)}, not '{inputs}'; "
            f"set inputs to {spec.inputs[0]!r} or pick a type that reads '{inputs}': {readers}"
        )
    parse_hyperparameters(type, hyperparameters, where=where)
