"""Input schemas: map logical objects (``jets.pt``) to the branches of an ntuple.

A schema is a YAML file under ``<config_dir>/inputs/<name>.yaml`` (see
``configs/inputs/generated.yaml``). It is data, not code: each collection names
its counter branch (``nJet``; absent for one value per event such as MET) and a
mapping of logical field names to branch names (``null``: not stored). Feature
sets ask for logical fields; the reader turns them into branches, so the same
feature set runs on generated ntuples, NanoAOD, PFNano or a flat tree.
Names resolve through :func:`input_schemas`, a :class:`dl4hep.plugins.Registry` of the YAML files
of ``<config_dir>/inputs`` (adding a schema is adding a file); a path to any YAML works too.

A *detecting* schema (``detect: [nanoaod_v15, nanoaod_v12, nanoaod_v9]``) maps nothing itself:
for each file it picks the one candidate whose ``signature`` branches the file has
(:meth:`InputSchema.resolve`), so ``input: nanoaod`` reads every NanoAOD version. While a file
is read, the reader *binds* the detecting schema to that file's flavour, so feature sets that
ask it for constants (working points) get the flavour's values.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from dl4hep import plugins
from dl4hep.config.yaml import load_yaml
from dl4hep.errors import (
    ConfigError,
    InputFileError,
    did_you_mean,
    format_validation_error,
    keys_of,
)

__all__ = [
    "CollectionSpec", "EventIdSpec", "InputSchema", "RunsSpec", "available_schemas", "input_schemas",
    "load_input_schema",
]


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
    detect: list[str] = Field(
        default_factory=list,
        description="Candidate schemas (names or paths): this schema reads each file with the one whose "
        "signature branches the file has. A detecting schema maps no collections itself.",
    )
    signature: list[str] = Field(
        default_factory=list,
        description="Branches of `tree` that identify this flavour when a detecting schema chooses it.",
    )
    #: Where the schema came from (file path), for error messages. Not part of the YAML.
    source: str = Field("<schema>", exclude=True)
    _candidates: dict[str, InputSchema] = PrivateAttr(default_factory=dict)
    _bound: InputSchema | None = PrivateAttr(default=None)
    _by_input: dict[str, InputSchema] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _detect_alone(self) -> InputSchema:
        if self.detect and (self.collections or self.constants or self.signature):
            raise ValueError("a detecting schema (detect:) takes collections and constants from its candidates; "
                             "remove collections/constants/signature from it")
        return self

    @property
    def name(self) -> str:
        return Path(self.source).stem

    # ------------------------------------------------------------------ detection

    @property
    def candidates(self) -> dict[str, InputSchema]:
        """Loaded candidate schemas of a detecting schema (empty otherwise)."""
        return self._candidates

    def resolve(self, branches: Collection[str], location: str) -> InputSchema:
        """The schema that reads ``location``: itself, or the single candidate whose signature matches.

        Args:
            branches: column names of the file's ``tree`` (RNTuple collection sub-fields included).
            location: the file, named in errors.

        Raises:
            InputFileError: no candidate or several candidates match (lists them and what they need).
        """
        if not self.detect:
            return self
        names = set(branches)
        hits = [c for c in self._candidates.values() if all(_has(names, b) for b in c.signature)]
        if len(hits) == 1:
            self._by_input[location] = hits[0]
            return hits[0]
        needs = "; ".join(f"{n} needs {c.signature}" for n, c in self._candidates.items())
        problem = "no candidate schema matches its branches" if not hits else (
            f"several candidate schemas match ({[h.name for h in hits]}): their signatures overlap")
        raise InputFileError(
            f"cannot tell which flavour of {self.name} {location} is: {problem} ({needs}). Set the task's or "
            f"sample's input: to one of {list(self._candidates)} explicitly, or add a schema with a signature; "
            f"`dl4hep inspect {location}` lists the branches."
        )

    def for_input(self, location: str) -> InputSchema:
        """The schema resolved for ``location`` by :meth:`resolve` (itself if not detecting)."""
        return self._by_input.get(location, self) if self.detect else self

    def bind(self, schema: InputSchema | None) -> None:
        """Make a detecting schema answer :meth:`constant` and :meth:`collection` as ``schema``."""
        self._bound = schema

    @property
    def effective(self) -> InputSchema:
        return self._bound if self.detect and self._bound is not None else self

    # ------------------------------------------------------------------ lookups

    def collection(self, name: str, *, where: str = "") -> CollectionSpec:
        if self.effective is not self:
            return self.effective.collection(name, where=where)
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
        if self.effective is not self:
            return self.effective.constant(name, default)
        if name in self.constants:
            return float(self.constants[name])
        if default is not None:
            return default
        raise ConfigError(
            f"input schema {self.source} has no constant '{name}'; add it under 'constants:'. "
            f"Constants are {sorted(self.constants)}." + did_you_mean(name, self.constants)
        )


def input_schemas(config_dir: str | Path) -> plugins.Registry[Path]:
    """The input schemas of ``<config_dir>/inputs``: name (file stem) -> YAML path.

    Built per call from the folder (cheap: one glob), so a schema added there is seen at once and
    two configs with their own ``inputs/`` never mix.
    """
    return plugins.Registry("input schema", plugins.yaml_files_in(Path(config_dir) / "inputs", lambda p: p))


def available_schemas(config_dir: str | Path) -> list[str]:
    """Names of the schemas under ``<config_dir>/inputs``."""
    return input_schemas(config_dir).names()


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
    path = _schema_path(str(name_or_path), config_dir, where)
    try:
        schema = InputSchema.model_validate(load_yaml(path))
    except ValidationError as err:
        header = f"{where}: invalid input schema {path}:"
        raise ConfigError(format_validation_error(err, header, allowed=keys_of(InputSchema))) from None
    schema.source = str(path)
    for cand in schema.detect:
        loaded = load_input_schema(cand, config_dir=config_dir, where=f"{where} ({path} detect:)")
        if loaded.detect or not loaded.signature:
            raise ConfigError(f"{where}: candidate '{cand}' of the detecting schema {path} must map branches and "
                              "have a non-empty signature: (and no detect: of its own)")
        schema._candidates[loaded.name] = loaded
    return schema


def _schema_path(text: str, config_dir: str | Path, where: str) -> Path:
    """The YAML file of a schema given by path (it must exist) or by name (it must be registered)."""
    candidate = Path(text)
    if text.endswith((".yaml", ".yml")) or candidate.is_file() or "/" in text:
        if not candidate.is_file():
            raise ConfigError(f"{where}: input schema file {candidate} does not exist")
        return candidate
    registry = input_schemas(config_dir)
    if text not in registry:
        known = registry.names()
        raise ConfigError(
            f"{where}: unknown input schema '{text}' (no {Path(config_dir) / 'inputs' / f'{text}.yaml'}); "
            f"available: {known}." + did_you_mean(text, known) + " Give a schema name or a path to a YAML file."
        )
    return registry.get(text, where=where)


def _has(names: set[str], branch: str) -> bool:
    """``branch`` or its RNTuple collection form ``Coll.field`` is among ``names``."""
    coll, _, sub = branch.partition("_")
    return branch in names or (bool(sub) and f"{coll}.{sub}" in names)
