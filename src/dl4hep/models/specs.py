"""The model-type registry, torch-free: names, specs and hyperparameter checks.

This module runs at Snakefile parse time (``dl4hep.validate``), so it must not import
torch. The registry :data:`MODELS` lists the plugin files of :mod:`dl4hep.models.nets` without
importing them; asking for a type runs only the head of its file, the statements up to and
including ``SPEC = ...`` (:func:`read_head`), which hold the pydantic ``Params`` and the
:class:`~dl4hep.models.plugin.ModelSpec`. The torch part below is imported when a model is built
(:mod:`dl4hep.models.registry`); from then on :func:`model_spec` returns that module's own ``SPEC``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import sys
import types
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dl4hep.errors import ConfigError, format_validation_error
from dl4hep.models.plugin import ModelSpec, Params
from dl4hep.plugins import Loader, Registry

__all__ = [
    "MODELS",
    "MODEL_SPECS",
    "NETS",
    "ModelSpec",
    "check_model",
    "model_spec",
    "model_types",
    "parse_hyperparameters",
    "read_head",
]

#: Package whose modules are the shipped model plugins (file name = model type).
NETS = "dl4hep.models.nets"


def read_head(module: str) -> ModelSpec:
    """The ``SPEC`` of plugin ``module``, from its statements up to ``SPEC = ...`` only (no torch).

    The head runs as module ``module`` (so pydantic resolves its annotations) and is then dropped
    from :data:`sys.modules`, so a later import of ``module`` runs the whole file.
    """
    if module in sys.modules:
        return _spec_of(sys.modules[module], module)
    found = importlib.util.find_spec(module)
    if found is None or found.origin is None:
        raise ConfigError(f"model plugin {module} not found")
    tree = ast.parse(Path(found.origin).read_text(encoding="utf-8"), found.origin)
    ends = [i for i, node in enumerate(tree.body) if _assigns_spec(node)]
    if not ends:
        raise ConfigError(f"model plugin {found.origin} defines no 'SPEC = ModelSpec(...)'")
    head = types.ModuleType(module)
    head.__file__ = found.origin
    sys.modules[module] = head
    try:
        exec(
            compile(
                ast.Module(body=tree.body[: ends[0] + 1], type_ignores=[]), found.origin, "exec"
            ),
            vars(head),
        )
    finally:
        del sys.modules[module]
    return _spec_of(head, module)


def _assigns_spec(node: ast.stmt) -> bool:
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else [node.target]
        if isinstance(node, ast.AnnAssign)
        else []
    )
    return any(isinstance(t, ast.Name) and t.id == "SPEC" for t in targets)


def _spec_of(module: types.ModuleType, name: str) -> ModelSpec:
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, ModelSpec):
        raise ConfigError(
            f"model plugin {name}: SPEC must be a dl4hep.models.plugin.ModelSpec, got {type(spec).__name__}"
        )
    return spec


def _discover() -> dict[str, Loader]:
    """Type name -> head reader of every public module of :data:`NETS` (nothing is imported)."""
    pkg = importlib.import_module(NETS)
    return {
        info.name: partial(read_head, f"{NETS}.{info.name}")
        for info in pkgutil.iter_modules(pkg.__path__)
        if not info.name.startswith("_")
    }


#: Every model type: the plugin files of :data:`NETS`, plus any registered with ``MODELS.register``.
MODELS: Registry[ModelSpec] = Registry("model type", _discover)


def model_types() -> list[str]:
    """Names of every registered model type."""
    return MODELS.names()


def model_spec(type: str, *, where: str = "model") -> ModelSpec:
    """The :class:`ModelSpec` of ``type`` (the full module's once it is imported); unknown types raise at ``where.type``."""
    spec = MODELS.get(type, where=f"{where}.type")
    full = sys.modules.get(f"{NETS}.{type}")
    return _spec_of(full, type) if full is not None and hasattr(full, "SPEC") else spec


class _SpecView(Mapping[str, ModelSpec]):
    """Read-only ``type -> ModelSpec`` view of :data:`MODELS` (the former ``MODEL_SPECS`` dict)."""

    def __getitem__(self, name: str) -> ModelSpec:
        if name not in MODELS:
            raise KeyError(name)
        return model_spec(name)

    def __iter__(self) -> Iterator[str]:
        return iter(MODELS.names())

    def __len__(self) -> int:
        return len(MODELS)


MODEL_SPECS: Mapping[str, ModelSpec] = _SpecView()


def parse_hyperparameters(
    type: str, hyperparameters: dict[str, Any], *, where: str = "model"
) -> Params:
    """Validate ``hyperparameters`` for ``type`` and return the typed, defaulted object."""
    schema = model_spec(type, where=where).params
    try:
        return schema.model_validate(hyperparameters or {})
    except ValidationError as err:
        header = f"invalid hyperparameters for model type '{type}':"
        raise ConfigError(
            format_validation_error(
                err, header, prefix=f"{where}.hyperparameters", allowed=sorted(schema.model_fields)
            )
        ) from None


def check_model(type: str, inputs: str, hyperparameters: dict[str, Any], *, where: str) -> None:
    """Raise :class:`ConfigError` if ``type`` is unknown, cannot read ``inputs`` or has bad hyperparameters.

    Args:
        type: Model type, a name in :data:`MODELS`.
        inputs: Dataset block the model reads (``"tabular"`` or ``"points"``).
        hyperparameters: Mapping checked against the type's pydantic schema.
        where: Config key path used in messages, e.g. ``tasks.jets.models.part``.
    """
    spec = model_spec(type, where=where)
    if inputs not in spec.inputs:
        readers = sorted(t for t in MODELS.names() if inputs in model_spec(t).inputs)
        raise ConfigError(
            f"{where}.inputs: model type '{type}' reads {list(spec.inputs)}, not '{inputs}'; "
            f"set inputs to {spec.inputs[0]!r} or pick a type that reads '{inputs}': {readers}"
        )
    parse_hyperparameters(type, hyperparameters, where=where)
