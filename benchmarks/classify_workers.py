"""Milliseconds per classifier call for a frame's few faces, three ways of using the cores:
one pass on one thread, one pass on OpenMP threads (PyTorch's intra-op parallelism), and
the runtime's way, a pass per worker thread (``Classifier(workers=...)``, each worker one
PyTorch thread). Behind :class:`fer.engine.classify.Classifier`'s ``workers`` and
:data:`fer.recognizer.THREADS`.

    python benchmarks/classify_workers.py [--weights weights/vgg10.pt] [--precision int8 float32]
        [--faces 1 2 4 8] [--repeats 100] [--json benchmarks/classify-workers.json]

Run it on a quiet machine; the load average before and after is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from fer.bench import cpu_name, stats
from fer.engine.classify import Classifier, usable_cores
from fer.models.modelfile import default_weights


def time_calls(classifier: Classifier, faces: np.ndarray, repeats: int) -> dict[str, float]:
    for _ in range(10):  # new batch sizes build their kernels first
        classifier.predict_proba(faces)
    wall = []
    for _ in range(repeats):
        start = time.perf_counter()
        classifier.predict_proba(faces)
        wall.append((time.perf_counter() - start) * 1000)
    return stats(wall)


def run(weights: Path, precisions: list[str], batches: list[int], repeats: int) -> dict:
    cores = usable_cores()
    ways = {"one_thread": (1, 1), f"openmp_{cores}_threads": (cores, 1), f"workers_{cores}": (1, cores)}
    load = [round(x, 2) for x in os.getloadavg()]
    report = {"machine": {"cpu": cpu_name(), "cores": cores, "load_average_before": load},
              "model": str(weights), "call_ms": {}}
    faces = np.random.default_rng(0).integers(0, 256, (max(batches), 48, 48), dtype=np.uint8)
    for precision in precisions:
        for way, (threads, workers) in ways.items():
            classifier = Classifier.from_file(weights, threads=threads, workers=workers, precision=precision)
            for n in batches:
                figures = time_calls(classifier, faces[:n], repeats)
                report["call_ms"].setdefault(precision, {}).setdefault(f"{n}_faces", {})[way] = figures
                print(f"{precision:8} {n} faces  {way:18} median {figures['median']:7.2f} ms  "
                      f"p95 {figures['p95']:7.2f} ms", flush=True)
    torch.set_num_threads(1)
    report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=default_weights(), help="model file (default: the shipped one)")
    parser.add_argument("--precision", nargs="+", default=["int8", "float32"],
                        help="precisions (default: int8 float32)")
    parser.add_argument("--faces", nargs="+", type=int, default=[1, 2, 4, 8], help="faces per call (default: 1 2 4 8)")
    parser.add_argument("--repeats", type=int, default=100, help="timed calls per case (default: 100)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    report = run(args.weights, args.precision, args.faces, args.repeats)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
