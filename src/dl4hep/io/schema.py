"""Input schemas: map logical objects (``jets.pt``) to the branches of an ntuple.

A schema is a YAML file under ``<config_dir>/inputs/<name>.yaml`` (see
``configs/inputs/generated.yaml``). It is data, not code: each collection names
its counter branch (``nJet``; absent for one value per event such as MET) and a
mapping of logical field names to branch names (``null``: not stored). Feature
sets ask for logical fields; the reader turns them into branches, so the same
feature set runs on generated ntuples, NanoAOD, PFNano or a flat tree.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dl4hep.errors import ConfigError, did_you_mean

__all__ = ["CollectionSpec", "EventIdSpec", "InputSchema", "RunsSpec", "available_schemas", "load_input_schema"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIdSpec(_Strict):
    """Branches holding the event identity (``null``: not stored, written as 0)."""

    run: str | None = Field("run", description="Run number branch.")
    luminosityBlock: str | None = Field("luminosityBlock", description="Luminosity-block branch.")  # noqa: N815
    event: str | None = Field("event", description="Event number branch.")


class RunsSpec(_Strict):
    """The per-run tree with generator totals (used by the dataset stage for weights)."""

    tree: str = "Runs"
    cross_section: str | None = Field(None, description="Cross-section branch in pb (generated files only).")
    sum_weights: str | None = Field(None, description="Sum of generator weights branch.")
    n_events: str | None = Field(None, description="Number of generated events branch.")


class CollectionSpec(_Strict):
    """One logical collection: a counter (jagged, NanoAOD style) or one value per entry."""

    counter: str | None = Field(None, description="Counter branch (nJet); absent: one value per entry.")
    fields: dict[str, str | None] = Field(description="Logical field -> branch name (null: not stored).")

    def branch(self, field: str) -> str | None:
        return self.fields.get(field)


class InputSchema(_Strict):
    """Typed content of ``configs/inputs/<name>.yaml``."""

    tree: str = Field("Events", description="Tree holding one entry per event (or per object for flat trees).")
    event_id: EventIdSpec = Field(default_factory=EventIdSpec)
    weight: str | None = Field("genWeight", description="Generator-weight branch (null: weight 1).")
    runs: RunsSpec | None = None
    collections: dict[str, CollectionSpec] = Field(default_factory=dict)
    constants: dict[str, float] = Field(default_factory=dict, description="Working points and cuts (btag_threshold, ...).")
    #: Where the schema came from (file path), for error messages. Not part of the YAML.
    source: str = Field("<schema>", exclude=True)

    def collection(self, name: str, *, where: str = "") -> CollectionSpec:
        try:
            return self.collections[name]
        except KeyError:
            raise ConfigError(
                f"input schema {self.source} has no collection '{name}'"
                + (f" (needed by {where})" if where else "")
                + f"; collections are {sorted(self.collections)}."
                + did_you_mean(name, self.collections)
            ) from None

    def constant(self, name: str, default: float | None = None) -> float:
        if name in self.constants:
            return float(self.constants[name])
        if default is not None:
            return default
        raise ConfigError(
            f"input schema {self.source} has no constant '{name}'; add it under 'constants:'. "
            f"Constants are {sorted(self.constants)}." + did_you_mean(name, self.constants)
        )


def available_schemas(config_dir: str | Path) -> list[str]:
    """Names of the schemas under ``<config_dir>/inputs``."""
    return sorted(p.stem for p in (Path(config_dir) / "inputs").glob("*.yaml"))


def load_input_schema(name_or_path: str, *, config_dir: str | Path, where: str) -> InputSchema:
    """Load an input schema by name (``<config_dir>/inputs/<name>.yaml``) or by path.

    Args:
        name_or_path: a schema name such as ``"nanoaod"`` or a path to a YAML file.
        config_dir: directory holding ``inputs/``.
        where: config key that asked for it (``tasks.jets.input``), named in errors.

    Raises:
        ConfigError: unknown name (with the available names and the nearest match),
            unreadable YAML or a key the schema model does not allow.
    """
    from dl4hep.config import load_yaml  # torch-free; imported late to keep io below config

    text = str(name_or_path)
    candidate = Path(text)
    if text.endswith((".yaml", ".yml")) or candidate.is_file() or "/" in text:
        path = candidate
        if not path.is_file():
            raise ConfigError(f"{where}: input schema file {path} does not exist")
    else:
        path = Path(config_dir) / "inputs" / f"{text}.yaml"
        if not path.is_file():
            known = available_schemas(config_dir)
            raise ConfigError(
                f"{where}: unknown input schema '{text}' (no {path}); available: {known}."
                + did_you_mean(text, known)
                + " Give a schema name or a path to a YAML file."
            )
    raw = load_yaml(path)
    try:
        schema = InputSchema.model_validate(raw)
    except ValidationError as err:
        lines = [f"{where}: invalid input schema {path}:"]
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            lines.append(f"  {loc or '<top>'}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None
    schema.source = str(path)
    return schema
