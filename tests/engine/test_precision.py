"""Which precision the classifier runs in, and the int8 variant at run time."""

import threading

import numpy as np
import pytest
import torch

from fer.cli import main
from fer.engine import classify
from fer.engine.classify import Classifier, DeviceError, resolve_precision
from fer.models.modelfile import ModelFileError, load_models
from fer.training.data import load_fer2013, stratified_subset

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture(scope="module")
def faces(fer2013_path) -> np.ndarray:
    return stratified_subset(*load_fer2013(fer2013_path).split("PublicTest"), 200)[0]


@pytest.mark.parametrize("native, amx, has_int8, expected", [
    (False, False, True, "int8"), (True, False, True, "int8"), (True, True, True, "bfloat16"),
    (False, False, False, "float32"), (True, False, False, "bfloat16"), (True, True, False, "bfloat16")])
def test_auto_picks_bfloat16_on_amx_else_int8_where_the_file_has_it_else_the_fastest_float(
        monkeypatch, tiny_model_file, tiny_int8_model_file, native, amx, has_int8, expected):
    monkeypatch.setattr(classify, "bfloat16_native", lambda: native)
    monkeypatch.setattr(classify, "amx_bfloat16", lambda: amx)
    clf = Classifier.from_file(tiny_int8_model_file if has_int8 else tiny_model_file, precision="auto")
    assert clf.precision == expected
    assert clf.dtype == (torch.bfloat16 if expected == "bfloat16" else torch.float32)


def test_a_float_reference_never_resolves_to_int8(monkeypatch):
    """The metrics' reference and the ensemble search ask without ``int8_available``."""
    monkeypatch.setattr(classify, "bfloat16_native", lambda: True)
    monkeypatch.setattr(classify, "amx_bfloat16", lambda: False)
    assert resolve_precision("auto", CPU) == "bfloat16"


def test_auto_needs_every_member_of_an_ensemble_to_carry_int8(monkeypatch, tiny_model_file, tiny_int8_model_file):
    monkeypatch.setattr(classify, "bfloat16_native", lambda: False)
    mixed = load_models(tiny_int8_model_file) + load_models(tiny_model_file)
    both = load_models(tiny_int8_model_file) + load_models(tiny_int8_model_file)
    assert Classifier(mixed, precision="auto").precision == "float32"
    assert Classifier(both, precision="auto").precision == "int8"


def test_auto_stays_in_float_on_cuda_and_int8_is_refused_there():
    assert resolve_precision("auto", CUDA, int8_available=True) == "float32"
    with pytest.raises(DeviceError, match="int8 runs on the CPU only"):
        resolve_precision("int8", CUDA, int8_available=True)
    with pytest.raises(ValueError, match="auto, float32, bfloat16, int8"):
        resolve_precision("int4", CPU)


def test_int8_on_a_file_without_a_variant_is_a_one_line_error(tiny_model_file, fer2013_path, capsys):
    with pytest.raises(ModelFileError, match="carries no int8 variant"):
        Classifier.from_file(tiny_model_file, precision="int8")
    assert main(["evaluate", "--data", str(fer2013_path), "--weights", str(tiny_model_file), "--split", "public",
                 "--precision", "int8"]) == 2
    err = capsys.readouterr().err
    assert "carries no int8 variant" in err and "fer quantize" in err and err.count("\n") == 1


def test_int8_follows_float32_on_real_faces(tiny_int8_model_file, faces):
    """Random weights put most faces near a tie between classes, the hardest case for
    int8; the shipped model's agreement is checked in tests/test_shipped_model.py."""
    p32 = Classifier.from_file(tiny_int8_model_file, precision="float32").predict_proba(faces)
    p8 = Classifier.from_file(tiny_int8_model_file, precision="int8").predict_proba(faces)
    assert np.abs(p32 - p8).max() < 0.05
    assert (p32.argmax(1) == p8.argmax(1)).mean() >= 0.8


def test_int8_classifier_gives_each_thread_what_it_gives_one(tiny_int8_model_file, faces):
    """Several streams (threads of the app's server, or of one Ray actor) share one
    classifier; the int8 variant must not mix their batches up."""
    clf = Classifier.from_file(tiny_int8_model_file, precision="int8")
    batches = [faces[i:i + 1 + i % 4] for i in range(0, 40, 5)]
    expected = [clf.predict_proba(b) for b in batches]
    results: dict[tuple[int, int], np.ndarray] = {}

    def work(worker: int) -> None:
        for _ in range(5):
            for k, batch in enumerate(batches):
                results[worker, k] = clf.predict_proba(batch)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(results[w, k], expected[k]) for w in range(4) for k in range(len(batches)))
