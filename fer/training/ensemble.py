"""Weighted ensembles ("joint test"): average members' softmax outputs.

Weights are found by grid search on PublicTest only; PrivateTest is evaluated once with
the chosen weights, for the report.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from fer.engine.classify import resolve_precision
from fer.io.outputs import refuse_to_replace
from fer.models.modelfile import check_class_names, check_zooms, load_models, save_ensemble


def check_step(step: float) -> None:
    """The grid's step must cut 1 into equal parts: 0.3 would quietly search thirds."""
    parts = 1 / step if step > 0 else 0.0
    if not (0 < step <= 1 and abs(parts - round(parts)) < 1e-6):
        raise ValueError(f"--step {step:g}: must divide 1 into equal parts, e.g. 0.1 or 0.05")


def simplex_grid(n: int, step: float = 0.1) -> np.ndarray:
    """All weight vectors of ``n`` non-negative multiples of ``step`` that sum to one."""
    check_step(step)
    k = round(1 / step)
    rows = [c for c in itertools.product(range(k + 1), repeat=n - 1) if sum(c) <= k]
    return np.array([[*c, k - sum(c)] for c in rows], dtype=np.float64) / k


#: What ``fer ensemble`` may optimise on PublicTest, the default first.
CRITERIA = ("cross-entropy", "accuracy")
DEFAULT_CRITERION = CRITERIA[0]


def _check_criterion(criterion: str) -> None:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose from {', '.join(CRITERIA)}")


def search_weights(probs: Sequence[np.ndarray], labels: np.ndarray, step: float = 0.1,
                   criterion: str = DEFAULT_CRITERION) -> tuple[np.ndarray, float]:
    """Grid-searched ensemble weights on the given (PublicTest) predictions, and their accuracy.

    ``cross-entropy`` (the default) picks the mixture that gives the true labels the highest
    mean log-probability. Every face moves it a little, while accuracy moves only when a
    borderline face flips, in steps of one face, so many grid points lie within noise of the
    best accuracy. Chosen on one half of PublicTest and scored on the other,
    cross-entropy's weights carried over better (``scripts/ensemble_selection.py``).
    ``accuracy`` picks the best accuracy directly. Ties go to the most even weights, which
    generalise better than a lucky corner.
    """
    _check_criterion(criterion)
    stacked = np.stack(probs)  # (M, N, K)
    grid = sorted(simplex_grid(len(probs), step), key=lambda w: float(np.abs(w - 1 / len(w)).sum()))
    if criterion == "accuracy":
        scores = [float((np.tensordot(w, stacked, axes=1).argmax(1) == labels).mean()) for w in grid]
    else:
        true_class = stacked[:, np.arange(len(labels)), labels]  # (M, N)
        scores = [float(np.log(np.clip(w @ true_class, 1e-12, None)).mean()) for w in grid]
    best = grid[int(np.argmax(scores))]  # the first maximum: the most even of tied points
    return best, float((np.tensordot(best, stacked, axes=1).argmax(1) == labels).mean())


def build_ensemble(weights: Sequence[str | os.PathLike], data: str | os.PathLike, out: str | os.PathLike,
                   tencrop: bool = True, step: float = 0.1, precision: str = "auto",
                   criterion: str = DEFAULT_CRITERION, overwrite: bool = False,
                   zooms: tuple[float, ...] = (1.0,)) -> dict[str, Any]:
    """Search member weights on PublicTest, write the ensemble file, report PrivateTest. An
    existing ``out`` is replaced only with ``overwrite``. Every member looks at each face at
    ``zooms`` (the file records them, and whoever loads it does the same), an ensemble given
    as a member too, whatever its own file says.
    ``auto`` runs the members in bfloat16 where native, else float32: never in int8,
    which only some members may carry, so that every member is weighed in one precision."""
    # Imported here: evaluation pulls in scikit-learn, and the CLI imports this module for CRITERIA.
    from fer.training.evaluate import compute_metrics, member_probs, split_faces

    _check_criterion(criterion)  # before minutes of inference, not after
    check_step(step)  # the grid checks it too, after the inference
    check_zooms(zooms, "zooms")
    refuse_to_replace(out, overwrite)
    precision = resolve_precision(precision, torch.device("cpu")) if precision == "auto" else precision
    members = [replace(m, zooms=tuple(zooms)) for w in weights for m in load_models(w)]
    check_class_names(members, "the models given")
    public_faces, public_labels = split_faces(data, "public")
    public_probs = member_probs(members, public_faces, tencrop, precision)
    w, public_acc = search_weights(public_probs, public_labels, step, criterion)
    private_faces, private_labels = split_faces(data, "private")
    private_probs = np.tensordot(w, np.stack(member_probs(members, private_faces, tencrop, precision)), axes=1)
    # A member the search gave no weight would only cost inference time: leave it out.
    kept = [(m.path, float(x)) for m, x in zip(members, w) if x > 0]
    path = save_ensemble(kept, out, info={"chosen_on": "PublicTest", "criterion": criterion, "tencrop": tencrop,
                                          "grid_step": step, "zooms": list(zooms)})
    return {"file": str(path), "weights": w.tolist(), "members": [str(m.path) for m in members],
            "dropped": [str(m.path) for m, x in zip(members, w) if x == 0], "public_accuracy": public_acc,
            "member_public_accuracy": [float((p.argmax(1) == public_labels).mean()) for p in public_probs],
            "private": compute_metrics(private_labels, private_probs, members[0].meta.class_names)}

