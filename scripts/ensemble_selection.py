"""Which way of choosing ensemble weights carries over to unseen faces, judged on PublicTest alone.

    python scripts/ensemble_selection.py --data fer2013.tar.gz weights/vgg10.pt weights/resnet25.pt weights/resnet17.pt

``fer ensemble`` can pick the grid point with the best PublicTest accuracy or the lowest
cross-entropy. Accuracy moves in steps of one face and many grid points lie within a few
faces of each other, so its winner may be noise. This script splits PublicTest in random
halves, chooses weights on one half by each rule (best accuracy; lowest cross-entropy, what
``fer ensemble`` does by default; equal weights) and scores them on the other half.
PrivateTest is never read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from fer.models.modelfile import load_models
from fer.training.ensemble import search_weights
from fer.training.evaluate import member_probs, split_faces

Rule = Callable[[np.ndarray, np.ndarray], np.ndarray]


RULES: dict[str, Rule] = {
    "best accuracy": lambda stacked, labels: search_weights(list(stacked), labels, criterion="accuracy")[0],
    "lowest cross-entropy": lambda stacked, labels: search_weights(list(stacked), labels)[0],
    "equal weights": lambda stacked, labels: np.full(len(stacked), 1 / len(stacked)),
}


def held_out_accuracy(stacked: np.ndarray, labels: np.ndarray, rounds: int, seed: int) -> dict[str, np.ndarray]:
    """Per rule, the accuracy on the other half in each of ``rounds`` random splits."""
    rng = np.random.default_rng(seed)
    scores: dict[str, list[float]] = {name: [] for name in RULES}
    for _ in range(rounds):
        order = rng.permutation(len(labels))
        choose, score = order[: len(order) // 2], order[len(order) // 2:]
        for name, rule in RULES.items():
            w = rule(stacked[:, choose], labels[choose])
            scores[name].append(float((np.tensordot(w, stacked[:, score], axes=1).argmax(1) == labels[score]).mean()))
    return {name: np.array(s) for name, s in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", help="member model files")
    parser.add_argument("--data", required=True, help="FER2013 directory, .tar.gz, .zip or fer2013.csv")
    parser.add_argument("--rounds", type=int, default=200, help="random half splits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto", help="precision of the members' passes")
    args = parser.parse_args()

    members = [m for w in args.weights for m in load_models(w)]
    faces, labels = split_faces(args.data, "public")
    stacked = np.stack(member_probs(members, faces, tencrop=True, precision=args.precision))
    scores = held_out_accuracy(stacked, labels, args.rounds, args.seed)
    reference = scores["best accuracy"]
    print(f"PublicTest ten-crop, {args.rounds} random halves: weights chosen on one half, accuracy on the other")
    for name, s in scores.items():
        diff = s - reference
        print(f"  {name:30s} mean {s.mean():.4f}  sd {s.std():.4f}  "
              f"against best accuracy: {diff.mean():+.4f} (better in {(diff > 0).mean():.0%} of splits, "
              f"worse in {(diff < 0).mean():.0%})")
    for name, rule in RULES.items():
        print(f"  weights on all of PublicTest by {name}: {np.round(rule(stacked, labels), 2).tolist()}")


if __name__ == "__main__":
    main()
