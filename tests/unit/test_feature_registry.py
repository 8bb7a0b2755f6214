"""Every registered feature set and every shipped input schema, driven by the registries.

A new module in ``dl4hep/features/sets/`` or a new YAML in ``configs/inputs/`` is exercised here
without editing this file: each set is computed on its ``EXAMPLE`` input and checked against
what its ``names()`` promises.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from dl4hep.contracts import BLOCKS
from dl4hep.errors import ConfigError
from dl4hep.features.base import FeatureOutput
from dl4hep.features.protocol import REQUIRED, Example, FeatureNames
from dl4hep.features.registry import FEATURE_SETS, feature_blocks, feature_names, parse_options
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import input_schemas, load_input_schema
from tests.paths import REPO

CONFIGS = REPO / "configs"
SETS = FEATURE_SETS.names()
SCHEMAS = input_schemas(CONFIGS).names()
EVENTS = 60  # entries of the example file read: enough for rows, small enough to stay fast


def test_registries_find_the_shipped_plugins():
    assert {"shower_shapes", "jet_point_cloud", "jet_substructure", "columns"} <= set(SETS)
    assert {"generated", "nanoaod", "pfnano"} <= set(SCHEMAS)


@pytest.mark.parametrize("name", SETS)
def test_feature_set_follows_the_protocol(name):
    fset = FEATURE_SETS.get(name)
    assert all(hasattr(fset, attr) for attr in REQUIRED) and name == fset.NAME
    assert set(fset.BLOCKS) <= set(BLOCKS) and fset.BLOCKS
    assert isinstance(fset.EXAMPLE, Example) and (REPO / fset.EXAMPLE.file).is_file()
    assert fset.Options.model_config.get("extra") == "forbid"
    for hook in ("needs", "names", "compute", "blocks", "check", "extend_schema"):
        if hasattr(fset, hook):
            assert inspect.getdoc(getattr(fset, hook)), f"{name}.{hook} has no docstring"


def _read_example(name):
    fset = FEATURE_SETS.get(name)
    example = fset.EXAMPLE
    schema = load_input_schema(example.input, config_dir=CONFIGS, where=f"{name}.EXAMPLE")
    opts = parse_options(name, example.options, where=f"{name}.EXAMPLE.options")
    if hasattr(fset, "check"):
        fset.check(opts, schema, where=f"{name}.EXAMPLE.options")
    if hasattr(fset, "extend_schema"):
        fset.extend_schema(opts, schema)
    reader = ChunkReader(
        str(REPO / example.file), schema, fset.needs(opts), step_size=EVENTS, entry_stop=EVENTS
    )
    chunk = next(iter(reader))
    return fset, opts, schema, chunk


@pytest.mark.parametrize("name", SETS)
def test_feature_set_computes_its_example(name):
    fset, opts, schema, chunk = _read_example(name)
    out = fset.compute(chunk, opts, schema)
    names = fset.names(opts)
    assert isinstance(out, FeatureOutput) and set(names) == set(FeatureNames.__annotations__)
    rows = len(out)
    assert rows > 0, f"{name}: no rows from {EVENTS} entries of {fset.EXAMPLE.file}"
    ev = np.asarray(out.event_index)
    assert ev.min() >= 0 and ev.max() < len(chunk) and np.all(np.diff(ev) >= 0)  # event-major
    assert set(out.tabular) == set(names["tabular"]) and set(out.observers) == set(
        names["observers"]
    )
    for key, col in {**out.tabular, **out.observers}.items():
        assert np.shape(col) == (rows,), key
    # NaN is a set's "absent" (a missing lepton, a branch not stored; the dataset stage's nan_policy
    # handles it), inf never is; and the example must give rows that are complete.
    for key, col in {**out.tabular, **out.observers}.items():
        assert not np.isinf(col).any(), f"{name}: {key} is infinite"
    if out.tabular:
        complete = np.all([np.isfinite(col) for col in out.tabular.values()], axis=0)
        assert complete.any(), f"{name}: no row of the example has every tabular feature finite"
    if getattr(fset, "EVENT_LEVEL", False):  # one row per entry, in order (dl4hep apply relies on it)
        assert np.array_equal(ev, np.arange(len(chunk)))
    if out.truth_match is not None:
        assert np.shape(out.truth_match) == (rows,)
    _check_points(name, out, names)


def _check_points(name, out, names):
    if not names["points"]:
        assert out.points is None and names["max_points"] == 0
        return
    P, F = names["max_points"], len(names["points"])
    assert out.points.shape == (len(out), P, F) and out.points_mask.shape == (len(out), P)
    assert out.points_p4.shape == (len(out), P, 4) and out.points_mask.dtype == bool
    assert np.isfinite(out.points).all() and np.isfinite(out.points_p4).all(), name
    assert (
        not out.points[~out.points_mask].any() and not out.points_p4[~out.points_mask].any()
    )  # zero-padded
    assert out.points_mask.any(axis=1).all(), f"{name}: a row without points"


@pytest.mark.parametrize("name", SETS)
def test_feature_blocks_agree_with_names(name):
    fset = FEATURE_SETS.get(name)
    names = feature_names(name, fset.EXAMPLE.options, where="t")
    blocks = feature_blocks(name, fset.EXAMPLE.options)
    assert blocks <= set(fset.BLOCKS)
    assert ("tabular" in blocks) == bool(names["tabular"]) and ("points" in blocks) == bool(
        names["points"]
    )


def test_a_registered_toy_set_is_found_and_checked():
    class ToyOptions(BaseModel):
        model_config = ConfigDict(extra="forbid")
        scale: float = 1.0

    class Toy:
        NAME, BLOCKS, Options = "toy", {"tabular"}, ToyOptions

        def needs(self, options):
            """MET only."""
            return {"met": {"pt": True}}

        def names(self, options):
            """One feature."""
            return {"tabular": ["met"], "points": [], "observers": [], "max_points": 0}

        def compute(self, chunk, options, schema):
            """One row per event."""
            return FeatureOutput(event_index=np.arange(len(chunk)))

    FEATURE_SETS.register("toy", Toy())
    try:
        assert "toy" in FEATURE_SETS and feature_names("toy", {"scale": 2}, where="t")[
            "tabular"
        ] == ["met"]
        with pytest.raises(ConfigError, match=r"unknown option 'scal'\. Did you mean 'scale'\?"):
            parse_options("toy", {"scal": 2}, where="tasks.t.feature_options.toy")
    finally:
        FEATURE_SETS.unregister("toy")
    with pytest.raises(ConfigError, match=r"tasks\.t\.features: unknown feature set 'toy'"):
        FEATURE_SETS.get("toy", where="tasks.t.features")


@pytest.mark.parametrize("name", SCHEMAS)
def test_shipped_input_schema_loads_and_validates(name):
    schema = load_input_schema(name, config_dir=CONFIGS, where=f"inputs/{name}.yaml")
    assert (
        schema.name == name
        and schema.tree
        and schema.source == str(CONFIGS / "inputs" / f"{name}.yaml")
    )
    if schema.detect:
        assert list(schema.candidates) == [
            load_input_schema(c, config_dir=CONFIGS, where="t").name for c in schema.detect
        ]
        assert all(c.signature for c in schema.candidates.values())
        return
    assert schema.collections, f"{name} maps no collection"
    for cname, coll in schema.collections.items():
        assert coll.fields, f"{name}: collection {cname} has no fields"
        assert all(b is None or (isinstance(b, str) and b) for b in coll.fields.values())


def test_input_schema_registry_sees_a_new_yaml_and_names_the_nearest(tmp_path):
    (tmp_path / "inputs").mkdir()
    assert input_schemas(tmp_path).names() == []
    (tmp_path / "inputs" / "mine.yaml").write_text("collections: {met: {fields: {pt: MET_pt}}}\n")
    assert input_schemas(tmp_path).names() == ["mine"]
    assert (
        load_input_schema("mine", config_dir=tmp_path, where="t").collection("met").branch("pt")
        == "MET_pt"
    )
    with pytest.raises(
        ConfigError, match=r"tasks\.t\.input: unknown input schema 'mien'.*Did you mean 'mine'"
    ):
        load_input_schema("mien", config_dir=tmp_path, where="tasks.t.input")
    (tmp_path / "inputs" / "bad.yaml").write_text("collections: {met: {feilds: {pt: MET_pt}}}\n")
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'collections\.met\.feilds'\. Did you mean 'fields'\? "
        r"Allowed here: \['counter', 'fields'\]",
    ):
        load_input_schema("bad", config_dir=tmp_path, where="tasks.t.input")
