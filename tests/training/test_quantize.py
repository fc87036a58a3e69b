"""``fer quantize``: an int8 variant made from Training faces, checked on PublicTest,
written beside the float network without touching it."""

import json

import numpy as np
import pytest
import torch
from commands import refused

from fer.cli import main
from fer.models import create_model
from fer.models.modelfile import FORMAT_VERSION, load_int8, load_models, save_ensemble
from fer.training import quantize
from fer.training.quantize import calibration_views, float_layers


def test_int8_variant_carries_how_it_was_made_and_leaves_the_float_weights_alone(tiny_model_file,
                                                                                 tiny_int8_model_file):
    (plain,), (quantised,) = load_models(tiny_model_file), load_models(tiny_int8_model_file)
    info = quantised.meta.int8
    assert quantised.meta.format_version == FORMAT_VERSION == 3 and plain.meta.int8 is None
    assert info["engine"] == "x86" and "quantize_fx" in info["method"]
    assert "features.0.0 and classifier in float" in info["method"]
    assert info["calibration"]["split"] == "Training" and info["calibration"]["faces"] == 14
    check = info["public_test"]
    assert check["split"] == "PublicTest" and check["faces"] == 3589
    assert 0 <= check["accuracy_int8"] <= 1 and 0 <= check["same_label"] <= 1
    before, after = plain.module.state_dict(), quantised.module.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not list(tiny_int8_model_file.parent.glob("*.partial"))
    int8 = load_int8(quantised)
    assert any(p.is_quantized for p in int8.state_dict().values() if isinstance(p, torch.Tensor)) or \
        "quantized::" in str(int8.graph)


def test_calibration_sees_the_centre_crop_and_the_ten_crop_views():
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    views = calibration_views(faces, 40, 0.5, 0.25)
    assert views.shape == (33, 1, 40, 40)
    centre = torch.as_tensor(faces[:, 4:44, 4:44], dtype=torch.float32) / 255
    assert torch.allclose(views[:3, 0], (centre - 0.5) / 0.25)


def test_quantize_cli_never_overwrites_unasked_and_refuses_ensembles(tiny_model_file, tiny_int8_model_file,
                                                                     fer2013_path, tmp_path, capsys):
    taken = tmp_path / "taken.pt"
    taken.write_bytes(b"someone else's file")
    err = refused(capsys, "quantize", tiny_model_file, "--data", fer2013_path, "-o", taken)
    assert "exists" in err and "--overwrite" in err and taken.read_bytes() == b"someone else's file"
    ensemble = save_ensemble([(tiny_model_file, 1.0), (tiny_int8_model_file, 1.0)], tmp_path / "e.ens.json")
    err = refused(capsys, "quantize", ensemble, "--data", fer2013_path, "-o", tmp_path / "e8.pt")
    assert "ensemble" in err and not (tmp_path / "e8.pt").exists()


def _labels_scoring(data, correct: list[int]):
    """A stand-in for ``labels_on`` whose n-th call gets ``correct[n]`` PublicTest faces right."""
    from fer.training.evaluate import split_faces

    _, labels = split_faces(data, "public")
    calls = iter(correct)

    def labels_on(network, faces, meta):
        right = next(calls)
        return np.where(np.arange(len(labels)) < right, labels, (labels + 1) % 7)
    return labels_on


def test_quantize_cli_replaces_its_own_input_when_asked(tiny_model_file, small_fer2013, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.setattr(quantize, "labels_on", _labels_scoring(small_fer2013, [40, 40]))
    model = tmp_path / "m.pt"
    model.write_bytes(tiny_model_file.read_bytes())
    assert main(["quantize", str(model), "--data", str(small_fer2013), "-o", str(model), "--calibration", "70",
                 "--overwrite"]) == 0
    assert "PublicTest (n=70, centre crop): float32" in capsys.readouterr().out
    assert load_models(model)[0].meta.int8["calibration"]["faces"] == 70
    assert not list(tmp_path.glob("*.partial"))


def test_a_move_of_exactly_the_tolerance_is_let_through_and_one_face_more_is_not(tiny_model_file, small_fer2013,
                                                                                   tmp_path, monkeypatch):
    # 42 and 37 of 70 faces round to 0.6 and 0.5286: 0.0714 apart, though 0.6 - 0.5286 > 0.0714 in floats
    monkeypatch.setattr(quantize, "labels_on", _labels_scoring(small_fer2013, [42, 37, 42, 36]))
    kept, _ = quantize.quantize_file(tiny_model_file, small_fer2013, tmp_path / "kept.pt", calibration=70,
                                     tolerance=0.0714)
    assert load_models(kept)[0].meta.int8["public_test"]["accuracy_int8"] == 0.5286
    with pytest.raises(quantize.QuantizeError, match="nothing written"):
        quantize.quantize_file(tiny_model_file, small_fer2013, tmp_path / "refused.pt", calibration=70,
                               tolerance=0.0714)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.pt"]


def test_metrics_records_the_int8_figures_beside_float32(tiny_int8_model_file, fer2013_path, tmp_path, monkeypatch):
    from fer.training import evaluate
    from fer.training.report import README_END, README_START

    whole = evaluate.split_faces
    monkeypatch.setattr(evaluate, "split_faces", lambda data, split, subset=0: whole(data, split, 300))  # fast

    weights = tmp_path / "weights" / "tiny8.pt"
    weights.parent.mkdir()
    weights.write_bytes(tiny_int8_model_file.read_bytes())
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n")
    assert main(["metrics", "--data", str(fer2013_path), str(weights), "--readme", str(readme),
                 "--precision", "float32"]) == 0
    card = json.loads((tmp_path / "weights" / "tiny8.json").read_text())
    assert [e["precision"] for e in card["evaluations"]] == ["float32"] * 4
    assert [(e["split"], e["tencrop"], e["precision"]) for e in card["int8_evaluations"]] == [
        ("public", False, "int8"), ("public", True, "int8"), ("private", False, "int8"), ("private", True, "int8")]
    assert card["live_precision"]["other_cpu"] == "int8" and card["int8"]["calibration"]["split"] == "Training"
    text = readme.read_text()
    assert "| `tiny8.pt` | float32 |" in text and "| `tiny8.pt` | int8 |" in text
    assert f"{card['int8_evaluations'][3]['accuracy']:.4f}" in text.split("| int8 |")[1]


def test_the_first_convolution_and_the_logits_stay_in_float():
    assert float_layers(create_model("vgg10", width_mult=0.25)) == ["features.0.0", "classifier"]
    assert float_layers(create_model("resnet17", width_mult=0.25)) == ["stem.0", "classifier"]
