"""Would ten-crop over zoomed copies of each face help? Judged on PublicTest alone.

    python scripts/zoom_views.py --data fer2013.tar.gz weights/joint.ens.json

Training shows the networks faces zoomed by 0.85 to 1.15 (``fer.training.augment``), while
ten-crop looks at each face at its own size only. This script averages each network's
ten-crop probabilities over copies of the face zoomed out (0.9: shrunk, the border
repeated), as is and zoomed in (1.1: enlarged, the middle kept), as ``fer ensemble
--zooms`` has them, and prints the accuracy and cross-entropy of every network and of the
weighted ensemble for each set of zooms. PrivateTest is never read: it is for the scheme
chosen here, once.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from fer.engine.classify import resolve_precision
from fer.models.modelfile import load_models
from fer.training.evaluate import member_probs, split_faces

ZOOM_SETS: tuple[tuple[float, ...], ...] = ((1.0,), (0.9,), (1.1,), (0.9, 1.0), (1.0, 1.1), (0.9, 1.0, 1.1))


def scores(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Accuracy and cross-entropy (mean negative log-probability of the true class)."""
    true_class = np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)
    return float((probs.argmax(1) == labels).mean()), float(-np.log(true_class).mean())


def zoom_table(weights: Sequence[str], data: str, subset: int = 0, precision: str = "auto",
               zoom_sets: Sequence[tuple[float, ...]] = ZOOM_SETS) -> list[dict]:
    """One row per set of zooms: each network's PublicTest ten-crop accuracy and the
    ensemble's accuracy and cross-entropy (members weighted as their files say). ``auto``
    precision is what ``fer ensemble`` runs: bfloat16 where native, else float32, never int8."""
    precision = resolve_precision(precision, torch.device("cpu")) if precision == "auto" else precision
    faces, labels = split_faces(data, "public", subset)
    members = [m for w in weights for m in load_models(w)]
    weight = np.array([m.weight for m in members]) / sum(m.weight for m in members)
    probs = {z: np.stack(member_probs([replace(m, zooms=(z,)) for m in members], faces, tencrop=True,
                                      precision=precision))
             for z in sorted({z for zooms in zoom_sets for z in zooms})}  # each zoom once; sets average them
    rows = []
    for zooms in zoom_sets:
        each = np.mean([probs[z] for z in zooms], axis=0)  # (members, faces, classes)
        accuracy, cross_entropy = scores(np.tensordot(weight, each, axes=1), labels)
        rows.append({"zooms": list(zooms), "accuracy": accuracy, "cross_entropy": cross_entropy,
                     "members": {m.path.name: scores(p, labels)[0] for m, p in zip(members, each)}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    parser.add_argument("--subset", type=int, default=0, help="a class-stratified sample of PublicTest; 0 = all")
    parser.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                        help="precision of the networks (auto: bfloat16 where the CPU computes it natively)")
    parser.add_argument("weights", nargs="+", help="model files or an ensemble file")
    args = parser.parse_args()
    rows = zoom_table(args.weights, args.data, args.subset, args.precision)
    names = list(rows[0]["members"])
    print(f"{'zooms':16} {'ensemble':>8} {'x-ent':>7}  " + "  ".join(f"{n:>14}" for n in names))
    for r in rows:
        print(f"{' '.join(map(str, r['zooms'])):16} {r['accuracy']:8.4f} {r['cross_entropy']:7.4f}  "
              + "  ".join(f"{r['members'][n]:14.4f}" for n in names))


if __name__ == "__main__":
    main()
