"""Honest evaluation on FER2013's test splits, with scikit-learn's metrics.

Checkpoints and ensemble weights are chosen on PublicTest; PrivateTest is only reported.
Everything a metrics file holds is produced here, so the README table, the app's
metrics page and ``fer evaluate`` always agree.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn import metrics as skm
from tqdm import tqdm

from fer.engine.classify import Classifier, resolve_precision
from fer.io.figures import save_figure
from fer.io.outputs import make_folder, write_whole
from fer.models.modelfile import (
    LoadedModel,
    ModelFileError,
    check_class_names,
    check_ensemble_weights,
    load_models,
)
from fer.training.data import load_fer2013, stratified_subset
from fer.training.probs_cache import entry_path, probs_key, read_entry, write_entry

SPLIT_NAMES = {"public": "PublicTest", "private": "PrivateTest"}


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, balanced accuracy, kappa, Hamming loss, one-vs-rest AUC,
    confusion matrices (counts and row-normalised) and per-class scores."""
    labels = np.arange(len(class_names))
    y_pred = probs.argmax(1)
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    onehot = np.eye(len(class_names), dtype=int)[y_true]
    auc = [skm.roc_auc_score(onehot[:, k], probs[:, k]) if 0 < onehot[:, k].sum() < len(y_true) else float("nan")
           for k in labels]
    return {
        "n": int(len(y_true)),
        "class_names": list(class_names),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "kappa": float(skm.cohen_kappa_score(y_true, y_pred, labels=labels)),
        "hamming_loss": float(skm.hamming_loss(y_true, y_pred)),
        "auc_macro": float(np.nanmean(auc)),
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": (cm / np.maximum(cm.sum(1, keepdims=True), 1)).round(4).tolist(),
        "per_class": {name: {"precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]),
                             "support": int(support[k]), "auc": float(auc[k])}
                      for k, name in enumerate(class_names)},
    }


def split_faces(data_path: str | os.PathLike, split: str, subset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces and labels of ``public`` or ``private`` (PublicTest / PrivateTest), or a
    fixed class-stratified sample of ``subset`` of them."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_NAMES)}")
    return stratified_subset(*load_fer2013(data_path).split(SPLIT_NAMES[split]), subset)


#: Faces per progress-bar step (a multiple of the classifier's own CPU batch, so the
#: batches, and the numbers, are those of one call).
PROGRESS_CHUNK = 512


def member_probs(members: Sequence[LoadedModel], faces: np.ndarray, tencrop: bool,
                 precision: str = "auto") -> list[np.ndarray]:
    """Each member's probabilities on ``faces``, computed once so ensemble weights can be
    searched without re-running the networks, and kept for the next command that asks
    (:mod:`fer.training.probs_cache`); a progress bar per member on stderr."""
    out = []
    for m in members:
        run_precision = resolve_precision(precision, torch.device("cpu"), m.meta.int8)
        desc = f"{m.path.name} {'ten-crop' if tencrop else 'centre crop'}"
        key = probs_key(m, faces, tencrop, run_precision)
        probs = read_entry(key, (len(faces), len(m.meta.class_names)))
        if probs is not None:
            tqdm.write(f"{desc}: computed before, read from {entry_path(key)}", file=sys.stderr)
            out.append(probs)
            continue
        clf = Classifier([m], tencrop=tencrop, precision=run_precision)
        with tqdm(total=len(faces), desc=desc, unit="face", leave=False) as bar:
            chunks = []
            for i in range(0, len(faces), PROGRESS_CHUNK):
                chunks.append(clf.predict_proba(faces[i:i + PROGRESS_CHUNK]))
                bar.update(len(chunks[-1]))
        out.append(np.concatenate(chunks) if chunks else clf.predict_proba(faces))
        write_entry(key, out[-1])
    return out


def evaluate(weights: Sequence[str | os.PathLike], data: str | os.PathLike, split: str,
             tencrop: bool = False, ensemble_weights: Sequence[float] | None = None,
             subset: int = 0, precision: str = "auto") -> dict[str, Any]:
    """Evaluate one model file, or a weighted ensemble of several, on one split.

    ``precision="auto"`` runs the networks as the live path does
    (:func:`fer.engine.classify.resolve_precision`; :func:`precision_agreement` checks
    bfloat16's cost in accuracy); the result records which precision ran.

    >>> evaluate(["weights/vgg10.pt"], "fer2013.tar.gz", "private", tencrop=True)["accuracy"]  # doctest: +SKIP
    """
    members = [m for w in weights for m in load_models(w)]
    check_class_names(members, "the models given")
    if ensemble_weights is not None:
        if len(ensemble_weights) != len(members):
            raise ModelFileError(f"--ensemble-weights: {len(ensemble_weights)} weights for {len(members)} models "
                                 "(one per model, in order)")
        check_ensemble_weights(list(ensemble_weights), "--ensemble-weights")
        for m, w in zip(members, ensemble_weights):
            m.weight = float(w)
    faces, labels = split_faces(data, split, subset)
    # Resolved once for all: ``auto`` picks int8 only where every member carries it, as live.
    precision = resolve_precision(precision, torch.device("cpu"), all(m.meta.int8 for m in members))
    total = sum(m.weight for m in members)
    weights_used = [m.weight / total for m in members]
    probs = np.tensordot(weights_used, np.stack(member_probs(members, faces, tencrop, precision)), axes=1)
    result = {"split": split, "tencrop": tencrop, "weights": [str(w) for w in weights],
              "ensemble_weights": weights_used if len(members) > 1 else None, "precision": precision}
    return result | compute_metrics(labels, probs, members[0].meta.class_names)


def precision_agreement(weights: str | os.PathLike, data: str | os.PathLike, subset: int = 1000,
                        precisions: Sequence[str] = ("float32", "bfloat16")) -> dict[str, float]:
    """PublicTest accuracy of a model in each of ``precisions`` on the same stratified
    sample: the check that evaluating in bfloat16 does not move the published figures
    (``fer metrics`` refuses a difference above 0.2 points)."""
    faces, labels = split_faces(data, "public", subset)
    # Fresh members for each precision: a Classifier casts its members' networks in place,
    # and float32 after bfloat16 would otherwise run on bfloat16-rounded weights.
    return {p: float((Classifier(load_models(weights), precision=p).predict_proba(faces).argmax(1) == labels).mean())
            for p in precisions}


def format_report(result: dict[str, Any]) -> str:
    """The human-readable summary ``fer evaluate`` prints."""
    head = (f"{SPLIT_NAMES[result['split']]} (n={result['n']}, {'ten-crop' if result['tencrop'] else 'centre crop'}): "
            f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
            f"balanced acc {result['balanced_accuracy']:.4f}  kappa {result['kappa']:.4f}  "
            f"Hamming loss {result['hamming_loss']:.4f}  AUC {result['auc_macro']:.4f}")
    rows = [f"{'class':<10}{'precision':>10}{'recall':>8}{'f1':>8}{'auc':>8}{'support':>9}"]
    rows += [f"{name:<10}{s['precision']:>10.3f}{s['recall']:>8.3f}{s['f1']:>8.3f}{s['auc']:>8.3f}{s['support']:>9}"
             for name, s in result["per_class"].items()]
    names = [n[:7] for n in result["class_names"]]
    cm = ["confusion matrix (rows = true class, columns = predicted)", " " * 9 + "".join(f"{n:>8}" for n in names)]
    cm += [f"{n:<9}" + "".join(f"{v:>8}" for v in row) for n, row in zip(names, result["confusion_matrix"])]
    return "\n".join([head, *rows, *cm])


def confusion_plot_paths(out_dir: str | os.PathLike, split: str, tencrop: bool, prefix: str = "") -> list[Path]:
    """The files :func:`plot_confusion_matrices` writes: counts, then row-normalised."""
    tag = f"{prefix}{split}{'_tencrop' if tencrop else ''}"
    return [Path(out_dir) / f"confusion_{tag}_{kind}.png" for kind in ("counts", "normalized")]


def plot_confusion_matrices(result: dict[str, Any], out_dir: str | os.PathLike, prefix: str = "") -> list[Path]:
    """Heatmaps of the confusion matrix in counts and row-normalised, as PNG files."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = confusion_plot_paths(out_dir, result["split"], result["tencrop"], prefix)
    for path, key, fmt, title in zip(paths, ("confusion_matrix", "confusion_matrix_normalized"), ("d", ".2f"),
                                     ("counts", "row-normalised")):
        fig, ax = plt.subplots(figsize=(6, 5))
        skm.ConfusionMatrixDisplay(np.array(result[key]), display_labels=result["class_names"]).plot(
            ax=ax, cmap="Blues", values_format=fmt, colorbar=False, xticks_rotation=45)
        ax.set_title(f"{SPLIT_NAMES[result['split']]} confusion matrix ({title}), accuracy {result['accuracy']:.3f}")
        fig.tight_layout()
        save_figure(fig, path)
    return paths


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON atomically: a reader never sees half a metrics file."""
    path = Path(path)
    make_folder(path.parent)
    return write_whole(path, json.dumps(obj, indent=2) + "\n")
