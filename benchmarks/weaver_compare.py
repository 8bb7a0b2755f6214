"""dl4hep against weaver-core: ParT and ParticleNet training and inference throughput, side by side.

Both frameworks get the same synthetic jets (multiplicity drawn from a gamma distribution
like the generated jets: mean 46, 99th percentile ~100 before clipping to the slots; massless
constituents around one axis), the same architecture sizes, batch size, optimiser (AdamW)
and loss (cross entropy). Each side batches the way it does in training:

* weaver-core: random batches padded to the slots, its models trim each batch themselves
  (``SequenceTrimmer``; in training to a random 0.9-1.02 quantile of the batch's lengths);
  inputs in its ``(N, C, P)`` layout, converted once before timing.
* dl4hep: :class:`dl4hep.data.tensors.TensorBatches` as ``dl4hep train`` builds it (length
  bucketing and trimming where this version has them); inference through
  :func:`dl4hep.training.predict.score_tensors`, as ``dl4hep predict``.

Runs are interleaved (weaver, dl4hep, dl4hep, weaver, ...), each in a fresh process
(dl4hep's sets the allocator as ``dl4hep train`` does, :mod:`dl4hep.training.host_memory`;
``--weaver-malloc`` gives weaver-core the same), and the medians over ``--repeats`` are
printed with their ratio. Needs the ``bench`` extra
(``pip install -e .[bench]``). Sizes:

* ``paper``: 128 slots, batch 64, configs/models/*.yaml (ParT 2.1 M parameters);
* ``default``: 96 slots, batch 128, the jets models of configs/config.yaml.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dl4hep.config import TrainingConfig, load_analysis
from dl4hep.data.tensors import TensorBatches
from dl4hep.models.registry import build_model, count_parameters
from dl4hep.training.host_memory import keep_freed_memory
from dl4hep.training.predict import score_tensors

REPO = Path(__file__).resolve().parents[1]
N_FEATURES = 17  # jet_point_cloud
N_CLASSES = 5
SIZES = {"paper": (128, 64, None), "default": (96, 128, REPO / "configs" / "config.yaml")}


def synthetic_jets(n: int, slots: int, seed: int) -> dict[str, torch.Tensor]:
    """Padded jets like ``jet_point_cloud`` output: points, points_mask, points_p4 and a label."""
    rng = np.random.default_rng(seed)
    n_real = np.clip(np.rint(rng.gamma(6.5, 46 / 6.5, n)), 1, slots).astype(np.int64)
    mask = np.arange(slots)[None, :] < n_real[:, None]
    pt = np.sort(rng.exponential(8.0, (n, slots)) + 0.5, axis=1)[
        :, ::-1
    ]  # pT-ordered like the features
    eta = rng.normal(0.0, 0.25, (n, slots))
    phi = rng.normal(0.0, 0.25, (n, slots))
    p4 = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], -1)
    pts = rng.normal(size=(n, slots, N_FEATURES))
    pts[..., 0], pts[..., 1] = eta / 0.25, phi / 0.25  # deta, dphi: ParticleNet's first coordinates
    m = mask[..., None]
    return {
        "points": torch.from_numpy((pts * m).astype(np.float32)),
        "points_mask": torch.from_numpy(mask),
        "points_p4": torch.from_numpy((p4 * m).astype(np.float32)),
        "label": torch.from_numpy(rng.integers(0, N_CLASSES, n)),
    }


def hyperparameters(size: str) -> dict[str, dict[str, Any]]:
    """ParT and ParticleNet hyperparameters of one size (model YAMLs, or the default analysis)."""
    _, _, cfg_path = SIZES[size]
    if cfg_path is None:
        import yaml

        return {
            kind: yaml.safe_load((REPO / "configs" / "models" / f"{kind}.yaml").read_text())[
                "hyperparameters"
            ]
            for kind in ("particle_transformer", "particlenet")
        }
    cfg = load_analysis(cfg_path)
    return {
        kind: dict(cfg.model("jets", kind).hyperparameters)
        for kind in ("particle_transformer", "particlenet")
    }


def full_hyperparameters(kind: str, hp: dict[str, Any]) -> dict[str, Any]:
    from dl4hep.models.specs import parse_hyperparameters

    return parse_hyperparameters(kind, hp, where="bench").model_dump()


def weaver_model(kind: str, hp: dict[str, Any]) -> torch.nn.Module:
    """weaver-core's model with dl4hep's hyperparameters (its defaults elsewhere, as weaver trains them)."""
    if kind == "particle_transformer":
        from weaver.nn.model.ParticleTransformer import ParticleTransformer

        return ParticleTransformer(
            input_dim=N_FEATURES,
            num_classes=N_CLASSES,
            pair_input_dim=4 if hp["use_pair_features"] else 0,
            embed_dims=hp["embed_dims"],
            pair_embed_dims=hp["pair_embed_dims"],
            num_heads=hp["num_heads"],
            num_layers=hp["num_layers"],
            num_cls_layers=hp["num_cls_layers"],
            block_params={"ffn_ratio": hp["ffn_ratio"], "dropout": hp["dropout"]},
            fc_params=[],
        )
    from weaver.nn.model.ParticleNet import ParticleNet

    # no fusion block: dl4hep's ParticleNet pools the last EdgeConv block directly
    return ParticleNet(
        input_dims=N_FEATURES,
        num_classes=N_CLASSES,
        conv_params=[(hp["k"], tuple(c)) for c in hp["conv_channels"]],
        fc_params=[(w, hp["dropout"]) for w in hp["fc_channels"]],
        use_fusion=False,
    )


def weaver_layout(jets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """weaver-core's ``(N, C, P)`` inputs: features, four-momenta, coordinates and mask."""
    return {
        "x": jets["points"].transpose(1, 2).contiguous(),
        "v": jets["points_p4"].transpose(1, 2).contiguous(),
        "pts": jets["points"][..., :2].transpose(1, 2).contiguous(),
        "mask": jets["points_mask"].unsqueeze(1).float(),
        "label": jets["label"],
    }


def weaver_call(kind: str, net: torch.nn.Module, b: dict[str, torch.Tensor]) -> torch.Tensor:
    if kind == "particle_transformer":
        return net(b["x"], v=b["v"], mask=b["mask"])
    return net(b["pts"], b["x"], mask=b["mask"])


def _batches_weaver(data: dict[str, torch.Tensor], batch: int, gen: torch.Generator):
    while True:
        perm = torch.randperm(len(data["label"]), generator=gen)
        for i in range(0, len(perm) - batch + 1, batch):
            idx = perm[i : i + batch]
            yield {k: v.index_select(0, idx) for k, v in data.items()}


def _batches_dl4hep(
    data: dict[str, torch.Tensor], batch: int, gen: torch.Generator, bucketing: bool
):
    """Training batches as ``dl4hep train`` builds them for a point-cloud model (trimmed, bucketed)."""
    window = TrainingConfig().bucket_window if bucketing else 1
    batches = TensorBatches(
        data,
        batch_size=batch,
        shuffle=True,
        generator=gen,
        skip_singleton=True,
        trim=True,
        bucket_window=window,
    )
    while True:
        yield from batches


def _autocast(precision: str):
    return (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )


def time_training(
    net, call, batches, steps: int, warmup: int, precision: str, clock=time.perf_counter
) -> float:
    """Training samples/s: forward, cross entropy, backward, AdamW step."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    net.train()

    def step() -> int:
        b = next(batches)
        with _autocast(precision):
            logits = call(b)
        loss = F.cross_entropy(logits.float(), b["label"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return len(b["label"])

    for _ in range(warmup):
        step()
    t0 = clock()
    seen = sum(step() for _ in range(steps))
    return seen / (clock() - t0)


@torch.no_grad()
def time_inference(fn, n: int, clock=time.perf_counter) -> float:
    fn()  # warm-up (allocations, trimmer warm-up steps)
    t0 = clock()
    fn()
    return n / (clock() - t0)


def _clock(args: argparse.Namespace):
    """Process CPU time with ``--cpu`` (robust on a shared machine: one thread), else wall time."""
    return time.process_time if args.cpu else time.perf_counter


def run_weaver(kind, hp, jets, wjets, args, batch) -> tuple[float, float]:
    torch.manual_seed(0)
    net = weaver_model(kind, hp)
    for _ in range(6):  # SequenceTrimmer trims only after 5 calls
        with torch.no_grad():
            weaver_call(kind, net.eval(), {k: v[:2] for k, v in wjets.items()})
    gen = torch.Generator().manual_seed(1)
    train = time_training(
        net,
        lambda b: weaver_call(kind, net, b),
        _batches_weaver(wjets, batch, gen),
        args.steps,
        args.warmup,
        args.precision,
        _clock(args),
    )
    n = args.infer_jets
    sub = {k: v[:n] for k, v in wjets.items()}

    def infer() -> None:
        net.eval()
        with _autocast(args.precision):
            for i in range(0, n, batch):
                torch.softmax(
                    weaver_call(kind, net, {k: v[i : i + batch] for k, v in sub.items()}).float(), 1
                )

    return train, time_inference(infer, n, _clock(args))


def run_dl4hep(kind, hp, jets, args, batch, bucketing=True) -> tuple[float, float]:
    torch.manual_seed(0)
    net = build_model(kind, hp, num_classes=N_CLASSES, input_dim=N_FEATURES)
    names = tuple(net.input_names)
    fwd = torch.compile(net) if args.compile else net
    gen = torch.Generator().manual_seed(1)
    train = time_training(
        net,
        lambda b: fwd(*[b[k] for k in names]),
        _batches_dl4hep(jets, batch, gen, bucketing),
        args.steps,
        args.warmup,
        args.dl4hep_precision or args.precision,
        _clock(args),
    )
    n = args.infer_jets
    sub = {k: jets[k][:n] for k in names}

    def infer() -> None:
        net.eval()
        with _autocast(args.precision):
            score_tensors(fwd, sub, device=torch.device("cpu"), batch_size=batch)

    return train, time_inference(infer, n, _clock(args))


def measure(side: str, kind: str, size: str, args: argparse.Namespace) -> tuple[float, float]:
    """Training and inference samples/s of one side, in this process."""
    torch.set_num_threads(args.threads)
    slots, batch, _ = SIZES[size]
    jets = synthetic_jets(args.jets, slots, seed=7)
    hp = hyperparameters(size)[kind]
    if side == "weaver":
        if args.weaver_malloc:
            keep_freed_memory()
        return run_weaver(
            kind, full_hyperparameters(kind, hp), jets, weaver_layout(jets), args, batch
        )
    keep_freed_memory()  # what `dl4hep train` and `dl4hep predict` do
    return run_dl4hep(kind, hp, jets, args, batch, not args.no_bucketing)


def _worker(side: str, kind: str, size: str, argv: list[str]) -> tuple[float, float]:
    """One measurement in a fresh process (allocator settings and warm caches do not leak across)."""
    cmd = [sys.executable, __file__, *argv, "--worker", side, kind, size]
    out = (
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    train, infer = json.loads(out)
    return train, infer


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument(
        "--models",
        nargs="+",
        default=["particle_transformer", "particlenet"],
        choices=["particle_transformer", "particlenet"],
    )
    p.add_argument("--jets", type=int, default=8192, help="synthetic jets in the training pool")
    p.add_argument("--infer-jets", type=int, default=1024)
    p.add_argument("--steps", type=int, default=12, help="timed training steps per run")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs per side (medians reported)"
    )
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="both sides")
    p.add_argument(
        "--dl4hep-precision",
        choices=["fp32", "bf16"],
        default=None,
        help="dl4hep training only (bf16: what precision: auto does on a CPU with native bf16; "
        "weaver-core autocasts only on CUDA); dl4hep inference keeps --precision, as dl4hep predict",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: robust on a shared machine)"
    )
    p.add_argument(
        "--cpu",
        action="store_true",
        help="rates from process CPU time instead of wall time (a shared machine; one thread)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="dl4hep's model through torch.compile (training.compile)",
    )
    p.add_argument(
        "--no-bucketing",
        action="store_true",
        help="dl4hep without length bucketing (trimming only)",
    )
    p.add_argument(
        "--weaver-malloc",
        action="store_true",
        help="give weaver-core dl4hep's allocator setting too (dl4hep.training.host_memory)",
    )
    p.add_argument("--worker", nargs=3, metavar=("SIDE", "MODEL", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, default=None)
    raw = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(raw)
    if args.worker:
        print(json.dumps(measure(*args.worker, args)))
        return {}
    from importlib.metadata import version

    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, weaver-core "
        f"{version('weaver-core')}, threads {args.threads}, {args.precision}"
        f"{f' (dl4hep training {args.dl4hep_precision})' if args.dl4hep_precision else ''}"
        f"{', dl4hep compiled' if args.compile else ''}{', process CPU time' if args.cpu else ''}, "
        f"{args.repeats} interleaved runs (one process each), medians",
        flush=True,
    )
    results: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}, "rows": []}
    for size in args.sizes:
        slots, batch, _ = SIZES[size]
        n_real = synthetic_jets(args.jets, slots, seed=7)["points_mask"].sum(1).float()
        print(
            f"\n{size}: {slots} slots, batch {batch}, constituents mean {n_real.mean():.1f}, "
            f"p99 {n_real.quantile(0.99):.0f}",
            flush=True,
        )
        for kind, hp in hyperparameters(size).items():
            if kind not in args.models:
                continue
            sides: dict[str, list[tuple[float, float]]] = {"weaver": [], "dl4hep": []}
            for r in range(args.repeats):
                for side in ["weaver", "dl4hep"] if r % 2 == 0 else ["dl4hep", "weaver"]:
                    sides[side].append(_worker(side, kind, size, raw))
            med = {
                s: (statistics.median(t for t, _ in v), statistics.median(i for _, i in v))
                for s, v in sides.items()
            }
            params = {
                "weaver": count_parameters(weaver_model(kind, full_hyperparameters(kind, hp))),
                "dl4hep": count_parameters(
                    build_model(kind, hp, num_classes=N_CLASSES, input_dim=N_FEATURES)
                ),
            }
            row = {
                "size": size,
                "model": kind,
                "slots": slots,
                "batch": batch,
                "parameters": params,
                "runs": sides,
                "train": {s: m[0] for s, m in med.items()},
                "infer": {s: m[1] for s, m in med.items()},
                "train_ratio": med["dl4hep"][0] / med["weaver"][0],
                "infer_ratio": med["dl4hep"][1] / med["weaver"][1],
            }
            results["rows"].append(row)
            print(
                f"  {kind:<22} params weaver {params['weaver']:,} dl4hep {params['dl4hep']:,}\n"
                f"    train/s  weaver {med['weaver'][0]:8.1f}  dl4hep {med['dl4hep'][0]:8.1f}  ratio {row['train_ratio']:.2f}\n"
                f"    infer/s  weaver {med['weaver'][1]:8.1f}  dl4hep {med['dl4hep'][1]:8.1f}  ratio {row['infer_ratio']:.2f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
