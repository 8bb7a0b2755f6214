"""The workflow's plan: which files exist for a config, and where they live.

Snakemake rules ask this module for paths, seeds and the parameter digests that
trigger re-runs; keeping it here (not in ``.smk`` files) makes it testable and
keeps the rules thin. Torch-free: it runs at Snakefile parse time.

Samples with ``files:`` are expanded once per plan (globs, URLs, ``@list`` files; see
:mod:`dl4hep.io.locations`) and cut into groups of ``files_per_job``: part ``file<i>`` reads the
i-th file, part ``group<i>`` the i-th group, handed to ``dl4hep features`` as an ``@list`` file
stored under its content hash (like the job config), so a 3,000-file dataset plans in seconds and
its command lines stay short. Remote URLs are not contacted at planning time unless they are
globs; the feature job reports a missing one.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4hep.config import AnalysisConfig, config_digest
from dl4hep.io.locations import expand_entries, is_remote

__all__ = ["LIST_DIR", "SPLITS", "Plan", "chunk_seed"]

SPLITS = ("train", "val", "test")

#: Pythia accepts seeds in [1, 900000000].
_MAX_SEED = 900_000_000

#: Where the ``@list`` files of file groups live (relative to Snakemake's working directory).
LIST_DIR = ".snakemake/dl4hep/inputs"


def chunk_seed(global_seed: int, sample: str, chunk: int) -> int:
    """Independent, reproducible seed for one generation chunk (hash of seed, sample, chunk)."""
    digest = hashlib.sha256(f"{global_seed}:{sample}:{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % _MAX_SEED + 1


@dataclass(frozen=True)
class Plan:
    """Paths and parameters of every job for one analysis config."""

    cfg: AnalysisConfig
    list_dir: str = LIST_DIR
    _files: dict[tuple[str, str], list[str]] = field(default_factory=dict, compare=False, repr=False)
    _groups: dict[tuple[str, str], list[list[str]]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def out(self) -> str:
        return self.cfg.output

    # ---------------------------------------------------------------- inputs

    def parts(self, task: str, sample: str) -> list[str]:
        """Input parts of a sample: ``chunk<i>`` (generated), ``file<i>`` or ``group<i>`` (ntuples)."""
        s = self.cfg.task(task).samples[sample]
        if s.files is None:
            return [f"chunk{i}" for i in range(s.chunks)]
        prefix = "file" if s.files_per_job == 1 else "group"
        return [f"{prefix}{i}" for i in range(len(self.file_groups(task, sample)))]

    def user_files(self, task: str, sample: str) -> list[str]:
        """Every location of a sample's ``files`` (expanded once); an entry matching nothing is an error."""
        key = (task, sample)
        if key not in self._files:
            s = self.cfg.task(task).samples[sample]
            self._files[key] = expand_entries(s.files or [], where=f"tasks.{task}.samples.{sample}.files: ")
        return self._files[key]

    def file_groups(self, task: str, sample: str) -> list[list[str]]:
        """The sample's files cut into groups of ``files_per_job`` (the last one may be shorter)."""
        key = (task, sample)
        if key not in self._groups:
            files = self.user_files(task, sample)
            n = self.cfg.task(task).samples[sample].files_per_job
            self._groups[key] = [files[i : i + n] for i in range(0, len(files), n)]
        return self._groups[key]

    def part_inputs(self, task: str, sample: str, part: str) -> list[str]:
        """Every location a feature job reads: its generated chunk, its file, or its group."""
        if part.startswith("chunk"):
            return [f"{self.out}/ntuples/{task}/{sample}/{part}.root"]
        if part.startswith("group"):
            return self.file_groups(task, sample)[int(part[5:])]
        return [self.user_files(task, sample)[int(part[4:])]]

    def ntuple_files(self, task: str, sample: str, part: str) -> list[str]:
        """The part's local inputs, which Snakemake tracks (remote URLs are not files to it)."""
        return [loc for loc in self.part_inputs(task, sample, part) if not is_remote(loc)]

    def ntuple(self, task: str, sample: str, part: str) -> str:
        """The ``--input`` of a feature job: its one location, or ``@<list>`` for a group."""
        inputs = self.part_inputs(task, sample, part)
        return inputs[0] if len(inputs) == 1 else "@" + self.write_list(inputs)

    def write_list(self, locations: list[str]) -> str:
        """Store ``locations`` as a list file named by its content hash (written once); return its path.

        Local paths are written absolute: entries of a list are relative to the list's folder.
        """
        text = "".join(f"{loc if is_remote(loc) else os.path.abspath(loc)}\n" for loc in locations)
        path = Path(self.list_dir) / f"{hashlib.sha256(text.encode()).hexdigest()[:20]}.txt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        return str(path)

    def check(self) -> dict[str, int]:
        """Expand every sample's files and probe the output location (``dl4hep check-config``).

        Returns ``{sample: number of files}`` for samples that read files.

        Raises:
            InputFileError: an entry matches nothing (names the config key).
            OutputLocationError: ``output`` cannot be created.
        """
        from dl4hep.io.atomic import check_output_location

        check_output_location(self.out)
        return {
            sample: len(self.user_files(task, sample))
            for task, tcfg in self.cfg.tasks.items()
            for sample, s in tcfg.samples.items()
            if s.files is not None
        }

    def summary(self, max_files: int = 200) -> dict[str, object]:
        """What ``dl4hep check-config`` prints: per sample its files, events and parts, and jobs per rule.

        Events come from the ``Events`` tree's entry count in the file metadata of local files
        (no basket is read), the planned ``chunks x events`` for generated samples, and ``"?"``
        for remote files or samples with more than ``max_files`` files (to stay cheap).
        Call :meth:`check` first: it expands ``files:`` with the errors that name the key.
        """
        samples: dict[str, dict[str, object]] = {}
        jobs = {"generate": 0, "features": 0, "dataset": 0, "train": 0, "predict": 0, "export": 0, "evaluate": 0,
                "evaluate_model": 0, "apply": 0}
        for task, tcfg in self.cfg.tasks.items():
            for sample, s in tcfg.samples.items():
                parts = len(self.parts(task, sample))
                if s.files is None:
                    entry = {"task": task, "source": "generated", "chunks": s.chunks, "events": s.chunks * s.events}
                    jobs["generate"] += s.chunks
                else:
                    files = self.user_files(task, sample)
                    entry = {"task": task, "source": "files", "files": len(files),
                             "files_per_job": s.files_per_job, "events": _local_entries(files, max_files)}
                entry["parts"] = parts
                if s.label is None:  # scored by every model, never turned into dataset features
                    entry["label"] = None
                    jobs["apply"] += parts * len(tcfg.models)
                else:
                    jobs["features"] += parts
                samples[sample] = entry
            jobs["dataset"] += 1
            jobs["evaluate"] += 1
            jobs["evaluate_model"] += 0 if tcfg.kind == "regression" else len(tcfg.models)
            for rule in ("train", "predict", "export"):
                jobs[rule] += len(tcfg.models)
        return {"samples": samples, "jobs": jobs}

    def generation_seed(self, sample: str, chunk: int) -> int:
        return chunk_seed(self.cfg.seed, sample, chunk)

    # ---------------------------------------------------------------- stage outputs

    def features(self, task: str, sample: str, part: str) -> str:
        return f"{self.out}/features/{task}/{sample}/{part}.parquet"

    def task_features(self, task: str) -> list[tuple[str, str]]:
        """``(sample, parquet)`` for every input part of a task's labelled samples (the dataset's inputs)."""
        return [
            (sample, self.features(task, sample, part))
            for sample in self.cfg.task(task).labelled_samples
            for part in self.parts(task, sample)
        ]

    def dataset_inputs(self, task: str, inline: int = 20) -> str:
        """The ``--input SAMPLE PARQUET`` arguments of the dataset job; a sample with more than
        ``inline`` parts is passed as one ``@list`` file, so thousands of parts stay far below the
        kernel's 128 KiB limit on one command-line argument."""
        by_sample: dict[str, list[str]] = {}
        for sample, path in self.task_features(task):
            by_sample.setdefault(sample, []).append(path)
        args = []
        for sample, paths in by_sample.items():
            chosen = paths if len(paths) <= inline else ["@" + self.write_list(paths)]
            args += [f"--input {shlex.quote(sample)} {shlex.quote(x)}" for x in chosen]
        return " ".join(args)

    def dataset_dir(self, task: str) -> str:
        return f"{self.out}/datasets/{task}"

    def model_dir(self, task: str, model: str) -> str:
        return f"{self.out}/models/{task}/{model}"

    def folds(self, task: str, model: str) -> int:
        """K of a K-fold model, 1 for a single model (``kfold`` of the model, else of the task)."""
        return self.cfg.task(task).folds(model)

    def kfold_dir(self, task: str, k: int) -> str:
        """Fold datasets ``fold<i>/`` of a task for K folds (shared by every model with that K)."""
        return f"{self.out}/folds/{task}/k{k}"

    def fold_model_dirs(self, task: str, model: str) -> list[str]:
        """Where the trained networks of a model live: ``fold<i>/`` below the model directory, or itself."""
        k, base = self.folds(task, model), self.model_dir(task, model)
        return [base] if k == 1 else [f"{base}/fold{i}" for i in range(k)]

    def checkpoints(self, task: str, model: str) -> list[str]:
        """``best.pt`` of every network of a model (one per fold for K-fold models)."""
        return [f"{d}/best.pt" for d in self.fold_model_dirs(task, model)]

    def histories(self, task: str, model: str) -> list[str]:
        return [f"{d}/history.csv" for d in self.fold_model_dirs(task, model)]

    def exports(self, task: str, model: str) -> list[str]:
        return [f"{d}/model.onnx" for d in self.fold_model_dirs(task, model)]

    def search_dir(self, task: str, model: str) -> str:
        return f"{self.out}/search/{task}/{model}"

    def search_outputs(self, task: str) -> list[str]:
        """``best.yaml`` of every model of the task with a ``search:`` block."""
        return [f"{self.search_dir(task, m)}/best.yaml" for m, mc in self.cfg.task(task).models.items() if mc.search]

    def predictions(self, task: str, model: str, split: str) -> str:
        return f"{self.out}/predictions/{task}/{model}/{split}.parquet"

    def evaluation_dir(self, task: str) -> str:
        return f"{self.out}/evaluation/{task}"

    def evaluation_outputs(self, task: str) -> list[str]:
        base = self.evaluation_dir(task)
        return [f"{base}/comparison.csv", f"{base}/comparison.md", f"{base}/metrics", f"{base}/plots"]

    def model_evaluation_dir(self, task: str, model: str) -> str:
        """``evaluation/<task>/models/<model>``: one model's metrics and plots (``dl4hep evaluate-model``)."""
        return f"{self.evaluation_dir(task)}/models/{model}"

    def model_evaluation_outputs(self, task: str, model: str) -> list[str]:
        """What ``evaluate-model`` writes and the task comparison reads; none for a regression task."""
        if self.cfg.task(task).kind == "regression":
            return []
        base = self.model_evaluation_dir(task, model)
        return [f"{base}/metrics.json", f"{base}/confusion.csv", f"{base}/curves.npz", f"{base}/plots"]

    def applied(self, task: str, model: str, sample: str, part: str) -> str:
        """Scores of one trained model on one input part of a ``label: null`` sample (``dl4hep apply``)."""
        return f"{self.out}/applied/{task}/{model}/{sample}/{part}.parquet"

    def apply_outputs(self, task: str) -> list[str]:
        """Every model of the task applied to every part of its ``label: null`` samples."""
        tcfg = self.cfg.task(task)
        return [
            self.applied(task, model, sample, part)
            for model in tcfg.models
            for sample in tcfg.unlabelled_samples
            for part in self.parts(task, sample)
        ]

    def targets(self) -> list[str]:
        """Everything ``rule all`` asks for: metrics, plots, ONNX exports of every task x model, and the
        scores of every model on the task's ``label: null`` samples."""
        out: list[str] = []
        for task, tcfg in self.cfg.tasks.items():
            out += self.evaluation_outputs(task)
            out += [f for m in tcfg.models for f in self.exports(task, m)]
            out += self.search_outputs(task)
            out += self.apply_outputs(task)
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
                # only when set, so configs without weights keep their digests (no re-run)
                **({"weights": t.weights.model_dump(), "weight": s.weight}
                   if s.weight is not None or t.weights.nominal is not None or t.weights.variations else {}),
            }
        )

    def digest_dataset(self, task: str) -> str:
        t = self.cfg.task(task)
        return config_digest(
            {
                "dataset": t.dataset.model_dump(),
                "classes": t.classes,
                "labels": {n: (s.label, s.cross_section) for n, s in t.samples.items() if s.label is not None},
                "lumi": self.cfg.luminosity,
                "seed": self.cfg.seed,
            }
        )

    def digest_model(self, task: str, model: str) -> str:
        # search: only the search jobs depend on it; K (of the model or the task) changes the training
        # data. Both enter only when set, so the digest of a plain model is what it was before them.
        # training.threads changes where the job runs, not what it computes
        exclude: dict[str, Any] = {"search": True, "kfold": True, "training": {"threads"}}
        key = {"model": self.cfg.model(task, model).model_dump(exclude=exclude), "seed": self.cfg.seed}
        if self.folds(task, model) > 1:
            key["kfold"] = self.folds(task, model)
        return config_digest(key)

    def digest_search(self, task: str, model: str) -> str:
        """The search block and the settings it does not vary (applying best.yaml re-runs no search)."""
        from dl4hep.config.search_space import fixed_settings

        mcfg = self.cfg.model(task, model)
        search = mcfg.search.model_dump(mode="json") if mcfg.search else None
        return config_digest({"fixed": fixed_settings(mcfg), "search": search, "seed": self.cfg.seed})

    def digest_apply(self, task: str, model: str, sample: str) -> str:
        """Features (selection, reading, schema) and model settings: what ``dl4hep apply``'s scores depend on."""
        return config_digest([self.digest_features(task, sample), self.digest_model(task, model)])

    def digest_model_evaluation(self, task: str) -> str:
        """Evaluation settings and plot labels: what one model's evaluation depends on besides its inputs."""
        t = self.cfg.task(task)
        return config_digest(
            {
                "evaluation": t.evaluation.model_dump(),
                "label": [self.cfg.experiment, self.cfg.label_text, self.cfg.luminosity, self.cfg.com_energy],
            }
        )

    def digest_evaluation(self, task: str) -> str:
        t = self.cfg.task(task)
        return config_digest(
            {
                "evaluation": t.evaluation.model_dump(),
                "label": [self.cfg.experiment, self.cfg.label_text, self.cfg.luminosity, self.cfg.com_energy],
                "models": list(t.models),
            }
        )


def _local_entries(files: list[str], max_files: int, tree: str = "Events") -> int | str:
    """Sum of ``tree`` entries over local ``files`` from their metadata; ``"?"`` when not cheap or unreadable."""
    if len(files) > max_files or any(is_remote(f) for f in files):
        return "?"
    import uproot

    total = 0
    for path in files:
        try:
            with uproot.open(path) as f:
                total += int(f[tree].num_entries)
        except Exception:  # noqa: BLE001 - a summary; the feature job names the problem
            return "?"
    return total
