"""Time one training step (forward, backward, SGD update) of a model in float32 and bf16,
NCHW and channels-last: the numbers behind ``fer train``'s choice of bf16 autocast, and
the minutes one epoch of FER2013's 28,709 training faces costs.

    python benchmarks/train_step.py [--model vgg10] [--width-mult 1.0] [--batch-size 128] [--bf16]

bf16 rows are timed where the CPU computes bf16 natively (AMX, AVX512-BF16), or with
``--bf16``: elsewhere PyTorch emulates it, several times slower than float32.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from fer.training.step_time import time_training_step
from fer.training.train import amp_enabled

TRAINING_FACES = 28_709  # FER2013's Training split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg10")
    parser.add_argument("--width-mult", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--bf16", action="store_true", help="time bf16 even where the CPU only emulates it")
    args = parser.parse_args()
    native_bf16 = amp_enabled(torch.device("cpu"), True)
    if not native_bf16:
        print("note: this CPU has no bf16 units" + ("; bf16 rows will be slow" if args.bf16 else ": float32 only"))
    rows = {}
    for bf16 in (False, True) if native_bf16 or args.bf16 else (False,):
        for channels_last in (False, True):
            t = np.array(time_training_step(args.model, args.width_mult, args.batch_size, bf16=bf16,
                                            channels_last=channels_last, repeats=args.repeats))
            rows[f"{'bf16' if bf16 else 'fp32'} {'channels_last' if channels_last else 'nchw'}"] = {
                "median_ms": round(1000 * float(np.median(t)), 1),
                "p95_ms": round(1000 * float(np.percentile(t, 95)), 1),
                "minutes_per_epoch": round(float(np.median(t)) * (TRAINING_FACES // args.batch_size) / 60, 1)}
    base = rows["fp32 nchw"]["median_ms"]
    for row in rows.values():
        row["speedup_vs_fp32_nchw"] = round(base / row["median_ms"], 2)
    print(json.dumps({"model": args.model, "width_mult": args.width_mult, "batch_size": args.batch_size,
                      "threads": torch.get_num_threads(), "steps": rows}, indent=2))


if __name__ == "__main__":
    main()
