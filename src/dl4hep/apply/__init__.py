"""The apply stage: score any ntuple with a trained model (``dl4hep apply``) or inside coffea.

Entry: :func:`apply_model` (``dl4hep apply``; rule ``apply`` in workflow/rules/apply.smk for samples
with ``label: null``). Reads ntuples with the task's input schema and a model directory
(``models/<task>/<model>``), a K-fold directory or an exported ``model.onnx``; writes one parquet
row per selected object keyed by run/lumi/event (``applied/<task>/<model>/<sample>/<part>.parquet``)
and optionally an entry-aligned ROOT friend tree.

Modules: ``api`` (the entry), ``scorer`` (model directory / K-fold / ONNX behind one interface),
``rows`` (feature rows to model tensors), ``friend`` (the friend tree), ``torchscript`` (export for
C++ users); :mod:`dl4hep.coffea` wraps the same scorer as a coffea ``torch_wrapper``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply_model"]


def __getattr__(name: str) -> Any:  # the entry imports torch and the feature code: load it on first use
    if name == "apply_model":
        from dl4hep.apply.api import apply_model

        return apply_model
    raise AttributeError(name)
