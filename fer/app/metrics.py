"""Tables and charts for the Metrics page, read from the metrics files ``fer metrics`` writes.

A metrics file (``weights/<model>.json``) holds a model's training summary and a list of
evaluations, one per test split and crop. Everything here is a pure function of those
files, so the page stays a thin layout and the tables can be tested without Streamlit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from fer.models.metrics_files import is_number, zooms_note
from fer.models.modelfile import training_stages

SPLITS = {"public": "PublicTest", "private": "PrivateTest"}
SCORES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1",
          "kappa": "Cohen's kappa", "hamming_loss": "Hamming loss", "auc_macro": "AUC (macro)"}
#: The scores the class-imbalance table compares, per test split.
IMBALANCE_SCORES = ("accuracy", "macro_f1", "balanced_accuracy")

Card = dict[str, Any]
Evaluation = dict[str, Any]


class ImbalanceFileError(ValueError):
    """The class-imbalance study's file is there but damaged: the page says so and shows the rest."""


def load_imbalance(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The runs of the class-imbalance study (``docs/imbalance.json``), or [] when absent.
    Raises :class:`ImbalanceFileError` for a file that is unreadable or whose runs are not
    what :func:`imbalance_table` reads."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ImbalanceFileError(f"{path} is not a readable JSON file") from None
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list):
        raise ImbalanceFileError(f"{path} has no list of runs")
    bad = next((i for i, run in enumerate(runs) if not _is_imbalance_run(run)), None)
    if bad is not None:
        raise ImbalanceFileError(f"{path}: run {bad + 1} is not a run of the study "
                                 "(a name, a description and its scores per test split)")
    return runs


def _is_imbalance_run(run: Any) -> bool:
    """Whether ``run`` holds what :func:`imbalance_table` shows, each field of the type its
    column takes (a run may lack any of them)."""
    def scores(e: Any) -> bool:
        return e is None or (isinstance(e, dict) and all(e.get(key) is None or is_number(e.get(key))
                                                         for key in IMBALANCE_SCORES))

    return (isinstance(run, dict) and all(isinstance(run.get(key, ""), str) for key in ("name", "description"))
            and all(scores(run.get(split)) for split in SPLITS))


def crop_name(tencrop: bool) -> str:
    return "ten-crop" if tencrop else "centre crop"


def evaluation_name(e: Evaluation) -> str:
    """'PrivateTest, ten-crop'."""
    return f"{SPLITS.get(e['split'], e['split'])}, {crop_name(e['tencrop'])}"


def model_evaluations(model: str, card: Card) -> list[tuple[str, Evaluation]]:
    """A card's evaluations named by model: the reference figures under the model's name,
    its int8 variant's (what the live path runs on CPUs without native bfloat16) as
    'model (int8)'."""
    return ([(model, e) for e in card["evaluations"]]
            + [(f"{model} (int8)", e) for e in card.get("int8_evaluations", [])])


def scores_table(cards: dict[str, Card]) -> pd.DataFrame:
    """One row per model (and int8 variant), split and crop; one column per summary score."""
    rows = [{"model": name, "split": SPLITS.get(e["split"], e["split"]), "crop": crop_name(e["tencrop"]),
             "n": e["n"], **{label: e[key] for key, label in SCORES.items()}}
            for model, card in cards.items() for name, e in model_evaluations(model, card)]
    return pd.DataFrame(rows, columns=["model", "split", "crop", "n", *SCORES.values()])


def accuracy_table(cards: dict[str, Card]) -> pd.DataFrame:
    """Accuracy per model (rows, in the order of ``cards``) and split x crop (columns): the
    table quoted in the README."""
    scores = scores_table(cards)
    if scores.empty:
        return scores
    scores["test"] = scores["split"] + ", " + scores["crop"]
    table = scores.pivot_table(index="model", columns="test", values="accuracy", aggfunc="first")
    order = [f"{s}, {crop_name(t)}" for s in SPLITS.values() for t in (False, True)]
    return table.reindex(index=scores["model"].unique(), columns=[c for c in order if c in table.columns])


def per_class_table(e: Evaluation) -> pd.DataFrame:
    """Precision, recall, F1, AUC and support per class, in the model's class order."""
    table = pd.DataFrame.from_dict(e["per_class"], orient="index")
    table = table.reindex(index=e["class_names"])
    table.index.name = "class"
    return table[["precision", "recall", "f1", "auc", "support"]]


def confusion_heatmap(e: Evaluation, normalized: bool) -> alt.Chart:
    """Heatmap of the confusion matrix (rows = true class), each cell labelled with its value."""
    names = e["class_names"]
    matrix = e["confusion_matrix_normalized" if normalized else "confusion_matrix"]
    cells = pd.DataFrame([{"true": names[i], "predicted": names[j], "value": v}
                          for i, row in enumerate(matrix) for j, v in enumerate(row)])
    fmt = ".2f" if normalized else "d"
    peak = cells["value"].max() or 1
    base = alt.Chart(cells).encode(
        x=alt.X("predicted:N", sort=names, title="predicted"),
        y=alt.Y("true:N", sort=names, title="true class"))
    heat = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=alt.Scale(scheme="greens"), legend=None),
        tooltip=["true", "predicted", alt.Tooltip("value:Q", format=fmt)])
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("value:Q", format=fmt),
        color=alt.condition(alt.datum.value > peak / 2, alt.value("white"), alt.value("#1f2933")))
    title = f"{evaluation_name(e)}: {'row-normalised' if normalized else 'counts'}"
    return (heat + text).properties(title=title, height=320)


def imbalance_table(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per training variant: what it changes, and its scores on both test splits."""
    rows = []
    for run in runs:
        row = {"run": run.get("name", "?"), "what it changes": run.get("description", "")}
        for split in SPLITS:
            e = run.get(split)
            if isinstance(e, dict):
                for key in IMBALANCE_SCORES:
                    row[f"{SPLITS[split]} {SCORES[key]}"] = e.get(key)
        rows.append(row)
    return pd.DataFrame(rows)


def training_summary(card: Card) -> str:
    """One line on how a model was trained, or '' when the file does not say."""
    t = card.get("training") or {}
    if not t:
        members = card.get("members") or []
        return f"Ensemble of {len(members)} models{zooms_note(members[0])}." if len(members) > 1 else ""
    parts = []
    earlier = training_stages(t)[:-1]
    if earlier:
        parts.append("started from a model trained for "
                     + " + ".join(f"{e['epochs_done']} epochs ({e['minutes']:.0f} min)" for e in earlier))
    if "epochs_done" in t:
        parts.append(f"{t['epochs_done']} epochs")
    if "best_epoch" in t:
        parts.append(f"best epoch {t['best_epoch']} (chosen on PublicTest"
                     + (f", {t['best_public_acc']:.4f})" if "best_public_acc" in t else ")"))
    if "minutes" in t:
        parts.append(f"{t['minutes']:.0f} min of training")
    return ", ".join(parts) + "." if parts else ""
