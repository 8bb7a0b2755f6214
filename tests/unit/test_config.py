"""Config loading: overrides, validation errors that name the key, schema in sync."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from dl4hep.config import analysis_from_dict, deep_merge, load_analysis, load_yaml
from dl4hep.config.schema import override_schema
from dl4hep.errors import ConfigError
from dl4hep.validate import checked_from_dict


def test_deep_merge_merges_mappings_and_replaces_values():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    merged = deep_merge(base, {"a": {"y": [3], "z": 4}})
    assert merged == {"a": {"x": 1, "y": [3], "z": 4}, "b": 2}
    assert base["a"]["y"] == [1, 2], "inputs must not be mutated"


@pytest.mark.parametrize("name", ["config", "mini", "full"])
def test_shipped_configs_validate(at_repo, name):
    cfg = load_analysis(f"configs/{name}.yaml")
    assert set(cfg.tasks) == {"egamma", "dilepton", "jets", "egamma_energy"}
    jets = cfg.task("jets")
    assert jets.classes == ["top", "w", "z", "hbb", "qcd"]
    assert jets.background_class == "qcd"
    assert set(jets.models) - {"autoencoder", "set_autoencoder"} == {"particle_transformer", "particlenet", "pfn", "dnn"}
    assert jets.models["particle_transformer"].inputs == "points"
    assert jets.models["dnn"].inputs == "tabular"


def test_main_config_overrides_task_and_model(at_repo):
    cfg = load_analysis("configs/mini.yaml")
    jets = cfg.task("jets")
    assert jets.samples["qcd"].events == 400
    # from configs/tasks/jets.yaml, untouched by mini.yaml
    assert jets.samples["qcd"].generator["pthat_min"] == 450
    assert jets.models["dnn"].training.epochs == 10
    assert jets.feature_options["jet_point_cloud"]["max_particles"] == 64


def test_config_can_select_a_subset_of_tasks_and_models(at_repo):
    raw = {"output": "x", "tasks": {"dilepton": {"models": {"dnn": {"training": {"epochs": 1}}}}}}
    cfg = analysis_from_dict(raw)
    assert list(cfg.tasks) == ["dilepton"]
    assert cfg.model("dilepton", "dnn").training.epochs == 1


def test_misspelled_top_level_key_is_named_with_suggestion(at_repo):
    raw = load_yaml("configs/mini.yaml")
    raw["ouptut"] = raw.pop("output")
    with pytest.raises(ConfigError, match=r"unknown key 'ouptut'.*Did you mean 'output'"):
        analysis_from_dict(raw)


def test_misspelled_nested_key_names_its_full_path(at_repo):
    raw = {"tasks": {"jets": {"models": {"dnn": {"training": {"epoch": 3}}}}}}
    with pytest.raises(ConfigError, match=r"tasks\.jets\.models\.dnn\.training\.epoch.*Did you mean 'epochs'"):
        analysis_from_dict(raw)


def test_wrong_type_is_named(at_repo):
    raw = {"tasks": {"dilepton": {"samples": {"hww": {"events": "many"}}}}}
    with pytest.raises(ConfigError, match=r"tasks\.dilepton\.samples\.hww\.events"):
        analysis_from_dict(raw)


def test_unknown_task_and_model_names(at_repo):
    with pytest.raises(ConfigError, match=r"tasks\.jest: no task definition.*Did you mean 'jets'"):
        analysis_from_dict({"tasks": {"jest": {}}})
    with pytest.raises(ConfigError, match=r"models\.partcle_transformer.*Did you mean.*'particle_transformer'"):
        analysis_from_dict({"tasks": {"jets": {"models": {"partcle_transformer": {}}}}})


def test_sample_label_must_be_a_class(at_repo):
    raw = {"tasks": {"dilepton": {"samples": {"hww": {"label": "higgs"}}}}}
    with pytest.raises(ConfigError, match=r"label 'higgs' is not one of classes"):
        analysis_from_dict(raw)


def test_class_without_sample_is_rejected(at_repo):
    raw = {"tasks": {"dilepton": {"classes": ["hww", "ttbar", "dy"]}}}
    with pytest.raises(ConfigError, match=r"\['dy'\] have no labelled sample"):
        analysis_from_dict(raw)


def test_sample_names_must_be_unique_across_tasks(at_repo, tmp_path):
    task = load_yaml("configs/tasks/dilepton.yaml")
    (tmp_path / "copy.yaml").write_text(yaml.safe_dump(task))
    raw = {"tasks": {"dilepton": {}, "dilepton2": {"definition": str(tmp_path / "copy.yaml")}}}
    with pytest.raises(ConfigError, match=r"sample name 'hww' is used by tasks"):
        analysis_from_dict(raw)


def test_point_model_on_tabular_task_is_rejected(at_repo):
    raw = {"tasks": {"dilepton": {"models": {"pfn": {}}}}}
    with pytest.raises(ConfigError, match=r"tasks\.dilepton\.models\.pfn\.inputs is 'points'"):
        checked_from_dict(raw)


def test_missing_config_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_analysis(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML"):
        load_analysis(bad)


def test_committed_schema_matches_the_typed_config(repo):
    committed = json.loads((repo / "workflow/schemas/config.schema.json").read_text())
    assert committed == json.loads(json.dumps(override_schema())), (
        "regenerate: python -m dl4hep.config.schema > workflow/schemas/config.schema.json"
    )


def test_config_reference_documents_every_key(repo):
    from dl4hep.config.docs import BEGIN, END, SECTIONS, render_reference

    text = (repo / "docs/config.md").read_text()
    block = text.split(BEGIN)[1].split(END)[0].strip()
    assert block == render_reference().strip(), "regenerate: python -m dl4hep.config.docs"
    for _, model in SECTIONS:
        for name, field in model.model_fields.items():
            assert f"| `{name}` |" in block
            assert field.description, f"{model.__name__}.{name} has no description"


def test_config_package_is_a_leaf():
    """Importing the config imports no stage or registry (the old config -> io -> config cycle)."""
    code = (
        "import sys, dl4hep.config, dl4hep.config.search_space\n"
        "upward = ('dl4hep.io', 'dl4hep.features', 'dl4hep.models', 'dl4hep.generate', 'dl4hep.validate',\n"
        "          'dl4hep.data', 'dl4hep.training', 'dl4hep.evaluation', 'dl4hep.plan', 'torch')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith(upward)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_registry_names_are_checked_by_validate_not_by_parsing(at_repo):
    raw = {"tasks": {"dilepton": {"features": ["dilepton_kinematic"]}}}
    assert analysis_from_dict(raw).task("dilepton").features == ["dilepton_kinematic"]
    with pytest.raises(ConfigError, match=r"tasks\.dilepton\.features: unknown feature set.*'dilepton_kinematics'"):
        checked_from_dict(raw)
