"""Training and inference throughput of every model type on synthetic inputs.

Prints, per model: parameters, forward FLOPs per sample, training samples/s
(forward + backward + AdamW step), inference samples/s (no_grad forward) and
the achieved fraction of the device's dense bf16 peak (training counted as
3x forward FLOPs). Defaults suit a GPU (bf16, batch 512, 128 particles); on a
CPU use smaller settings, e.g.::

    python benchmarks/train_throughput.py --batch 64 --points 32 --steps 5 --precision fp32

Model sizes are the shipped defaults of configs/models/*.yaml.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import torch
import yaml

from dl4hep.models.registry import build_model, count_flops, count_parameters, example_inputs

MODELS = ["dnn", "pfn", "particlenet", "particle_transformer", "hit_gnn"]
#: Dense bf16 peaks in TFLOP/s (vendor figures, no sparsity).
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
REPO = Path(__file__).resolve().parents[1]


def device_peak(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return platform.processor() or platform.machine(), None
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_BF16_TFLOPS.items():
        if key in name:
            return name, peak * 1e12
    return name, None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(kind: str, args: argparse.Namespace, device: torch.device) -> dict:
    cfg = yaml.safe_load((REPO / "configs" / "models" / f"{kind}.yaml").read_text())
    hp = cfg.get("hyperparameters", {})
    dim = args.tabular_features if kind == "dnn" else args.point_features
    torch.manual_seed(0)
    net = build_model(kind, hp, num_classes=args.classes, input_dim=dim)
    names = tuple(net.input_names)
    x = example_inputs(names, batch=args.batch, input_dim=dim, max_points=args.points, full=args.full)
    flops = count_flops(net, {k: v[:1] for k, v in example_inputs(names, batch=1, input_dim=dim,
                                                                     max_points=args.points, full=True).items()})
    x = {k: v.to(device) for k, v in x.items()}
    y = torch.randint(0, args.classes, (args.batch,), device=device)
    net.to(device)
    fwd = torch.compile(net) if args.compile else net
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    bf16 = args.precision == "bf16"
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def train_step():
        with amp:
            loss = torch.nn.functional.cross_entropy(fwd(*[x[n] for n in names]).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def infer_step():
        with amp:
            fwd(*[x[n] for n in names])

    out = {"model": kind, "parameters": count_parameters(net), "flops_per_sample": flops}
    for label, step, mode in (("train", train_step, True), ("infer", infer_step, False)):
        net.train(mode)
        for _ in range(args.warmup):
            step()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        _sync(device)
        out[f"{label}_samples_per_s"] = args.batch * args.steps / (time.perf_counter() - t0)
    return out


def main(argv=None) -> list[dict]:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--batch", type=int, default=512 if cuda else 64)
    p.add_argument("--points", type=int, default=128 if cuda else 32, help="particles/hits per sample (padded)")
    p.add_argument("--point-features", type=int, default=8)
    p.add_argument("--tabular-features", type=int, default=20)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--steps", type=int, default=20 if cuda else 5)
    p.add_argument("--warmup", type=int, default=5 if cuda else 1)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16" if cuda else "fp32")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--full", action="store_true", help="all particles real (default: random multiplicity)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if cuda else "cpu")
    dev_name, peak = device_peak(device)
    print(f"device: {dev_name} ({device}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, points {args.points}, precision {args.precision}, compile {args.compile}")
    header = f"{'model':<22}{'params':>11}{'MFLOP/sample':>14}{'train/s':>11}{'infer/s':>11}{'train MFU':>11}"
    print(header)
    rows = []
    for kind in args.models:
        r = bench(kind, args, device)
        r["train_mfu"] = (3 * r["flops_per_sample"] * r["train_samples_per_s"] / peak) if peak else None
        rows.append(r)
        mfu = f"{100 * r['train_mfu']:.1f}%" if r["train_mfu"] is not None else "n/a"
        print(f"{kind:<22}{r['parameters']:>11,}{r['flops_per_sample'] / 1e6:>14.2f}"
              f"{r['train_samples_per_s']:>11.0f}{r['infer_samples_per_s']:>11.0f}{mfu:>11}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": dev_name, "settings": vars(args) | {"json": str(args.json)},
                                         "results": rows}, indent=2, default=str))
    return rows


if __name__ == "__main__":
    main()
