"""Train several FER2013 networks side by side on one GPU within a time budget.

    python scripts/train_gpu.py --data fer2013.tar.gz --minutes 7 [--models vgg10 resnet25 resnet17]
    python scripts/train_gpu.py --data fer2013.tar.gz --minutes 9 --models vgg10 --seeds 3 4 --max-epochs 160

A GPU is often lent for minutes, not hours, and small 40x40 networks leave most of a
large GPU idle, so the networks train at once, one process each. The script first times
a few training steps of each network alone, then gives every network the same number of
epochs (at most ``--max-epochs``) such that all of them would finish within the budget
even if sharing the GPU gave no gain at all (on an H200 three side by side took about
half their summed time alone). Each process is a plain ``fer train`` run, whose exact
command is printed and kept in its log, so every model can be retrained without this
script. Runs still going a minute after the budget are stopped; their ``best.pt`` stays.
With ``--seeds``, each network trains once per seed (``OUT/vgg10-seed3``, ...): the
ensemble's members that differ only in their seed, each on the shipped recipe.

Smoke test on a CPU: ``python scripts/train_gpu.py --data fer2013.tar.gz --device cpu
--minutes 0.2 --subset 512 --width-mult 0.25``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from fer.engine.classify import resolve_device
from fer.models import list_models
from fer.training.data import load_fer2013
from fer.training.step_time import time_training_step
from fer.training.train import TrainConfig, amp_enabled, train, train_command, training_set

#: Epoch cost beyond the timed steps: augmentation, weight EMA, PublicTest and logs.
OVERHEAD = 1.3
#: Seconds of the budget a run spends starting (process, imports, data, first kernels).
STARTUP = 20.0
#: Seconds past the budget after which a run still going is stopped.
GRACE = 60.0


def allocate_epochs(epoch_seconds: dict[str, float], budget: float, max_epochs: int) -> int:
    """The most epochs, at most ``max_epochs``, that every run can train while the runs'
    summed epoch time fits ``budget``."""
    return max(1, min(max_epochs, int(budget / sum(epoch_seconds.values()))))


def run_name(model: str, seed: int) -> str:
    """``vgg10`` for seed 0, as the shipped model files are named; ``vgg10-seed3`` otherwise."""
    return model if seed == 0 else f"{model}-seed{seed}"


def _run(cfg: TrainConfig, log: Path) -> None:
    """One training process; its output goes to ``log``."""
    with log.open("w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        print(train_command(cfg), flush=True)
        train(cfg)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock budget for the training")
    parser.add_argument("--models", nargs="+", default=["vgg10", "resnet25", "resnet17"], choices=list_models())
    parser.add_argument("--seeds", nargs="+", type=int, default=[0],
                        help="one run per network and seed; runs of seed 0 are named after the network alone")
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--subset", type=int, default=0, help="train on this many faces (smoke tests)")
    parser.add_argument("--width-mult", type=float, default=1.0)
    parser.add_argument("--out", default="runs/gpu")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds {' '.join(map(str, args.seeds))}: each seed once (a run per seed)")

    device = resolve_device(args.device)
    data = load_fer2013(args.data)  # decoded once, into the cache the runs read
    faces = len(training_set(data, TrainConfig(data=args.data, subset=args.subset))[1])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = TrainConfig(data=args.data, device=args.device, subset=args.subset, width_mult=args.width_mult)
    configs = {run_name(model, seed): replace(base, model=model, seed=seed, out=str(out / run_name(model, seed)))
               for model in args.models for seed in args.seeds}
    step_seconds = {model: statistics.median(time_training_step(model, base.width_mult, base.batch_size,
                                                                device=device, bf16=amp_enabled(device, base.amp),
                                                                repeats=20, warmup=3, crop=base.crop))
                    for model in args.models}  # a seed changes the numbers, not the time
    for model, step in step_seconds.items():
        print(f"{model}: {step * 1000:.1f} ms per step of {base.batch_size}, "
              f"about {step * (faces // base.batch_size) * OVERHEAD:.1f} s per epoch alone", flush=True)
    epoch_seconds = {name: step_seconds[cfg.model] * (faces // base.batch_size) * OVERHEAD
                     for name, cfg in configs.items()}
    epochs = allocate_epochs(epoch_seconds, args.minutes * 60 - STARTUP, args.max_epochs)
    ctx = mp.get_context("spawn")
    runs = []
    for name, cfg in configs.items():
        cfg = replace(cfg, epochs=epochs, checkpoint_every=max(1, epochs // 4))
        print(train_command(cfg), flush=True)
        proc = ctx.Process(target=_run, args=(cfg, out / f"{name}.log"), name=name)
        proc.start()
        runs.append(proc)
    deadline = time.monotonic() + args.minutes * 60 + GRACE
    for proc in runs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            print(f"{proc.name}: still running at the deadline; stopped (its best.pt stays)", flush=True)
            proc.terminate()
            proc.join()
        print(f"{proc.name}: exit code {proc.exitcode}", flush=True)
    return 0 if all(proc.exitcode == 0 for proc in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
