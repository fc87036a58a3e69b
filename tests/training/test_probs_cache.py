"""Probabilities a command computed are read back by the next one, under the same key only."""

import logging
import shutil
from dataclasses import replace

import numpy as np
import pytest

from fer.models.modelfile import load_models
from fer.training import evaluate as evaluate_module
from fer.training import probs_cache
from fer.training.evaluate import evaluate, split_faces
from fer.training.probs_cache import entry_path, probs_key, read_entry


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(probs_cache, "cache_folder", lambda: tmp_path / "probs")
    return tmp_path / "probs"


class _NoNetwork:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a network ran for probabilities that were computed before")


def test_the_next_evaluation_reads_what_one_computed(cache, small_fer2013, tiny_model_file, monkeypatch, capsys):
    first = evaluate([tiny_model_file, tiny_model_file], small_fer2013, "public", tencrop=True,
                     ensemble_weights=[3, 1], precision="float32")
    assert len(list(cache.glob("*.npy"))) == 1  # the same file twice is one entry
    monkeypatch.setattr(evaluate_module, "Classifier", _NoNetwork)
    again = evaluate([tiny_model_file], small_fer2013, "public", tencrop=True, precision="float32")
    assert again["accuracy"] == first["accuracy"] and again["confusion_matrix"] == first["confusion_matrix"]
    assert first["ensemble_weights"] == [0.75, 0.25] and again["ensemble_weights"] is None
    assert "tiny.pt ten-crop: computed before, read from" in capsys.readouterr().err
    with pytest.raises(AssertionError, match="a network ran"):  # the centre crop was never computed
        evaluate([tiny_model_file], small_fer2013, "public", tencrop=False, precision="float32")


def test_every_input_that_decides_the_numbers_is_in_the_key(small_fer2013, tiny_model_file, tmp_path):
    member = load_models(tiny_model_file)[0]
    faces, _ = split_faces(small_fer2013, "public")
    key = probs_key(member, faces, True, "float32")
    assert probs_key(member, faces.copy(), True, "float32") == key
    copy = tmp_path / "tiny.pt"
    shutil.copy(tiny_model_file, copy)
    with copy.open("ab") as f:
        f.write(b"\0")  # any change to the file: retrained, re-quantised, restored
    changed = [probs_key(member, faces[:-1], True, "float32"), probs_key(member, 255 - faces, True, "float32"),
               probs_key(member, faces, False, "float32"), probs_key(member, faces, True, "bfloat16"),
               probs_key(replace(member, zooms=(0.9, 1.0)), faces, True, "float32"),
               probs_key(replace(member, path=copy), faces, True, "float32")]
    assert key not in changed and len(set(changed)) == len(changed)


def test_a_torn_entry_is_removed_and_computed_again(cache, small_fer2013, tiny_model_file):
    first = evaluate([tiny_model_file], small_fer2013, "private", precision="float32")
    (entry,) = cache.glob("*.npy")
    entry.write_bytes(entry.read_bytes()[:100])
    assert read_entry(entry.stem, (70, 7)) is None and not entry.exists()
    assert evaluate([tiny_model_file], small_fer2013, "private", precision="float32") == first
    assert read_entry(entry.stem, (70, 7)) is not None and entry_path(entry.stem) == entry


def test_a_cache_that_cannot_be_written_costs_time_not_the_results(tmp_path, monkeypatch, caplog, small_fer2013,
                                                                   tiny_model_file):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("FER_CACHE_DIR", str(blocked))  # the decoded data's cache
    monkeypatch.setattr(probs_cache, "cache_folder", lambda: blocked / "probs")
    with caplog.at_level(logging.WARNING):
        result = evaluate([tiny_model_file], small_fer2013, "private", precision="float32")
    assert result["n"] == 70 and np.isfinite(result["accuracy"])
    assert "probabilities not kept for reuse" in caplog.text and "decoded data not kept for reuse" in caplog.text
    assert list(tmp_path.iterdir()) == [blocked]  # nothing half-written left behind
