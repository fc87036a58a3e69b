"""Fixtures of the app tests: a models folder the app is pointed at, real face images, a
short generated face video."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def metrics_card(model: str, seed: int = 0) -> dict:
    """A metrics file as ``fer metrics`` writes it, from made-up predictions (computed by
    the same function, so the schema cannot drift)."""
    from fer.classes import CLASS_NAMES
    from fer.evaluate import compute_metrics

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


@pytest.fixture(scope="session")
def models_folder(tmp_path_factory, tiny_model_file) -> Path:
    """A folder like ``weights/``: two small models, and a metrics file for one of them."""
    folder = tmp_path_factory.mktemp("weights")
    shutil.copy(tiny_model_file, folder / "vgg10.pt")
    shutil.copy(tiny_model_file, folder / "other.pt")
    (folder / "vgg10.json").write_text(json.dumps(metrics_card("vgg10.pt")))
    return folder


@pytest.fixture
def app_env(monkeypatch, models_folder) -> Path:
    """Point the app at the small models (as ``FER_WEIGHTS`` does for a deployment)."""
    monkeypatch.setenv("FER_WEIGHTS", str(models_folder / "vgg10.pt"))
    return models_folder


@pytest.fixture(scope="session")
def face_rgb() -> np.ndarray:
    """A real face: scikit-image's astronaut (public-domain NASA portrait), 512x512 RGB."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def face_jpg(face_rgb) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(face_rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


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


@pytest.fixture(scope="session")
def face_mp4(tmp_path_factory, face_rgb) -> Path:
    """A 2-second 640x480 15 fps H.264 clip of the face (30 frames)."""
    import av

    path = tmp_path_factory.mktemp("video") / "face.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for frame in face_frames(face_rgb, 30):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
