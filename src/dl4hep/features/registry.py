"""Registry of feature sets: name -> module. Importable without torch.

A feature-set module defines ``NAME``, ``BLOCKS`` (subset of ``{"tabular", "points"}``),
``Options`` (pydantic, ``extra="forbid"``), ``needs(options)`` (logical
collections/fields read, see :data:`dl4hep.io.reader.Needs`),
``names(options)`` (``{"tabular": [...], "points": [...], "observers": [...], "max_points": P}``)
and ``compute(chunk, options, schema) -> FeatureOutput``. Optional hooks: ``blocks(options)``
(the blocks these options provide, when they depend on them), ``check(options, schema, *, where)``
(names checked against the task's input schema before any job) and ``extend_schema(options,
schema)`` (raw branches the options add to the schema before the file is read; the ``columns``
set). Adding a feature set is one module plus one line in :data:`FEATURE_SETS`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

from dl4hep.errors import ConfigError, did_you_mean

__all__ = ["FEATURE_SETS", "check_feature_set", "feature_blocks", "feature_names", "get_feature_set", "parse_options"]

FEATURE_SETS: dict[str, str] = {
    "shower_shapes": "dl4hep.features.shower_shapes",
    "nanoaod_photon": "dl4hep.features.nanoaod_photon",
    "dilepton_kinematics": "dl4hep.features.dilepton_kinematics",
    "jet_point_cloud": "dl4hep.features.jet_point_cloud",
    "jet_substructure": "dl4hep.features.jet_substructure",
    "columns": "dl4hep.features.columns",
}


def get_feature_set(name: str, *, where: str = "features") -> ModuleType:
    """Import the module of feature set ``name``."""
    if name not in FEATURE_SETS:
        raise ConfigError(
            f"{where}: unknown feature set '{name}'; available: {sorted(FEATURE_SETS)}."
            + did_you_mean(name, FEATURE_SETS)
        )
    return importlib.import_module(FEATURE_SETS[name])


def parse_options(name: str, options: dict[str, Any] | None, *, where: str) -> BaseModel:
    """Validate ``options`` with the set's ``Options`` model (unknown keys are errors)."""
    module = get_feature_set(name, where=where)
    try:
        return module.Options.model_validate(options or {})
    except ValidationError as err:
        allowed = sorted(module.Options.model_fields)
        lines = [f"{where}: invalid options for feature set '{name}':"]
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            if e["type"] == "extra_forbidden":
                lines.append(f"  unknown option '{loc}'.{did_you_mean(loc, allowed)} Allowed: {allowed}")
            else:
                lines.append(f"  {loc}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def check_feature_set(name: str, options: dict[str, Any] | None, *, where: str, schema: Any = None,
                      options_where: str | None = None) -> None:
    """Raise :class:`ConfigError` naming ``where`` if the name or an option is wrong.

    With ``schema`` (an :class:`~dl4hep.io.schema.InputSchema`), a set that names collections and
    fields in its options (``columns``) also checks them against it, naming ``options_where``.
    """
    opts = parse_options(name, options, where=where)
    hook = getattr(get_feature_set(name), "check", None)
    if schema is not None and hook is not None:
        hook(opts, schema, where=options_where or where)


def feature_names(name: str, options: dict[str, Any] | None, *, where: str) -> dict[str, Any]:
    """``{"tabular", "points", "observers", "max_points"}`` the set produces with these options."""
    return get_feature_set(name, where=where).names(parse_options(name, options, where=where))


def feature_blocks(name: str, options: dict[str, Any] | None = None) -> set[str]:
    """Dataset blocks (``"tabular"``, ``"points"``) the feature set provides (with ``options``, if they matter)."""
    module = get_feature_set(name)
    if options is not None and hasattr(module, "blocks"):
        return set(module.blocks(parse_options(name, options, where=f"feature_options.{name}")))
    return set(module.BLOCKS)
