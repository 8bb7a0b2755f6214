"""Registry of feature sets: name -> :class:`~dl4hep.features.protocol.FeatureSet`. Importable without torch.

Every module of :mod:`dl4hep.features.sets` is a feature set named after its file, discovered by
:func:`dl4hep.plugins.modules_in` (no table to edit); a set defined elsewhere is added with
``FEATURE_SETS.register(name, module_or_object)``. What a set defines: :mod:`dl4hep.features.protocol`.
Modules are imported only when a set is asked for, so listing and checking names stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError

from dl4hep import plugins
from dl4hep.errors import ConfigError, format_validation_error, keys_of
from dl4hep.features.protocol import REQUIRED, FeatureNames, FeatureSet

__all__ = [
    "FEATURE_SETS",
    "SETS_PACKAGE",
    "check_feature_set",
    "feature_blocks",
    "feature_names",
    "get_feature_set",
    "is_event_level",
    "parse_options",
]

SETS_PACKAGE = "dl4hep.features.sets"


def _discover() -> dict[str, plugins.Loader]:
    """The modules of :data:`SETS_PACKAGE` that define ``compute``; the plugin is the module itself."""
    found = plugins.modules_in(SETS_PACKAGE, "compute")()
    return {
        name: (lambda name=name, check=check: _load_module(name, check))
        for name, check in found.items()
    }


def _load_module(name: str, check: plugins.Loader) -> Any:
    check()  # imports the module; ConfigError if it defines no compute
    module = importlib.import_module(f"{SETS_PACKAGE}.{name}")
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing or name != module.NAME:
        raise ConfigError(
            f"feature set module {module.__name__} must define {list(REQUIRED)} with NAME = "
            f"{name!r} (dl4hep.features.protocol); missing {missing}, NAME {getattr(module, 'NAME', None)!r}"
        )
    return module


FEATURE_SETS: plugins.Registry[FeatureSet] = plugins.Registry("feature set", _discover)


def get_feature_set(name: str, *, where: str = "features") -> FeatureSet:
    """The feature set ``name`` (its module, for the shipped sets)."""
    return FEATURE_SETS.get(name, where=where)


def parse_options(name: str, options: dict[str, Any] | None, *, where: str) -> BaseModel:
    """Validate ``options`` with the set's ``Options`` model (unknown keys are errors)."""
    model = get_feature_set(name, where=where).Options
    try:
        return model.model_validate(options or {})
    except ValidationError as err:
        header = f"{where}: invalid options for feature set '{name}':"
        raise ConfigError(
            format_validation_error(err, header, allowed=keys_of(model), kind="option")
        ) from None


def check_feature_set(
    name: str,
    options: dict[str, Any] | None,
    *,
    where: str,
    schema: Any = None,
    options_where: str | None = None,
) -> None:
    """Raise :class:`ConfigError` naming ``where`` if the name or an option is wrong.

    With ``schema`` (an :class:`~dl4hep.io.schema.InputSchema`), a set that names collections and
    fields in its options (``columns``) also checks them against it, naming ``options_where``.
    """
    opts = parse_options(name, options, where=where)
    hook = getattr(get_feature_set(name), "check", None)
    if schema is not None and hook is not None:
        hook(opts, schema, where=options_where or where)


def feature_names(name: str, options: dict[str, Any] | None, *, where: str) -> FeatureNames:
    """``{"tabular", "points", "observers", "max_points"}`` the set produces with these options."""
    return get_feature_set(name, where=where).names(parse_options(name, options, where=where))


def feature_blocks(name: str, options: dict[str, Any] | None = None) -> set[str]:
    """Dataset blocks (``"tabular"``, ``"points"``) the feature set provides (with ``options``, if they matter)."""
    fset = get_feature_set(name)
    hook = getattr(fset, "blocks", None)
    if options is not None and hook is not None:
        return set(hook(parse_options(name, options, where=f"feature_options.{name}")))
    return set(fset.BLOCKS)


def is_event_level(names: list[str]) -> bool:
    """True when every named set gives one row per event (its ``EVENT_LEVEL``; objects otherwise)."""
    return all(getattr(get_feature_set(name), "EVENT_LEVEL", False) for name in names)
