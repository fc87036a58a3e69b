"""Data the app tests generate (metrics files, face frames) and the check of the Video
page's zip. Shared by the fixtures in conftest.py, the AppTest and the browser tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def metrics_card(model: str, seed: int = 0) -> dict:
    """A metrics file as ``fer metrics`` writes it, from made-up predictions (computed by
    the same function, so the schema cannot drift)."""
    from fer.classes import CLASS_NAMES
    from fer.training.evaluate import compute_metrics

    rng = np.random.default_rng(seed)
    evaluations = []
    for split in ("public", "private"):
        for tencrop in (False, True):
            y = rng.integers(0, len(CLASS_NAMES), 300)
            logits = rng.normal(size=(300, len(CLASS_NAMES)))
            logits[np.arange(300), y] += 2.0 + tencrop  # better than chance, ten-crop a bit better
            probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            evaluations.append({"split": split, "tencrop": tencrop, "weights": [model]}
                               | compute_metrics(y, probs, CLASS_NAMES))
    training = {"config": {"model": "vgg10"}, "epochs_done": 3, "best_epoch": 2, "best_public_acc": 0.51,
                "minutes": 4.2, "command": "fer train --epochs 3"}
    return {"model": model, "training": training, "evaluations": evaluations}


def face_frames(face_rgb: np.ndarray, n: int, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    """``n`` RGB frames of ``size`` with the face drifting a few pixels, as a webcam sees it."""
    import cv2

    w, h = size
    face = cv2.resize(face_rgb, (h, h), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        frame = np.full((h, w, 3), 40, np.uint8)
        x = (w - h) // 2 + int(8 * np.sin(2 * np.pi * i / max(n, 1)))
        frame[:, x:x + h] = face
        frames.append(frame)
    return frames


def check_batch_zip(archive, frames: dict[str, int], folder: Path) -> None:
    """Check the Video page's zip (a ``zipfile.ZipFile``, extracted into ``folder``): for
    each source name in ``frames``, an annotated mp4 that decodes to that many frames and
    its per-frame log; and a combined log with a ``source`` column (the columns of
    ``fer annotate --log``) whose rows are the per-file logs' rows."""
    import av

    from fer.io.facelog import log_columns, read_log_csv

    stems = [Path(name).stem for name in frames]
    assert sorted(archive.namelist()) == sorted([*(f"{s}-fer.mp4" for s in stems), *(f"{s}-fer.csv" for s in stems),
                                                 "fer-log.csv"])
    archive.extractall(folder)
    assert list(pd.read_csv(folder / "fer-log.csv", comment="#").columns) == log_columns(with_source=True)
    combined = list(read_log_csv(folder / "fer-log.csv"))
    assert {row["source"] for row in combined} == set(frames)
    for (name, count), stem in zip(frames.items(), stems):
        with av.open(str(folder / f"{stem}-fer.mp4")) as video:
            assert sum(1 for _ in video.decode(video=0)) == count, name
        own = list(read_log_csv(folder / f"{stem}-fer.csv"))
        assert own, f"no face logged in {name}"
        assert [{k: v for k, v in row.items() if k != "source"} for row in combined if row["source"] == name] == own


def download(app, managers: list, label: str) -> bytes:
    """What clicking the download button whose label starts with ``label`` serves, made
    when clicked (deferred) or with the page; ``managers``: the ``media_managers`` fixture."""
    button = next(b for b in app.get("download_button") if b.label.startswith(label))
    manager = managers[-1]
    url = manager.execute_deferred(button.proto.deferred_file_id) if button.proto.deferred_file_id else button.proto.url
    return manager.read_file(url.rsplit("/", 1)[1]).content
