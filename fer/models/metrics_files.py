"""The metrics files shipped beside the models (``weights/<model>.json``,
``<ensemble>.metrics.json``): read, and checked once for every field the Metrics page and
the README's accuracy table read, so that one damaged or foreign file is named and
skipped instead of breaking either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from fer.models.modelfile import ENSEMBLE_FORMAT

#: The summary scores of every evaluation in a metrics file (:func:`fer.training.evaluate.compute_metrics`
#: writes them; the Metrics page shows them all).
SUMMARY_SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "kappa", "hamming_loss", "auc_macro")
#: The test splits and crops ``fer metrics`` evaluates, in order; the README table has a column for each.
EVALUATED = tuple((split, tencrop) for split in ("public", "private") for tencrop in (False, True))


class MetricsFileError(ValueError):
    """A metrics file that cannot be read, or lacks a field the Metrics page or the README
    table reads (written by another version of fer, or edited)."""


class MetricsFiles(NamedTuple):
    """The metrics files of a folder: the cards to show, and what is wrong with the rest."""

    cards: list[dict[str, Any]]
    problems: list[str]


def read_metrics_files(folder: str | os.PathLike, first: str | None = None) -> MetricsFiles:
    """Every metrics file in ``folder``, model ``first`` (a file name such as ``vgg10.pt``)
    at the head, then by model name, each checked by :func:`check_metrics_card`; ensemble
    files are passed over. Any other JSON file is one line in ``problems``, naming it and
    what is wrong: one damaged file must neither hide the good ones nor pass unnoticed."""
    cards, problems = [], []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            card = _read_metrics_file(path)
        except MetricsFileError as e:
            problems.append(f"{path}: {e}")
            continue
        if card is not None:
            cards.append(card)
    return MetricsFiles(sorted(cards, key=lambda c: (c["model"] != first, c["model"])), problems)


def _read_metrics_file(path: Path) -> dict[str, Any] | None:
    """A checked metrics card, with ``model`` defaulting to the file's name; None for an
    ensemble file (it shares the folder and the suffix)."""
    try:
        text = path.read_text()
        card = json.loads(text)
    except OSError as e:
        raise MetricsFileError(f"cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise MetricsFileError("not a text file") from None
    except json.JSONDecodeError:
        raise MetricsFileError("empty" if not text.strip() else "not valid JSON (truncated or damaged)") from None
    if not isinstance(card, dict):
        raise MetricsFileError(f"holds {_shown(card)}, not a metrics file's fields")
    if card.get("format") == ENSEMBLE_FORMAT:
        return None
    check_metrics_card(card)
    return card | {"model": card.get("model", path.name)}


def check_metrics_card(card: dict[str, Any]) -> None:
    """Raise :class:`MetricsFileError` naming the first field, of those the Metrics page and
    the README accuracy table read, that is missing or of the wrong type. Checked once where
    the files are read, so neither has to distrust a card."""
    if "evaluations" not in card:
        raise MetricsFileError("not a metrics file of this fer version (no 'evaluations')")
    if "model" in card:
        _field(card, "model", "a string")
    _check_evaluations(card, "evaluations", details=True)
    if "int8_evaluations" in card:
        _check_evaluations(card, "int8_evaluations", details=False)
    _check_training(card)


def _check_evaluations(card: dict[str, Any], key: str, details: bool) -> None:
    """The evaluations under ``key``: one per entry of :data:`EVALUATED` (the README table's
    columns), each with its summary scores and, with ``details``, what the page's
    details section draws (only the reference figures get one)."""
    evaluations = _field(card, key, "a list")
    if not evaluations:
        raise MetricsFileError(f"{key!r} is empty")
    for i, e in enumerate(evaluations):
        where = f"{key}[{i}]: "
        if not isinstance(e, dict):
            raise MetricsFileError(f"{where}{_shown(e)}, not an evaluation")
        _check_summary(e, where)
        if details:
            _check_details(e, where)
    missing = [f"{split} {'ten-crop' if tencrop else 'centre crop'}" for split, tencrop in EVALUATED
               if not any(e["split"] == split and e["tencrop"] == tencrop for e in evaluations)]
    if missing:
        raise MetricsFileError(f"{key!r} has no {', '.join(missing)} evaluation")


def _check_summary(e: dict[str, Any], where: str) -> None:
    """What the score tables read of an evaluation."""
    _field(e, "split", "a string", where)
    _field(e, "tencrop", "true or false", where)
    _field(e, "n", "a whole number", where)
    for key in SUMMARY_SCORES:
        _field(e, key, "a number", where)
    if "precision" in e:
        _field(e, "precision", "a string", where)


def _check_details(e: dict[str, Any], where: str) -> None:
    """What the page's details section reads of an evaluation: the per-class table and
    the confusion matrices, one row and column per class name."""
    names = _field(e, "class_names", "a list", where)
    if not names or not all(isinstance(n, str) for n in names):
        raise MetricsFileError(f"{where}'class_names' is not a list of class names")
    per_class = _field(e, "per_class", "an object", where)
    for name in names:
        scores = _field(per_class, name, "an object", f"{where}per_class: ")
        for key in ("precision", "recall", "f1", "auc"):
            _field(scores, key, "a number", f"{where}per_class[{name!r}]: ")
        _field(scores, "support", "a whole number", f"{where}per_class[{name!r}]: ")
    for key, kind in (("confusion_matrix", "a whole number"), ("confusion_matrix_normalized", "a number")):
        matrix = _field(e, key, "a list", where)
        if len(matrix) != len(names) or not all(isinstance(row, list) and len(row) == len(names)
                                                and all(_KINDS[kind](v) for v in row) for row in matrix):
            raise MetricsFileError(f"{where}{key!r} is not {len(names)} rows of {len(names)} "
                                   f"{'counts' if kind == 'a whole number' else 'numbers'}, one per class name")


def _check_training(card: dict[str, Any]) -> None:
    """The training summary the page's caption and the README's 'training' column read:
    each schedule's epochs and minutes, or, for an ensemble, its members."""
    training, where = card.get("training"), "training: "
    if not training:  # an ensemble's card: both say how many models it mixes
        if "members" not in card:
            raise MetricsFileError("no 'training' and no 'members': it does not say how the model was made")
        _field(card, "members", "a list")
    while training:  # a schedule started from another model carries that model's summary as 'init'
        if not isinstance(training, dict):
            raise MetricsFileError(f"{where}{_shown(training)}, not a training summary")
        _field(training, "epochs_done", "a whole number", where)
        _field(training, "minutes", "a number", where)
        if "best_public_acc" in training:
            _field(training, "best_public_acc", "a number", where)
        if training.get("kept_epoch") is not None:
            _field(training, "kept_epoch", "a whole number", where)
        training, where = training.get("init"), where + "init: "


def zooms_note(member: dict[str, Any]) -> str:
    """How an ensemble's members look at each face, where it is more than as is: '' for
    files written before ensembles had zooms (and for a damaged entry)."""
    zooms = member.get("zooms") if isinstance(member, dict) else None
    if not isinstance(zooms, list) or not zooms or not all(is_number(z) for z in zooms) or zooms == [1.0]:
        return ""
    return ", each face at zooms " + ", ".join(f"{z:g}" for z in zooms)


def is_number(value: Any) -> bool:
    """A JSON number (``true`` and ``false`` are not, though Python counts them as ints)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_KINDS = {"a string": lambda v: isinstance(v, str), "a list": lambda v: isinstance(v, list),
          "an object": lambda v: isinstance(v, dict), "true or false": lambda v: isinstance(v, bool),
          "a number": is_number, "a whole number": lambda v: is_number(v) and isinstance(v, int)}


def _field(obj: dict[str, Any], key: str, kind: str, where: str = "") -> Any:
    """``obj[key]``, which must be ``kind`` (a key of :data:`_KINDS`); ``where`` prefixes the
    error with the field's place in the file."""
    if key not in obj:
        raise MetricsFileError(f"{where}no {key!r}")
    if not _KINDS[kind](obj[key]):
        raise MetricsFileError(f"{where}{key!r} is {_shown(obj[key])}, not {kind}")
    return obj[key]


def _shown(value: Any) -> str:
    """A value as the file spells it, cut short."""
    text = json.dumps(value)
    return text if len(text) <= 30 else text[:27] + "..."
