"""The workflow's plan: which files exist for a config, and where they live.

Snakemake rules ask this module for paths, seeds and the parameter digests that
trigger re-runs; keeping it here (not in ``.smk`` files) makes it testable and
keeps the rules thin. Torch-free: it runs at Snakefile parse time.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

from dl4hep.config import AnalysisConfig, config_digest
from dl4hep.errors import InputFileError

__all__ = ["SPLITS", "Plan", "chunk_seed"]

SPLITS = ("train", "val", "test")

#: Pythia accepts seeds in [1, 900000000].
_MAX_SEED = 900_000_000


def chunk_seed(global_seed: int, sample: str, chunk: int) -> int:
    """Independent, reproducible seed for one generation chunk (hash of seed, sample, chunk)."""
    digest = hashlib.sha256(f"{global_seed}:{sample}:{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % _MAX_SEED + 1


@dataclass(frozen=True)
class Plan:
    """Paths and parameters of every job for one analysis config."""

    cfg: AnalysisConfig

    @property
    def out(self) -> str:
        return self.cfg.output

    # ---------------------------------------------------------------- inputs

    def parts(self, task: str, sample: str) -> list[str]:
        """Names of the input parts of a sample: ``chunk<i>`` (generated) or ``file<i>`` (ntuples)."""
        s = self.cfg.task(task).samples[sample]
        if s.files is None:
            return [f"chunk{i}" for i in range(s.chunks)]
        return [f"file{i}" for i in range(len(self.user_files(task, sample)))]

    def user_files(self, task: str, sample: str) -> list[str]:
        """Expand a sample's ``files`` globs; an empty match is an error naming the glob."""
        s = self.cfg.task(task).samples[sample]
        found: list[str] = []
        for pattern in s.files or []:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise InputFileError(
                    f"tasks.{task}.samples.{sample}.files: '{pattern}' matches no file "
                    f"(working directory {Path.cwd()}); check the path or mount"
                )
            found.extend(matches)
        return found

    def ntuple(self, task: str, sample: str, part: str) -> str:
        """Input ntuple of a feature job: a generated chunk or the user's file."""
        if part.startswith("file"):
            return self.user_files(task, sample)[int(part[4:])]
        return f"{self.out}/ntuples/{task}/{sample}/{part}.root"

    def generation_seed(self, sample: str, chunk: int) -> int:
        return chunk_seed(self.cfg.seed, sample, chunk)

    # ---------------------------------------------------------------- stage outputs

    def features(self, task: str, sample: str, part: str) -> str:
        return f"{self.out}/features/{task}/{sample}/{part}.parquet"

    def task_features(self, task: str) -> list[tuple[str, str]]:
        """``(sample, parquet)`` for every input part of a task."""
        return [
            (sample, self.features(task, sample, part))
            for sample in self.cfg.task(task).samples
            for part in self.parts(task, sample)
        ]

    def dataset_dir(self, task: str) -> str:
        return f"{self.out}/datasets/{task}"

    def model_dir(self, task: str, model: str) -> str:
        return f"{self.out}/models/{task}/{model}"

    def predictions(self, task: str, model: str, split: str) -> str:
        return f"{self.out}/predictions/{task}/{model}/{split}.parquet"

    def evaluation_dir(self, task: str) -> str:
        return f"{self.out}/evaluation/{task}"

    def evaluation_outputs(self, task: str) -> list[str]:
        base = self.evaluation_dir(task)
        return [f"{base}/comparison.csv", f"{base}/comparison.md", f"{base}/metrics", f"{base}/plots"]

    def targets(self) -> list[str]:
        """Everything ``rule all`` asks for: metrics, plots, ONNX exports of every task x model."""
        out: list[str] = []
        for task, tcfg in self.cfg.tasks.items():
            out += self.evaluation_outputs(task)
            out += [f"{self.model_dir(task, m)}/model.onnx" for m in tcfg.models]
        return out

    # ---------------------------------------------------------------- re-run triggers

    def digest_generation(self, task: str, sample: str) -> str:
        s = self.cfg.task(task).samples[sample]
        return config_digest({"generator": s.generator, "events": s.events, "sqrt_s": self.cfg.com_energy})

    def digest_features(self, task: str, sample: str) -> str:
        t = self.cfg.task(task)
        s = t.samples[sample]
        return config_digest(
            {
                "input": s.input or t.input,
                "features": t.features,
                "options": t.feature_options,
                "selection": t.selection,
                "reading": t.reading.model_dump(),
                "truth": s.require_truth_match,
            }
        )

    def digest_dataset(self, task: str) -> str:
        t = self.cfg.task(task)
        return config_digest(
            {
                "dataset": t.dataset.model_dump(),
                "classes": t.classes,
                "labels": {n: (s.label, s.cross_section) for n, s in t.samples.items()},
                "lumi": self.cfg.luminosity,
                "seed": self.cfg.seed,
            }
        )

    def digest_model(self, task: str, model: str) -> str:
        return config_digest({"model": self.cfg.model(task, model).model_dump(), "seed": self.cfg.seed})

    def digest_evaluation(self, task: str) -> str:
        t = self.cfg.task(task)
        return config_digest(
            {
                "evaluation": t.evaluation.model_dump(),
                "label": [self.cfg.experiment, self.cfg.label_text, self.cfg.luminosity, self.cfg.com_energy],
                "models": list(t.models),
            }
        )
