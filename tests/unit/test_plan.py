"""Workflow plan: seeds, paths, digests that trigger re-runs of only what changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from dl4hep.config import analysis_from_dict, load_yaml
from dl4hep.errors import InputFileError
from dl4hep.plan import Plan, chunk_seed


def test_chunk_seeds_are_reproducible_distinct_and_in_pythia_range():
    seeds = {chunk_seed(1, s, c) for s in ("qcd", "top") for c in range(50)}
    assert len(seeds) == 100
    assert all(1 <= s <= 900_000_000 for s in seeds)
    assert chunk_seed(1, "qcd", 3) == chunk_seed(1, "qcd", 3)
    assert chunk_seed(2, "qcd", 3) != chunk_seed(1, "qcd", 3)


def test_targets_cover_every_task_and_model(at_repo):
    plan = Plan(analysis_from_dict(load_yaml("configs/mini.yaml")))
    targets = plan.targets()
    for task, models in {"jets": ["particle_transformer", "particlenet", "pfn", "dnn"], "dilepton": ["dnn"]}.items():
        assert f"results/mini/evaluation/{task}/comparison.csv" in targets
        for m in models:
            assert set(plan.exports(task, m)) <= set(targets)
    assert plan.parts("jets", "qcd") == ["chunk0"]


def test_every_classification_model_is_evaluated_on_its_own(at_repo):
    """One evaluate_model job per model of a classification task (results early), one evaluate per task."""
    cfg = analysis_from_dict(load_yaml("configs/mini.yaml"))
    plan = Plan(cfg)
    jobs = plan.summary()["jobs"]
    assert jobs["evaluate"] == len(cfg.tasks)
    assert jobs["evaluate_model"] == sum(len(t.models) for t in cfg.tasks.values() if t.kind != "regression")
    assert plan.model_evaluation_outputs("jets", "pfn") == [
        f"results/mini/evaluation/jets/models/pfn/{f}" for f in ("metrics.json", "confusion.csv", "curves.npz", "plots")
    ]
    assert plan.model_evaluation_outputs("egamma_energy", "dnn_gauss") == []  # a regression: one evaluate job
    # adding a model re-runs the comparison but not the other models' own evaluations
    raw = load_yaml("configs/mini.yaml")
    raw["tasks"]["jets"]["models"]["dnn2"] = {"base": "dnn"}
    grown = Plan(analysis_from_dict(raw))
    assert grown.digest_model_evaluation("jets") == plan.digest_model_evaluation("jets")
    assert grown.digest_evaluation("jets") != plan.digest_evaluation("jets")


def test_kfold_and_search_targets_and_digests(at_repo):
    raw = load_yaml("configs/mini.yaml")
    raw["tasks"]["dilepton"]["models"]["dnn"].update(
        kfold=3, search={"trials": 2, "space": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}}})
    plan = Plan(analysis_from_dict(raw))
    targets = plan.targets()
    folds = [f"results/mini/models/dilepton/dnn/fold{k}" for k in range(3)]
    assert plan.checkpoints("dilepton", "dnn") == [f"{d}/best.pt" for d in folds]
    assert {f"{d}/model.onnx" for d in folds} <= set(targets)
    assert "results/mini/models/dilepton/dnn/model.onnx" not in targets
    assert "results/mini/search/dilepton/dnn/best.yaml" in targets
    assert plan.kfold_dir("dilepton", 3) == "results/mini/folds/dilepton/k3"
    # applying best.yaml (a searched key) re-trains but re-runs no search; more trials re-run the search
    raw["tasks"]["dilepton"]["models"]["dnn"]["training"]["lr"] = 0.004
    tuned = Plan(analysis_from_dict(raw))
    assert tuned.digest_search("dilepton", "dnn") == plan.digest_search("dilepton", "dnn")
    assert tuned.digest_model("dilepton", "dnn") != plan.digest_model("dilepton", "dnn")
    raw["tasks"]["dilepton"]["models"]["dnn"]["search"]["trials"] = 5
    assert Plan(analysis_from_dict(raw)).digest_search("dilepton", "dnn") != plan.digest_search("dilepton", "dnn")


def test_changing_one_model_changes_only_its_digest(at_repo):
    raw = load_yaml("configs/mini.yaml")
    before = Plan(analysis_from_dict(raw))
    raw["tasks"]["jets"]["models"]["pfn"]["training"]["epochs"] = 9
    after = Plan(analysis_from_dict(raw))
    assert before.digest_model("jets", "pfn") != after.digest_model("jets", "pfn")
    for m in ("dnn", "particlenet", "particle_transformer"):
        assert before.digest_model("jets", m) == after.digest_model("jets", m)
    assert before.digest_dataset("jets") == after.digest_dataset("jets")
    assert before.digest_features("jets", "qcd") == after.digest_features("jets", "qcd")


def test_user_files_expand_globs_and_fail_on_no_match(at_repo, tmp_path, real_data):
    raw = {
        "tasks": {
            "dilepton": {
                "input": "nanoaod",
                "samples": {
                    "hww": {"generator": None, "files": [str(real_data / "nano_tt_v12.root")], "cross_section": 1.0},
                    "ttbar": {"generator": None, "files": [str(tmp_path / "none_*.root")], "cross_section": 1.0},
                },
            }
        }
    }
    plan = Plan(analysis_from_dict(raw))
    assert plan.parts("dilepton", "hww") == ["file0"]
    assert plan.ntuple("dilepton", "hww", "file0").endswith("nano_tt_v12.root")
    with pytest.raises(InputFileError, match=r"samples\.ttbar\.files: '.*none_\*\.root' matches no file"):
        plan.parts("dilepton", "ttbar")


def test_dataset_job_passes_thousands_of_parts_as_a_list(at_repo, tmp_path, monkeypatch):
    """3,000 feature parts must not become 3,000 command-line arguments (128 KiB limit per argument)."""
    import shlex

    from dl4hep import cli

    files = []
    for i in range(3000):
        f = tmp_path / "nt" / f"f{i:04d}.root"
        files.append(str(f))
    (tmp_path / "nt").mkdir()
    for f in files:
        Path(f).touch()
    (tmp_path / "all.txt").write_text("\n".join(files) + "\n")
    raw = {"output": str(tmp_path / "out"), "tasks": {"dilepton": {"input": "nanoaod", "samples": {
        "hww": {"generator": None, "files": [f"@{tmp_path / 'all.txt'}"], "cross_section": 1.0},
        "ttbar": {"generator": None, "files": [files[0]], "cross_section": 1.0}}}}}
    plan = Plan(analysis_from_dict(raw), list_dir=str(tmp_path / "lists"))
    args = plan.dataset_inputs("dilepton")
    assert len(args) < 2000
    words = shlex.split(args)
    assert words.count("--input") == 2 and words[2].startswith("@")
    listed = Path(words[2][1:]).read_text().split()
    assert listed == [plan.features("dilepton", "hww", p) for p in plan.parts("dilepton", "hww")]
    # the dataset command expands the list back into every part, in order
    for p in listed + [plan.features("dilepton", "ttbar", "file0")]:
        Path(p).parent.mkdir(parents=True, exist_ok=True)
        Path(p).touch()
    seen = {}
    monkeypatch.setattr("dl4hep.data.dataset.build_dataset", lambda **kw: seen.update(kw["inputs"]) or {})
    monkeypatch.setattr(cli, "_load", lambda path: None)
    assert cli.main(["dataset", "--config", "x.yaml", "--task", "dilepton", *words, "--out-dir", str(tmp_path / "d")]) == 0
    assert [str(p) for p in seen["hww"]] == listed and len(seen["ttbar"]) == 1


def test_training_threads_follow_the_input_block_and_leave_digests_alone(at_repo):
    raw = load_yaml("configs/mini.yaml")
    cfg = analysis_from_dict(raw)
    assert cfg.model("jets", "dnn").cpu_threads() == 1  # tabular, auto
    assert cfg.model("jets", "particle_transformer").cpu_threads() == 2  # points, auto
    before = Plan(cfg)
    raw["tasks"]["jets"]["models"]["dnn"].setdefault("training", {})["threads"] = 4
    after = Plan(analysis_from_dict(raw))
    assert after.cfg.model("jets", "dnn").cpu_threads() == 4
    assert after.digest_model("jets", "dnn") == before.digest_model("jets", "dnn")  # where it runs, not what
    raw["tasks"]["jets"]["models"]["dnn"]["training"]["threads"] = 0
    with pytest.raises(Exception, match="threads"):
        analysis_from_dict(raw)
