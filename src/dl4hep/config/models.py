"""Typed models of the analysis configuration, one pydantic model per level.

Every level has ``extra="forbid"``: an unknown key is an error (worded by
:func:`dl4hep.config.load.analysis_from_dict`). Validators here check only what
the config itself can know (class names, split fractions, losses per task kind);
names that only a registry knows are checked by :mod:`dl4hep.validate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dl4hep.errors import ConfigError, did_you_mean

__all__ = [
    "DEFAULT_CONFIG_DIR",
    "KIND_LOSSES",
    "AnalysisConfig",
    "DatasetConfig",
    "EvaluationConfig",
    "ModelConfig",
    "ReadingConfig",
    "RegressionConfig",
    "SampleConfig",
    "SearchConfig",
    "SearchParam",
    "TaskConfig",
    "TrainingConfig",
    "WeightVariation",
    "WeightsConfig",
]

#: Directory holding ``tasks/``, ``models/`` and ``inputs/``; relative to the working directory.
DEFAULT_CONFIG_DIR = Path("configs")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ReadingConfig(_Strict):
    """How ntuples are read: in chunks, so memory is bounded by ``step_size``."""

    step_size: int = Field(50_000, ge=1, description="Entries per chunk read with uproot.iterate.")
    entry_stop: int | None = Field(
        None, ge=1, description="Read at most this many entries per file."
    )


class SampleConfig(_Strict):
    """One sample: a physics process (generated) or a list of existing ntuples."""

    label: str | None = Field(
        description="Class this sample's objects belong to (one of the task's classes); null for a sample without "
        "a class (e.g. collision data): it is left out of datasets, training and metrics, and every trained model "
        "of the task is applied to it (`dl4hep apply`, outputs under applied/)."
    )
    generator: dict[str, Any] | None = Field(
        None, description="Event-generation settings (process, cuts); see docs/generation.md."
    )
    files: list[str] | None = Field(
        None,
        description="Existing ntuples, replacing generation: local paths, globs, root:// or https:// URLs "
        "(remote globs need the xrootd extra), or @list.txt files with one path/URL per line (# comments).",
    )
    files_per_job: int = Field(
        1,
        ge=1,
        description="Input files one feature job reads into one output (a 3,000-file dataset at 10: 300 jobs).",
    )
    input: str | None = Field(
        None, description="Input schema for this sample (default: the task's)."
    )
    cross_section: float | None = Field(
        None, gt=0, description="Cross section in pb; overrides the value in the Runs tree."
    )
    chunks: int = Field(1, ge=1, description="Independently seeded generation jobs.")
    events: int = Field(1000, ge=1, description="Generated events per chunk.")
    require_truth_match: bool = Field(
        False,
        description="Keep only objects whose truth-match flag is set (e.g. fully contained decays).",
    )
    weight: str | None = Field(
        None,
        description="Event-weight expression of this sample over Events branches, e.g. 'genWeight * puWeight' "
        "(default: the task's weights.nominal); see docs/evaluation.md (Systematics).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SampleConfig:
        if (self.generator is None) == (self.files is None):
            raise ValueError(
                "give exactly one of 'generator' (built-in generation) or 'files' (your ntuples)"
            )
        if self.files is None and self.files_per_job != 1:
            raise ValueError(
                "files_per_job applies to samples that read files: (generation uses chunks)"
            )
        return self


class WeightVariation(_Strict):
    """One named weight variation: an up/down pair, a single up, or the elements of an array branch."""

    up: str | None = Field(
        None, description="Expression of the up variation, e.g. puWeightUp (or 1.02)."
    )
    down: str | None = Field(
        None, description="Expression of the down variation, e.g. puWeightDown."
    )
    replaces: str | None = Field(
        None,
        description="Name in the nominal expression that up/down replace (puWeight for puWeightUp); "
        "null: up/down multiply the nominal weight (ratios such as LHEScaleWeight, PSWeight).",
    )
    elements: str | None = Field(
        None,
        description="Array-branch elements, each a factor on the nominal weight: 'LHEScaleWeight[0..8]' "
        "(a range) or 'PSWeight[0, 2]' (a list). Index i becomes the variation <name>_<i>.",
    )
    envelope: list[int] | None = Field(
        None,
        description="Element indices the envelope of this group is taken over (default: all listed); "
        "7-point scale envelope of the 9-element LHEScaleWeight: [0, 1, 3, 4, 5, 7, 8] (drops 2 and 6).",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> WeightVariation:
        pair = self.up is not None or self.down is not None
        if pair == (self.elements is not None):
            raise ValueError(
                "give up/down (a pair or a single up) or elements (array branch), not both or neither"
            )
        if self.elements is None and (self.envelope is not None):
            raise ValueError("envelope selects elements of an array branch; it needs elements")
        if self.elements is not None and self.replaces is not None:
            raise ValueError(
                "replaces applies to up/down; array elements always multiply the nominal weight"
            )
        return self


class WeightsConfig(_Strict):
    """Event weights of a task: the nominal expression and named variations (docs/evaluation.md)."""

    nominal: str | None = Field(
        None,
        description="Default event-weight expression over Events branches, e.g. "
        "'genWeight * puWeight * L1PreFiringWeight_Nom' (null: the input schema's generator weight).",
    )
    variations: dict[str, WeightVariation] = Field(
        default_factory=dict,
        description="Named variations carried per row to the dataset and predictions "
        "(never into training) and evaluated as yield, significance and ROC bands.",
    )


class TrainingConfig(_Strict):
    """Optimisation settings shared by every model type."""

    epochs: int = Field(20, ge=1, description="Maximum number of passes over the training split.")
    batch_size: int = Field(
        256, ge=1, description="Samples per optimisation step (per GPU under DDP)."
    )
    optimizer: Literal["adamw", "adam", "sgd", "radam"] = Field(
        "adamw", description="torch.optim optimiser."
    )
    lr: float = Field(1e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(1e-2, ge=0, description="Weight decay (decoupled for AdamW).")
    schedule: Literal["cosine", "onecycle", "step", "constant"] = Field(
        "cosine", description="Learning-rate schedule after warm-up, stepped every batch."
    )
    warmup_epochs: float = Field(
        1.0, ge=0, description="Linear warm-up length (epochs) before the schedule."
    )
    step_size_epochs: int = Field(10, ge=1, description="Decay period (epochs) for schedule=step.")
    step_gamma: float = Field(0.1, gt=0, le=1, description="Decay factor for schedule=step.")
    grad_clip: float | None = Field(5.0, gt=0, description="Max global gradient norm (None: off).")
    early_stopping_patience: int | None = Field(
        5, ge=1, description="Stop after this many epochs without a better validation loss."
    )
    class_weights: Literal["balanced", "none"] = Field(
        "balanced", description="Reweight classes to equal total weight in the loss."
    )
    use_event_weights: bool = Field(
        True, description="Multiply the loss by the physics event weights."
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="auto: bf16 autocast on CUDA, and on CPUs with native bf16 (AVX512-BF16/AMX) for the "
        "point-cloud models (ParT, ParticleNet, PFN, hit_gnn), which train 1.2-3x faster there "
        "(docs/benchmarks.md); fp32 otherwise.",
    )
    compile: bool = Field(False, description="Wrap the model in torch.compile.")
    bucket_window: int = Field(
        16,
        ge=1,
        description="Point-cloud models: each epoch's shuffled rows are cut into windows of this many batches, "
        "sorted by length inside a window, and the batch order shuffled, so a batch holds jets of similar "
        "multiplicity and little padding (docs/models.md). 1: plain shuffled batches.",
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda|mps|cuda:[0-9]+)$",
        description="auto: CUDA if present, else CPU; cuda: fail without CUDA; cuda:N: that GPU only. auto and "
        "cuda take a GPU no other dl4hep training on this host holds. cpu also stops the workflow asking for a GPU.",
    )
    gpus: int = Field(
        1,
        ge=1,
        description="GPUs a training job asks the scheduler for; above 1 the workflow runs one DDP process per GPU "
        "(torchrun, batch_size per process). Ignored with device: cpu (no GPU asked for, one process).",
    )
    threads: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="CPU threads of the model's training and prediction jobs (Snakemake's threads, torch's "
        "intra-op threads). auto: 1 for models reading the tabular block (a small dense network gains nothing "
        "from a second thread and loses 3-7x to OpenMP waiting when the cores are shared; two such jobs run side "
        "by side instead), 2 for point-cloud models. Not part of the model's digest: changing it re-runs nothing.",
    )
    max_train_samples: int | None = Field(
        None, ge=1, description="Cap on training rows (quick tests)."
    )
    loss: Literal["auto", "cross_entropy", "mse", "huber", "gaussian_nll", "quantile"] = Field(
        "auto",
        description="auto: cross_entropy for classification, mse for regression, the reconstruction error for "
        "autoencoders. Regression: mse, huber, gaussian_nll (predicts mean and log sigma) or quantile "
        "(pinball loss at `quantiles`); docs/models.md.",
    )
    huber_delta: float = Field(
        1.0,
        gt=0,
        description="Huber loss: quadratic below this |residual|, in units of the target's training std.",
    )
    quantiles: list[float] = Field(
        default_factory=lambda: [0.16, 0.5, 0.84],
        min_length=1,
        description="Quantile loss: the quantiles predicted (in (0, 1), increasing); the point prediction is the one "
        "nearest 0.5.",
    )

    @field_validator("quantiles")
    @classmethod
    def _quantiles_in_unit_interval(cls, v: list[float]) -> list[float]:
        if any(not 0 < q < 1 for q in v) or any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"quantiles must increase strictly inside (0, 1), got {v}")
        return v


class SearchParam(_Strict):
    """One searched setting: a range (``low``/``high``, optionally ``log`` or ``step``) or ``choices``."""

    low: int | float | None = Field(
        None, description="Lower end of the range (integers: an integer range)."
    )
    high: int | float | None = Field(None, description="Upper end of the range (inclusive).")
    log: bool = Field(
        False, description="Sample uniformly in log(value) (learning rates, weight decay)."
    )
    step: int | float | None = Field(
        None, gt=0, description="Grid spacing of the range (not with log)."
    )
    choices: list[Any] | None = Field(
        None,
        min_length=1,
        description="Values to choose from instead of a range (lists allowed, e.g. [[32], [64, 64]]).",
    )

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchParam:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either choices or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (a range) or choices")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log needs low > 0 and no step")
        return self

    @property
    def is_int(self) -> bool:
        return (
            isinstance(self.low, int)
            and isinstance(self.high, int)
            and not isinstance(self.step, float)
        )


class SearchConfig(_Strict):
    """Hyperparameter search with Optuna (docs/search.md): objective is the best validation loss."""

    trials: int = Field(
        20,
        ge=1,
        description="Finished (complete or pruned) trials the study runs up to; raise it to resume.",
    )
    jobs: int = Field(
        1, ge=1, description="Parallel Snakemake jobs sharing the study (one journal file)."
    )
    space: dict[str, SearchParam] = Field(
        min_length=1,
        description="Searched settings: 'training.<key>', 'hyperparameters.<key>', or a bare name "
        "(a training key if TrainingConfig has it, else a hyperparameter).",
    )
    epochs: int | None = Field(
        None, ge=1, description="Epochs per trial (default: the model's training.epochs)."
    )
    startup_trials: int = Field(
        3, ge=0, description="Trials run to the end before pruning starts (median pruner)."
    )
    warmup_epochs: int = Field(
        1, ge=0, description="Epochs of a trial never pruned (median pruner's warm-up)."
    )


class ModelConfig(_Strict):
    """One model of a task: an architecture from the registry plus its settings."""

    base: str | None = Field(
        None, description="configs/models/<base>.yaml to start from (default: the model's name)."
    )
    type: str = Field(description="Architecture name in the model registry.")
    inputs: Literal["tabular", "points"] = Field(description="Which dataset block the model reads.")
    features: list[str] | None = Field(
        None, description="Subset of tabular features (default: all)."
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Architecture settings, validated by the model type (docs/models.md).",
    )
    training: TrainingConfig = Field(
        default_factory=TrainingConfig, description="Optimisation settings."
    )
    kfold: int | None = Field(
        None,
        ge=1,
        description="Train K models on event-number folds (fold = event mod K) for out-of-fold predictions "
        "of every event (docs/kfold.md); default: the task's kfold; 1: one model on the dataset split.",
    )
    search: SearchConfig | None = Field(
        None, description="Hyperparameter search for this model (docs/search.md)."
    )

    def cpu_threads(self) -> int:
        """``training.threads`` resolved: ``auto`` is 1 for tabular models, 2 for point-cloud models."""
        if self.training.threads != "auto":
            return self.training.threads
        return 1 if self.inputs == "tabular" else 2


class DatasetConfig(_Strict):
    """Dataset assembly: split, weights, NaN policy."""

    split: dict[Literal["train", "val", "test"], float] = Field(
        default_factory=lambda: {"train": 0.6, "val": 0.2, "test": 0.2},  # type: ignore[arg-type]
        description="Fractions of events per split (by a hash of run and event).",
    )
    nan_policy: Literal["drop", "fail"] = Field(
        "drop", description="Rows with NaN/inf: count and drop, or fail."
    )
    balance: Literal["none", "classes", "pt_eta"] = Field(
        "none",
        description="Extra training reweighting: none, equal class totals, or flat in (pT, eta).",
    )
    reweight_observers: list[str] = Field(
        default_factory=lambda: ["pt", "eta"], description="Observers used by balance=pt_eta."
    )
    max_per_class: int | None = Field(
        None, ge=1, description="Keep at most this many rows per class."
    )
    sample_mix: Literal["physics", "equal"] = Field(
        "physics",
        description="How the samples of one class combine in the weight column: physics (sigma x L), or equal "
        "(every sample of a class gets the same total weight, class total kept). 'equal' is for object ID "
        "whose class mixes object types, e.g. prompt photons and electrons, whose cross sections differ 400x.",
    )

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v: dict[str, float]) -> dict[str, float]:
        if set(v) != {"train", "val", "test"}:
            raise ValueError("split needs exactly the keys train, val, test")
        if abs(sum(v.values()) - 1.0) > 1e-6 or min(v.values()) <= 0:
            raise ValueError(f"split fractions must be positive and sum to 1, got {v}")
        return v


class EvaluationConfig(_Strict):
    """What the evaluation stage plots and tabulates."""

    reference_model: str | None = Field(
        None, description="Denominator of ROC ratio panels (default: first model)."
    )
    signal_efficiencies: list[float] = Field(
        default_factory=lambda: [0.3, 0.5, 0.7],
        description="Signal efficiencies at which rejection is quoted.",
    )
    background_uncertainty: float = Field(
        0.0, ge=0, description="Relative background uncertainty in Asimov Z."
    )
    significance: bool = Field(
        True,
        description="Significance vs cut with sigma x L weights; off for object-level tasks whose "
        "samples have no common luminosity (e.g. ECAL clusters vs minimum-bias pileup).",
    )
    pt_observer: str | None = Field(
        "pt", description="Observer for efficiency-vs-pT plots (None: skip)."
    )
    pt_bins: list[float] = Field(
        default_factory=lambda: [0, 50, 100, 200, 300, 500, 700, 1000, 1500],  # type: ignore[arg-type]
        description="Bin edges (observer units, GeV for pT) of efficiency-vs-pT plots.",
    )
    working_point: float = Field(
        0.5, gt=0, lt=1, description="Signal efficiency of the fixed working point."
    )
    permutation_importance: bool = Field(
        True, description="Permutation feature importance for tabular models."
    )
    max_rows: int = Field(
        200_000, ge=1, description="Rows used for slow diagnostics (importance, KS)."
    )
    bootstrap: int = Field(
        200, ge=0, description="Bootstrap replicas for the 68 % AUC interval (0: no interval)."
    )
    sculpting_observer: str | None = Field(
        None,
        description="Observer whose background distribution is shown after cuts of increasing tightness "
        "(mass sculpting, e.g. msoftdrop for jet taggers); None: no sculpting plot.",
    )
    sculpting_bins: list[float] = Field(
        default_factory=lambda: [0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 250, 300],  # type: ignore[arg-type]
        description="Bin edges of the sculpting plot (observer units).",
    )


class RegressionConfig(_Strict):
    """Continuous target of a ``kind: regression`` task, from observers of its feature sets."""

    target: str = Field(description="Observer holding the true value, e.g. true_energy.")
    relative_to: str | None = Field(
        None,
        description="Observer the target is divided by (the raw measurement, e.g. energy): the model learns the "
        "correction target/relative_to and the corrected value is prediction x relative_to (CMS ECAL regression).",
    )
    bins: dict[str, list[float]] = Field(
        default_factory=dict,
        description="Response and resolution are shown vs each observer here, in these bin edges, "
        "e.g. {true_energy: [5, 10, 20, 40], eta: [-1.48, 0, 1.48]}.",
    )

    @field_validator("bins")
    @classmethod
    def _increasing(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for name, edges in v.items():
            if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                raise ValueError(
                    f"bins.{name} needs at least two strictly increasing edges, got {edges}"
                )
        return v


class TaskConfig(_Strict):
    """A physics task: samples, classes, features, models. Pure data, no Python."""

    description: str = Field("", description="Free text shown in docs and the report.")
    kind: Literal["classification", "regression"] = Field(
        "classification",
        description="classification: the models predict the class; regression: a continuous target "
        "(`regression`), classes only group the samples in the evaluation.",
    )
    regression: RegressionConfig | None = Field(
        None, description="Target of a kind: regression task."
    )
    input: str = Field(
        "generated", description="Input schema name (configs/inputs/<name>.yaml) or a path."
    )
    features: list[str] = Field(
        min_length=1, description="Feature sets from the registry (same rows)."
    )
    feature_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Options per feature set, e.g. jet_point_cloud: {max_particles: 128}.",
    )
    selection: str | None = Field(
        None, description="Row selection on observers, e.g. 'pt > 500 and abs(eta) < 2'."
    )
    classes: list[str] = Field(
        min_length=2, description="Class names; the model's outputs follow this order."
    )
    background: str | None = Field(
        None, description="Background class for ROC and significance (default: last)."
    )
    samples: dict[str, SampleConfig] = Field(
        min_length=1, description="Samples by name (unique across tasks)."
    )
    reading: ReadingConfig = Field(
        default_factory=ReadingConfig, description="Chunked reading of the ntuples."
    )
    weights: WeightsConfig = Field(
        default_factory=WeightsConfig, description="Event weights and their variations."
    )
    dataset: DatasetConfig = Field(default_factory=DatasetConfig, description="Dataset assembly.")
    models: dict[str, ModelConfig] = Field(
        min_length=1, description="Models by name; each starts from configs/models/<base>.yaml."
    )
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig, description="Metrics and plots."
    )
    kfold: int | None = Field(
        None,
        ge=1,
        description="K-fold training for every model that does not set its own kfold (docs/kfold.md).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TaskConfig:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be unique, got {self.classes}")
        for name, sample in self.samples.items():
            if sample.label is not None and sample.label not in self.classes:
                raise ValueError(
                    f"samples.{name}.label '{sample.label}' is not one of classes {self.classes}."
                    + did_you_mean(sample.label, self.classes)
                )
        labelled = {s.label for s in self.samples.values()}
        missing = [c for c in self.classes if c not in labelled]
        if missing:
            raise ValueError(
                f"class(es) {missing} have no labelled sample (samples with label: null are only scored); "
                "add a sample with that label or drop the class"
            )
        if self.background is not None and self.background not in self.classes:
            raise ValueError(
                f"background '{self.background}' is not one of classes {self.classes}."
                + did_you_mean(self.background, self.classes)
            )
        ref = self.evaluation.reference_model
        if ref is not None and ref not in self.models:
            raise ValueError(
                f"evaluation.reference_model '{ref}' is not one of models {list(self.models)}."
                + did_you_mean(ref, self.models)
            )
        _check_kind(self)
        unknown_opts = set(self.feature_options) - set(self.features)
        if unknown_opts:
            raise ValueError(
                f"feature_options for {sorted(unknown_opts)} but features are {self.features}"
            )
        return self

    @property
    def labelled_samples(self) -> list[str]:
        """Samples with a class: the ones datasets, training and metrics use."""
        return [n for n, s in self.samples.items() if s.label is not None]

    @property
    def unlabelled_samples(self) -> list[str]:
        """Samples declared with ``label: null`` (e.g. collision data): only scored by the trained models."""
        return [n for n, s in self.samples.items() if s.label is None]

    @property
    def background_class(self) -> str:
        return self.background or self.classes[-1]

    def folds(self, model: str) -> int:
        """Number of folds of ``model``: its ``kfold``, else the task's; 1 means no K-fold."""
        k = self.models[model].kfold
        return int(k if k is not None else (self.kfold or 1))

    @property
    def signal_classes(self) -> list[str]:
        return [c for c in self.classes if c != self.background_class]


#: Losses each task kind accepts (``auto`` always; autoencoders are checked by their model type).
KIND_LOSSES = {
    "classification": {"auto", "cross_entropy"},
    "regression": {"auto", "mse", "huber", "gaussian_nll", "quantile"},
}


def _check_kind(task: TaskConfig) -> None:
    """A regression task names its target; every model's loss fits the task kind."""
    if (task.kind == "regression") != (task.regression is not None):
        raise ValueError(
            "a task with kind: regression needs a 'regression:' block (target), and only such a task"
        )
    for name, model in task.models.items():
        if model.training.loss not in KIND_LOSSES[task.kind]:
            raise ValueError(
                f"models.{name}.training.loss '{model.training.loss}' does not fit a {task.kind} task; "
                f"use one of {sorted(KIND_LOSSES[task.kind])}"
            )


class AnalysisConfig(_Strict):
    """The whole analysis: global settings and resolved tasks."""

    output: str = Field("results", description="Directory for every output of the workflow.")
    experiment: Literal["CMS", "ATLAS", "none"] = Field(
        "CMS", description="Experiment label on plots."
    )
    label_text: str = Field("Simulation", description="Text after the experiment label.")
    com_energy: float = Field(
        13.6, gt=0, description="Centre-of-mass energy in TeV (generation and plot label)."
    )
    luminosity: float = Field(
        300.0, gt=0, description="Integrated luminosity in fb^-1 for event weights."
    )
    seed: int = Field(1, ge=0, description="Global seed; chunk and training seeds derive from it.")
    config_dir: str = Field(
        str(DEFAULT_CONFIG_DIR), description="Where tasks/, models/, inputs/ live."
    )
    tasks: dict[str, TaskConfig] = Field(
        min_length=1, description="Tasks to run; each entry overrides configs/tasks/<task>.yaml."
    )

    @model_validator(mode="after")
    def _unique_samples(self) -> AnalysisConfig:
        seen: dict[str, str] = {}
        for tname, task in self.tasks.items():
            for sname in task.samples:
                if sname in seen:
                    raise ValueError(
                        f"sample name '{sname}' is used by tasks '{seen[sname]}' and '{tname}'; sample names must be unique"
                    )
                seen[sname] = tname
        return self

    def task(self, name: str) -> TaskConfig:
        try:
            return self.tasks[name]
        except KeyError:
            raise ConfigError(
                f"task '{name}' is not in the config; tasks are {list(self.tasks)}."
                + did_you_mean(name, self.tasks)
            ) from None

    def sample(self, name: str) -> tuple[str, SampleConfig]:
        """Return ``(task_name, sample)`` for a globally unique sample name."""
        for tname, task in self.tasks.items():
            if name in task.samples:
                return tname, task.samples[name]
        every = [s for t in self.tasks.values() for s in t.samples]
        raise ConfigError(
            f"sample '{name}' is not in the config; samples are {every}."
            + did_you_mean(name, every)
        )

    def model(self, task: str, name: str) -> ModelConfig:
        t = self.task(task)
        try:
            return t.models[name]
        except KeyError:
            raise ConfigError(
                f"model '{name}' is not a model of task '{task}'; models are {list(t.models)}."
                + did_you_mean(name, t.models)
            ) from None
