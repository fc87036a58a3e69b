"""Where a log's numbers come from, written once at the top of every log.

A study citing a log needs to say which code and model produced it, how, and from what:
the package version; the model file, its SHA-256 and its PrivateTest accuracy (from the
metrics file ``fer metrics`` writes beside it); the device and precision it ran in; every
setting; and each input's file, size, frame rate and frame count. No clock time is
recorded, so the same input and settings give the same log byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from fer import __version__
from fer.engine.classify import Classifier
from fer.engine.settings import Settings
from fer.models.modelfile import metrics_path


def provenance(classifier: Classifier, settings: Settings,
               inputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The provenance object of a log: ``fer_version``, ``model``, ``settings``, ``inputs``."""
    return {"fer_version": __version__, "model": model_provenance(classifier), "settings": settings.as_dict(),
            "inputs": list(inputs or [])}


def model_provenance(classifier: Classifier) -> dict[str, Any]:
    """The model (or ensemble) file, each member's file name, SHA-256, weight and zooms, the
    PrivateTest accuracy, and the device and precision the classifier ran in."""
    members = [{"file": m.path.name, "sha256": sha256_of(m.path), "weight": round(w, 6), "zooms": list(m.zooms),
                "arch": m.meta.arch} for m, w in zip(classifier.members, classifier.weights)]
    path = classifier.path or classifier.members[0].path
    return {"file": path.name, "sha256": sha256_of(path), "members": members,
            "private_test_accuracy": private_test_accuracy(path, classifier.precision),
            "device": str(classifier.device), "precision": classifier.precision}


def private_test_accuracy(model_file: Path, precision: str = "float32") -> dict[str, float] | None:
    """PrivateTest accuracy with the centre crop and with ten-crop, from the metrics file
    beside the model, of the int8 variant when ``precision`` is int8; None when there is
    none (a model not yet evaluated)."""
    try:
        card = json.loads(metrics_path(model_file).read_text())
        evaluations = card["int8_evaluations" if precision == "int8" else "evaluations"]
        found = {("ten_crop" if e["tencrop"] else "centre_crop"): round(float(e["accuracy"]), 4)
                 for e in evaluations if e["split"] == "private"}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found or None


def sha256_of(path: str | os.PathLike) -> str:
    path = Path(path).resolve()
    stat = path.stat()
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:  # size and mtime: a rewritten file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_input(path: str | os.PathLike | None, width: int, height: int) -> dict[str, Any]:
    """An input picture: its file and size (the boxes are in its pixels)."""
    return {"kind": "image", "path": None if path is None else str(path), "width": width, "height": height}


def video_input(path: str | os.PathLike, width: int, height: int, fps: float, frames: int, duration: float,
                codec: str) -> dict[str, Any]:
    """An input video: its file, upright frame size (the boxes are in these pixels),
    frame rate, frames decoded, duration in seconds and codec."""
    return {"kind": "video", "path": str(path), "width": width, "height": height, "fps": round(fps, 4),
            "frames": frames, "duration": round(duration, 4), "codec": codec}
