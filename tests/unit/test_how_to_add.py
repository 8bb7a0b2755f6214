"""docs/architecture.md, "How to add ...", kept honest: its example files, read from the page, work.

The page holds a complete worked example (a model, a feature set, an input schema, a task and an
analysis config), each in a fenced block tagged ``file=<path>``. This test installs exactly those
blocks (the plugin files in scratch folders appended to the plugin packages' search paths, the
YAMLs in a scratch copy of ``configs/``) and checks what the page promises: nothing else is
edited, the config is accepted, the registries list the new plugins, the feature set runs on the
sample files (against an independent uproot count), and the model trains on its output.
"""

from __future__ import annotations

import re
import shutil
import sys

import awkward as ak
import numpy as np
import pytest
import torch
import uproot

import dl4hep.features.sets as feature_sets_pkg
import dl4hep.models.nets as nets_pkg
from dl4hep.features.api import FeaturePlan
from dl4hep.features.registry import FEATURE_SETS
from dl4hep.io.reader import ChunkReader
from dl4hep.io.schema import input_schemas, load_input_schema
from dl4hep.models.registry import build_model
from dl4hep.models.specs import MODELS, model_spec
from dl4hep.validate import load_checked
from tests.paths import REPO

BLOCK = re.compile(r"^```(?:python|yaml) file=(\S+)\n(.*?)^```$", re.S | re.M)
PAGE = REPO / "docs" / "architecture.md"


def documented_files() -> dict[str, str]:
    section = PAGE.read_text().split("## How to add", 1)[1]
    return {path: body for path, body in BLOCK.findall(section)}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The page's files installed without touching the repository; the registries re-discover."""
    files = documented_files()
    configs = tmp_path / "configs"
    shutil.copytree(REPO / "configs", configs)
    folders = {"src/dl4hep/models/nets/": (nets_pkg, tmp_path / "nets"),
               "src/dl4hep/features/sets/": (feature_sets_pkg, tmp_path / "sets")}
    for path, body in files.items():
        for prefix, (pkg, folder) in folders.items():
            if path.startswith(prefix):
                folder.mkdir(exist_ok=True)
                (folder / path.removeprefix(prefix)).write_text(body)
                monkeypatch.setattr(pkg, "__path__", [*pkg.__path__, str(folder)])
                break
        else:
            assert path.startswith("configs/"), f"unexpected file in the how-to: {path}"
            (configs / path.removeprefix("configs/")).write_text(body)
    MODELS.refresh()
    FEATURE_SETS.refresh()
    (tmp_path / "data").symlink_to(REPO / "data")  # sample files and configs/ are relative to the working directory
    monkeypatch.chdir(tmp_path)
    yield configs
    for name in ("dl4hep.models.nets.toy_linear", "dl4hep.features.sets.toy_muons"):
        sys.modules.pop(name, None)
    monkeypatch.undo()
    MODELS.refresh()
    FEATURE_SETS.refresh()


def test_the_page_documents_one_of_each_kind():
    paths = set(documented_files())
    assert {"src/dl4hep/models/nets/toy_linear.py", "configs/models/toy_linear.yaml",
            "src/dl4hep/features/sets/toy_muons.py", "configs/inputs/toy_schema.yaml",
            "configs/tasks/toy.yaml", "configs/toy_analysis.yaml"} == paths


def test_documented_plugins_are_discovered_and_the_config_accepted(installed):
    assert "toy_linear" in MODELS.names() and "toy_muons" in FEATURE_SETS.names()
    assert "toy_schema" in input_schemas(installed).names()
    cfg = load_checked(installed / "toy_analysis.yaml")
    task = cfg.task("toy")
    assert list(task.models) == ["toy_linear"] and task.features == ["toy_muons"]
    assert model_spec("toy_linear").inputs == ("tabular",)


def test_documented_feature_set_runs_and_model_trains_on_it(installed):
    cfg = load_checked(installed / "toy_analysis.yaml")
    tcfg = cfg.task("toy")
    schema = load_input_schema(tcfg.input, config_dir=installed, where="toy")
    plan = FeaturePlan(tcfg, "toy")
    rows, counts = [], []
    for sample in ("hww", "ttbar"):
        path = str(REPO / "data" / f"mini_{sample}.root")
        out = [plan.compute(chunk, schema) for chunk in ChunkReader(path, schema, plan.needs)]
        rows.append(np.column_stack([np.concatenate([o.tabular[k] for o in out]) for k in plan.tabular]))
        muon_pt = uproot.open(path)["Events"]["Muon_pt"].array()
        expected = ak.to_numpy(ak.sum(muon_pt > 5.0, axis=1))  # independent: uproot + awkward
        counts.append((rows[-1][:, plan.tabular.index("n_muons")], expected))
    for got, expected in counts:
        np.testing.assert_array_equal(got, expected.astype(np.float32))
    x = torch.from_numpy(np.concatenate(rows))
    y = torch.cat([torch.zeros(len(rows[0]), dtype=torch.long), torch.ones(len(rows[1]), dtype=torch.long)])
    torch.manual_seed(0)
    net = build_model("toy_linear", {"scale": 1.0}, num_classes=2, input_dim=x.shape[1])
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert net(x).shape == (len(y), 2)
    assert losses[-1] < 0.95 * losses[0]  # the muon multiplicity separates H->WW from ttbar a little
