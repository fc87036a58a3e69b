"""Shared fixtures: real FER2013 from ../shared and a small random-weight model file."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FER2013 = REPO.parent / "shared" / "data" / "fer2013.tar.gz"


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Every test's networks on one PyTorch thread, as the runtime runs them
    (:data:`fer.recognizer.THREADS`), whichever test comes first: the suite shares two
    cores with its own servers and browsers, and an OpenMP region on two threads stalls
    whenever one core is taken (a tiny model's ten-crop went from 0.3 s to 25 s)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def fresh_probabilities(tmp_path_factory):
    """Networks' probabilities kept for this session only: a test that evaluates runs the
    networks instead of reading what an earlier run of the suite computed."""
    from fer.training import probs_cache

    folder = tmp_path_factory.mktemp("probs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(probs_cache, "cache_folder", lambda: folder)
        yield


@pytest.fixture(scope="session")
def fer2013_path() -> Path:
    return FER2013


@pytest.fixture(scope="session")
def small_fer2013(tmp_path_factory, fer2013_path) -> Path:
    """Real FER2013 faces cut to 70 per split (class-stratified, so disgust, 1.5% of the
    faces, has one per split), in the CSV layout: for tests
    of commands that evaluate whole splits, where all 7,178 test faces take a minute."""
    from fer.training.data import load_fer2013, stratified_subset

    data = load_fer2013(fer2013_path)
    rows = ["emotion,pixels,Usage"]
    for usage in ("Training", "PublicTest", "PrivateTest"):
        faces, labels = stratified_subset(*data.split(usage), 70, seed=0)
        rows += [f"{label},{' '.join(map(str, face.ravel()))},{usage}" for face, label in zip(faces, labels)]
    path = tmp_path_factory.mktemp("data") / "fer2013.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """A quarter-width VGG10 with random weights: fast, and valid in every way but accuracy."""
    import torch

    from fer.models import create_model
    from fer.models.modelfile import ModelMeta, save_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    return save_model(create_model("vgg10", width_mult=0.25),
                      ModelMeta(arch="vgg10", arch_kwargs={"width_mult": 0.25}, mean=0.5, std=0.25), path)


@pytest.fixture(scope="session")
def tiny_recognizer(tiny_model_file):
    """An EmotionRecognizer on the tiny model (loaded once for the session)."""
    from fer.recognizer import EmotionRecognizer

    return EmotionRecognizer(tiny_model_file)


@pytest.fixture(scope="session")
def tiny_int8_model_file(tiny_model_file, tmp_path_factory) -> Path:
    """The tiny model with an int8 variant, calibrated on 14 Training faces (random weights
    make its PublicTest check meaningless, so any difference is let through)."""
    from fer.training.quantize import quantize_file

    path, _ = quantize_file(tiny_model_file, FER2013, tmp_path_factory.mktemp("int8") / "tiny8.pt", calibration=14,
                            tolerance=1.0)
    return path
