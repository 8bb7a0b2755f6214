"""The ``dl4hep`` command line: one subcommand per workflow stage.

The CLI parses arguments and calls one library function per subcommand with
keyword arguments; no argparse namespace travels deeper. Stage modules are
imported lazily so ``dl4hep --help`` stays fast and a missing optional extra
only matters for the stage that needs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dl4hep import __version__
from dl4hep.errors import Dl4hepError

__all__ = ["main"]

log = logging.getLogger("dl4hep")

#: Exit status for user-facing errors (bad input, bad config); tracebacks exit 1.
EXIT_USER_ERROR = 2


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", "-c", action="append", type=Path, required=True, metavar="YAML",
        help="analysis config (repeat to merge several; later files win)",
    )


def _load(paths: list[Path]):
    from dl4hep.config import load_analysis

    return load_analysis(*paths)


# ------------------------------------------------------------------ subcommands


def _cmd_generate(a: argparse.Namespace) -> Any:
    from dl4hep.generate.api import generate_sample

    return generate_sample(config=_load(a.config), sample=a.sample, events=a.events, seed=a.seed, out=a.out)


def _cmd_features(a: argparse.Namespace) -> Any:
    from dl4hep.features.api import build_features

    return build_features(config=_load(a.config), task=a.task, sample=a.sample, input_path=a.input, out=a.out)


def _cmd_dataset(a: argparse.Namespace) -> Any:
    from dl4hep.data.dataset import build_dataset

    inputs: dict[str, list[Path]] = {}
    for sample, path in a.input:
        inputs.setdefault(sample, []).append(Path(path))
    return build_dataset(config=_load(a.config), task=a.task, inputs=inputs, out_dir=a.out_dir)


def _cmd_train(a: argparse.Namespace) -> Any:
    from dl4hep.training.api import train_model

    return train_model(
        config=_load(a.config), task=a.task, model=a.model, dataset_dir=a.dataset_dir,
        out_dir=a.out_dir, resume=a.resume, summary_only=a.summary,
    )


def _cmd_predict(a: argparse.Namespace) -> Any:
    from dl4hep.training.predict import predict_model

    return predict_model(
        config=_load(a.config), task=a.task, model=a.model, dataset_dir=a.dataset_dir,
        model_dir=a.model_dir, out_dir=a.out_dir,
    )


def _cmd_export(a: argparse.Namespace) -> Any:
    from dl4hep.training.export import export_onnx

    return export_onnx(model_dir=a.model_dir, out=a.out, tolerance=a.tolerance)


def _cmd_evaluate(a: argparse.Namespace) -> Any:
    from dl4hep.evaluation.api import evaluate_task

    models = dict(a.model)
    return evaluate_task(
        config=_load(a.config), task=a.task, dataset_dir=a.dataset_dir,
        models={name: Path(d) for name, d in models.items()},
        predictions_dir=a.predictions_dir, out_dir=a.out_dir,
    )


def _cmd_inspect(a: argparse.Namespace) -> Any:
    from dl4hep.io.inspect import describe_file

    print(describe_file(a.file, tree=a.tree, pattern=a.filter))
    return None


def _cmd_check_config(a: argparse.Namespace) -> Any:
    cfg = _load(a.config)
    summary = {
        t: {"samples": list(task.samples), "models": list(task.models), "features": task.features}
        for t, task in cfg.tasks.items()
    }
    print(json.dumps({"output": cfg.output, "tasks": summary}, indent=2))
    return None


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dl4hep",
        description="Deep learning for collider physics: ROOT ntuples to physics results. "
        "Each subcommand is one workflow stage; `snakemake` chains them.",
    )
    parser.add_argument("--version", action="version", version=f"dl4hep {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    handlers: dict[str, Callable[[argparse.Namespace], Any]] = {}

    def add(name: str, func: Callable[[argparse.Namespace], Any], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        handlers[name] = func
        return p

    p = add("generate", _cmd_generate, "Generate one chunk of a sample with Pythia 8 and the fast detector; write a NanoAOD-style ROOT file.")
    _add_config(p)
    p.add_argument("--sample", required=True, help="sample name from the config (e.g. ttbar, qcd, photon)")
    p.add_argument("--events", type=int, required=True, help="number of events to generate")
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed -> identical file)")
    p.add_argument("--out", type=Path, required=True, help="output ROOT file")

    p = add("features", _cmd_features, "Build a task's feature sets from one ntuple, read in chunks; write parquet.")
    _add_config(p)
    p.add_argument("--task", required=True, help="task name (egamma, dilepton, jets, ...)")
    p.add_argument("--sample", required=True, help="sample the file belongs to (selects cuts and input schema)")
    p.add_argument("--input", type=Path, required=True, help="input ROOT ntuple")
    p.add_argument("--out", type=Path, required=True, help="output parquet file")

    p = add("dataset", _cmd_dataset, "Merge feature files into train/val/test datasets with labels, weights and normalisation.")
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--input", nargs=2, action="append", required=True, metavar=("SAMPLE", "PARQUET"),
                   help="a feature file and its sample (repeat)")
    p.add_argument("--out-dir", type=Path, required=True, help="dataset directory to write")

    p = add("train", _cmd_train, "Train one model of a task (CUDA if present; torchrun for several GPUs).")
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True, help="model name of the task (configs/models/)")
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True, help="model directory (checkpoints, logs)")
    p.add_argument("--resume", action="store_true", help="continue from last.pt in --out-dir if present")
    p.add_argument("--summary", action="store_true", help="print parameter count and FLOPs per sample, do not train")

    p = add("predict", _cmd_predict, "Write per-class scores of a trained model for every dataset split.")
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)

    p = add("export", _cmd_export, "Export a trained model to ONNX and check it against PyTorch with onnxruntime.")
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="output .onnx file")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max allowed |onnx - torch| on the check batch")

    p = add("evaluate", _cmd_evaluate, "Metrics, ROC, confusion matrix, significance and diagnostic plots for all models of a task.")
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--predictions-dir", type=Path, required=True, help="predictions/<task> holding one folder per model")
    p.add_argument("--model", nargs=2, action="append", required=True, metavar=("NAME", "MODEL_DIR"),
                   help="a model name and its trained model directory (repeat)")
    p.add_argument("--out-dir", type=Path, required=True)

    p = add("inspect", _cmd_inspect, "List the trees and branches of a ROOT file (or the columns of a parquet file).")
    p.add_argument("file", type=Path)
    p.add_argument("--tree", default=None, help="only this tree")
    p.add_argument("--filter", default=None, help="only branches matching this glob, e.g. 'FatJet_*'")

    p = add("check-config", _cmd_check_config, "Validate a config (schema, names, model/feature compatibility) and print a summary.")
    _add_config(p)

    parser.set_defaults(_handlers=handlers)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    handler = args._handlers[args.command]
    try:
        result = handler(args)
    except Dl4hepError as err:
        print(f"dl4hep {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"dl4hep {args.command}: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    if isinstance(result, dict) and result:
        log.info("%s summary: %s", args.command, json.dumps(result, default=str))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
