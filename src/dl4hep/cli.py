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
import os
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
    from dl4hep.validate import load_checked

    return load_checked(*paths)


# ------------------------------------------------------------------ subcommands


def _cmd_generate(a: argparse.Namespace) -> Any:
    from dl4hep.generate.api import generate_sample

    return generate_sample(config=_load(a.config), sample=a.sample, events=a.events, seed=a.seed, out=a.out)


def _cmd_features(a: argparse.Namespace) -> Any:
    from dl4hep.features.api import build_features

    return build_features(config=_load(a.config), task=a.task, sample=a.sample, input_path=a.input, out=a.out)


def _cmd_dataset(a: argparse.Namespace) -> Any:
    from dl4hep.data.dataset import build_dataset
    from dl4hep.io.locations import expand_entry

    inputs: dict[str, list[Path]] = {}
    for sample, path in a.input:  # PARQUET or @list.txt (one parquet per line)
        paths = expand_entry(path, where=f"dataset --input {sample}: ") if path.startswith("@") else [path]
        inputs.setdefault(sample, []).extend(Path(p) for p in paths)
    return build_dataset(config=_load(a.config), task=a.task, inputs=inputs, out_dir=a.out_dir)


def _cmd_train(a: argparse.Namespace) -> Any:
    from dl4hep.training.api import train_model
    from dl4hep.training.launch import run_distributed, under_torchrun

    config = _load(a.config)
    if a.nproc > 1 and not a.summary and not under_torchrun():
        device = config.model(a.task, a.model).training.device
        return _Exit(run_distributed(a.nproc, a.argv, device=device))
    return train_model(
        config=config, task=a.task, model=a.model, dataset_dir=a.dataset_dir,
        out_dir=a.out_dir, resume=a.resume, summary_only=a.summary, stop_after=a.stop_after,
    )


class _Exit(int):
    """A handler's request to exit with this status (the status of child processes it ran)."""


def _cmd_predict(a: argparse.Namespace) -> Any:
    from dl4hep.training.predict import predict_model

    config = _load(a.config)
    args = {"config": config, "task": a.task, "model": a.model, "dataset_dir": a.dataset_dir,
            "model_dir": a.model_dir, "out_dir": a.out_dir}
    if config.task(a.task).folds(a.model) > 1:  # out-of-fold scores of model_dir/fold<k>
        from dl4hep.training.kfold import predict_kfold

        return predict_kfold(**args)
    return predict_model(**args)


def _cmd_kfold_split(a: argparse.Namespace) -> Any:
    from dl4hep.data.kfold import build_fold_datasets

    return build_fold_datasets(config=_load(a.config), task=a.task, k=a.k, dataset_dir=a.dataset_dir, out_dir=a.out_dir)


def _cmd_search(a: argparse.Namespace) -> Any:
    from dl4hep.io.atomic import atomic_output
    from dl4hep.training.search import run_search

    result = run_search(config=_load(a.config), task=a.task, model=a.model, dataset_dir=a.dataset_dir,
                        out_dir=a.out_dir, worker=a.worker)
    if a.done is not None:  # the workflow's marker that this worker finished
        with atomic_output(a.done) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _cmd_search_report(a: argparse.Namespace) -> Any:
    from dl4hep.evaluation.search_report import write_search_report

    return write_search_report(config=_load(a.config), task=a.task, model=a.model, search_dir=a.search_dir)


def _cmd_export(a: argparse.Namespace) -> Any:
    from dl4hep.training.export import export_onnx

    return export_onnx(model_dir=a.model_dir, out=a.out, tolerance=a.tolerance)


def _cmd_apply(a: argparse.Namespace) -> Any:
    from dl4hep.apply.api import apply_model

    return apply_model(
        config=_load(a.config), task=a.task, model=a.model, inputs=a.input, out=a.out, friend=a.friend,
        sample=a.sample, batch_size=a.batch_size,
    )


def _cmd_evaluate(a: argparse.Namespace) -> Any:
    from dl4hep.evaluation.api import compare_models, evaluate_task

    models = {name: Path(d) for name, d in dict(a.model).items()}
    cfg = _load(a.config)
    if a.compare_only and cfg.task(a.task).kind != "regression":
        return compare_models(config=cfg, task=a.task, models=list(models), eval_dir=a.out_dir,
                              dataset_dir=a.dataset_dir)
    return evaluate_task(
        config=cfg, task=a.task, dataset_dir=a.dataset_dir, models=models,
        predictions_dir=a.predictions_dir, out_dir=a.out_dir,
    )


def _cmd_evaluate_model(a: argparse.Namespace) -> Any:
    from dl4hep.evaluation.api import evaluate_model

    return evaluate_model(
        config=_load(a.config), task=a.task, model=a.model, model_dir=a.model_dir, dataset_dir=a.dataset_dir,
        predictions_dir=a.predictions_dir, out_dir=a.out_dir,
    )


def _cmd_inspect(a: argparse.Namespace) -> Any:
    from dl4hep.io.inspect import describe_file

    print(describe_file(a.file, tree=a.tree, pattern=a.filter))
    return None


def _cmd_check_config(a: argparse.Namespace) -> Any:
    """Validate (keys, registry names, every feature/observer name), expand files:, print the plan as JSON.

    Per sample: files, events (file metadata of local files, else "?"), chunks or parts; and the jobs per rule.
    """
    from dl4hep.plan import Plan

    cfg = _load(a.config)  # typed keys, registries and names (dl4hep.validate)
    plan = Plan(cfg)
    files = plan.check()  # globs and lists that match nothing, an output that cannot be created
    planned = plan.summary()
    summary = {
        t: {"samples": list(task.samples), "models": list(task.models), "features": task.features}
        for t, task in cfg.tasks.items()
    }
    print(json.dumps({"output": cfg.output, "tasks": summary, "input_files": files, **planned}, indent=2))
    return None


# ------------------------------------------------------------------ parser


# ------------------------------------------------------------------ arguments of each subcommand


def _args_generate(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--sample", required=True, help="sample name from the config (e.g. ttbar, qcd, photon)")
    p.add_argument("--events", type=int, required=True, help="number of events to generate")
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed -> identical file)")
    p.add_argument("--out", type=Path, required=True, help="output ROOT file")



def _args_features(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True, help="task name (egamma, dilepton, jets, ...)")
    p.add_argument("--sample", required=True, help="sample the file belongs to (selects cuts and input schema)")
    p.add_argument("--input", required=True,
                   help="input ntuple(s): a path, glob, root:// or https:// URL, or @list.txt (one per line); "
                   "several files give one output")
    p.add_argument("--out", type=Path, required=True, help="output parquet file")



def _args_dataset(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--input", nargs=2, action="append", required=True, metavar=("SAMPLE", "PARQUET"),
                   help="a feature file and its sample (repeat); PARQUET may be @list.txt, one file per line")
    p.add_argument("--out-dir", type=Path, required=True, help="dataset directory to write")



def _args_train(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True, help="model name of the task (configs/models/)")
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True, help="model directory (checkpoints, logs)")
    p.add_argument("--resume", action="store_true", help="continue from last.pt in --out-dir if present")
    p.add_argument("--summary", action="store_true", help="print parameter count and FLOPs per sample, do not train")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="training processes, one per GPU: N > 1 re-runs this command under torchrun (DDP; gloo "
                   "on the CPU without CUDA); batch_size is per process. 0 or 1: one process")
    p.add_argument("--stop-after", type=int, default=None, metavar="EPOCH",
                   help="stop after this epoch as if interrupted (time-sliced batch jobs); --resume continues")



def _args_predict(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)



def _args_kfold_split(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--k", type=int, required=True, help="number of folds (>= 2)")
    p.add_argument("--dataset-dir", type=Path, required=True, help="the task's dataset (datasets/<task>)")
    p.add_argument("--out-dir", type=Path, required=True, help="directory for fold0 ... fold<K-1>")



def _args_search(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True, help="a model with a search: block")
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True, help="search directory (study.journal lives here)")
    p.add_argument("--worker", type=int, default=0, help="worker number of parallel jobs (varies the sampler seed)")
    p.add_argument("--done", type=Path, default=None, help="write this worker's summary JSON here at the end")



def _args_search_report(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--search-dir", type=Path, required=True)



def _args_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="output .onnx file")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max allowed |onnx - torch| on the check batch")



def _args_apply(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True, help="the task the model was trained for (features, selection)")
    p.add_argument("--model", required=True, type=Path, metavar="MODEL_DIR|ONNX",
                   help="trained model directory (reads best.pt) or its exported model.onnx")
    p.add_argument("--input", required=True, action="append",
                   help="input ntuple(s): a path, glob, root:// or https:// URL, or @list.txt (repeat for more)")
    p.add_argument("--sample", default=None, help="read with this sample's input schema (default: the task's)")
    p.add_argument("--out", type=Path, required=True, help="output parquet (one row per selected object)")
    p.add_argument("--friend", type=Path, default=None, metavar="ROOT",
                   help="also write a friend tree 'dl4hep' aligned with the input's entries (one input only); "
                   "unselected entries/objects get score -1 and dl4hep_selected = false")
    p.add_argument("--batch-size", type=int, default=4096, help="rows per forward pass")



def _args_evaluate(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--predictions-dir", type=Path, required=True, help="predictions/<task> holding one folder per model")
    p.add_argument("--model", nargs=2, action="append", required=True, metavar=("NAME", "MODEL_DIR"),
                   help="a model name and its trained model directory (repeat)")
    p.add_argument("--out-dir", type=Path, required=True, help="evaluation/<task>")
    p.add_argument("--compare-only", action="store_true",
                   help="classification: only compare, reading <out-dir>/models/<model>/ written by evaluate-model")



def _args_evaluate_model(p: argparse.ArgumentParser) -> None:
    _add_config(p)
    p.add_argument("--task", required=True)
    p.add_argument("--model", required=True, help="the model's name in the task")
    p.add_argument("--model-dir", type=Path, required=True, help="its trained model directory (history.csv, best.pt)")
    p.add_argument("--dataset-dir", type=Path, required=True)
    p.add_argument("--predictions-dir", type=Path, required=True, help="predictions/<task> holding one folder per model")
    p.add_argument("--out-dir", type=Path, required=True, help="evaluation/<task>/models/<model>")



def _args_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a local path or a root:// / https:// URL")
    p.add_argument("--tree", default=None, help="only this tree")
    p.add_argument("--filter", default=None, help="only branches matching this glob, e.g. 'FatJet_*'")



def _args_check_config(p: argparse.ArgumentParser) -> None:
    _add_config(p)


#: Subcommands: name, handler, help, and the function adding its arguments.
SUBCOMMANDS: list[tuple[str, Callable[[argparse.Namespace], Any], str, Callable[[argparse.ArgumentParser], None]]] = [
    ("generate", _cmd_generate, "Generate one chunk of a sample with Pythia 8 and the fast detector; write a NanoAOD-style ROOT file.", _args_generate),
    ("features", _cmd_features, "Build a task's feature sets from one ntuple, read in chunks; write parquet.", _args_features),
    ("dataset", _cmd_dataset, "Merge feature files into train/val/test datasets with labels, weights and normalisation.", _args_dataset),
    ("train", _cmd_train, "Train one model of a task (CUDA if present; torchrun for several GPUs).", _args_train),
    ("predict", _cmd_predict, "Write per-class scores of a trained model for every dataset split.", _args_predict),
    ("kfold-split", _cmd_kfold_split, "Write K fold datasets (fold = event mod K) of a task's dataset for K-fold training.", _args_kfold_split),
    ("search", _cmd_search, "Run hyperparameter-search trials (Optuna) of one model; resumes the study.", _args_search),
    ("search-report", _cmd_search_report, "Write best.yaml (a config overlay), trials.csv and the trials plot of a hyperparameter search.", _args_search_report),
    ("export", _cmd_export, "Export a trained model to ONNX and check it against PyTorch with onnxruntime.", _args_export),
    ("apply", _cmd_apply, "Score any ntuple (labelled or not, e.g. collision data) with a trained model; " "write parquet keyed by run/luminosityBlock/event and optionally a ROOT friend tree.", _args_apply),
    ("evaluate", _cmd_evaluate, "Metrics, ROC, confusion matrix, significance and diagnostic plots for all models " "of a task, and their comparison (--compare-only: the comparison of the evaluate-model outputs).", _args_evaluate),
    ("evaluate-model", _cmd_evaluate_model, "Metrics, ROC curves, confusion matrix, scores and significance of one model of a classification task.", _args_evaluate_model),
    ("inspect", _cmd_inspect, "List the trees and branches of a ROOT file (or the columns of a parquet file).", _args_inspect),
    ("check-config", _cmd_check_config, "Validate a config (schema, names, model/feature compatibility) and print a summary.", _args_check_config),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dl4hep",
        description="Deep learning for collider physics: ROOT ntuples to physics results. "
        "Each subcommand is one workflow stage; `snakemake` chains them.",
    )
    parser.add_argument("--version", action="version", version=f"dl4hep {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    handlers: dict[str, Callable[[argparse.Namespace], Any]] = {}
    for name, func, help_, add_arguments in SUBCOMMANDS:
        p = sub.add_parser(name, help=help_, description=help_)
        # also after the subcommand (`dl4hep inspect -v f.root`); counts add up with the global one
        p.add_argument("-v", "--verbose", action="count", default=0, dest="sub_verbose", help=VERBOSE_HELP)
        add_arguments(p)
        handlers[name] = func
    parser.set_defaults(_handlers=handlers)
    return parser


VERBOSE_HELP = "-v: progress and summaries (INFO), -vv: debug; for dl4hep's own messages only"


def _setup_logging(verbosity: int) -> None:
    """dl4hep's logger at WARNING, INFO (-v) or DEBUG (-vv); every other library stays at WARNING.

    Under torchrun, ranks other than 0 keep WARNING: their INFO lines would repeat rank 0's.
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    if int(os.environ.get("RANK", "0")) > 0:
        level = max(level, logging.WARNING)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("dl4hep").setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    _setup_logging(args.verbose + args.sub_verbose)
    # stages that draw tqdm bars: a one-line record per interval when stderr is a log file
    from dl4hep.progress import route_tqdm_to_log

    route_tqdm_to_log()
    handler = args._handlers[args.command]
    try:
        result = handler(args)
    except Dl4hepError as err:
        print(f"dl4hep {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"dl4hep {args.command}: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    if isinstance(result, _Exit):
        return int(result)
    if isinstance(result, dict) and result:
        log.info("%s summary: %s", args.command, json.dumps(result, default=str))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
