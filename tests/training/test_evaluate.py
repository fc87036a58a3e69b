import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from fer.classes import CLASS_NAMES
from fer.cli import main
from fer.training.evaluate import (
    compute_metrics,
    evaluate,
    format_report,
    member_probs,
    plot_confusion_matrices,
    split_faces,
)


def _probs(y_pred, k=7, confidence=0.7):
    p = np.full((len(y_pred), k), (1 - confidence) / (k - 1))
    p[np.arange(len(y_pred)), y_pred] = confidence
    return p


def test_metrics_match_hand_counts_and_sklearn():
    y_true = np.array([0, 0, 1, 2, 3, 3, 3, 4, 5, 6])
    y_pred = np.array([0, 2, 1, 2, 3, 3, 6, 4, 5, 6])
    m = compute_metrics(y_true, _probs(y_pred), CLASS_NAMES)
    assert m["accuracy"] == 0.8 and m["hamming_loss"] == pytest.approx(0.2)
    assert m["confusion_matrix"][0] == [1, 0, 1, 0, 0, 0, 0]
    assert m["confusion_matrix"][3][6] == 1 and np.sum(m["confusion_matrix"]) == 10
    assert m["confusion_matrix_normalized"][3][3] == pytest.approx(2 / 3, abs=1e-4)
    assert m["per_class"]["happy"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["fear"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["happy"]["support"] == 3
    assert m["kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["balanced_accuracy"] == pytest.approx(np.mean([0.5, 1, 1, 2 / 3, 1, 1, 1]))


def test_auc_is_one_for_perfect_ranking_and_half_for_constant():
    y = np.arange(70) % 7
    assert compute_metrics(y, _probs(y), CLASS_NAMES)["auc_macro"] == pytest.approx(1.0)
    assert compute_metrics(y, np.full((70, 7), 1 / 7), CLASS_NAMES)["auc_macro"] == pytest.approx(0.5)


def test_evaluate_one_model_and_ensemble(tiny_model_file, small_fer2013, tmp_path):
    single = evaluate([tiny_model_file], small_fer2013, "public")
    assert single["n"] == 70 and single["split"] == "public" and not single["tencrop"]
    assert set(single["per_class"]) == set(CLASS_NAMES)
    # An ensemble of the same model twice, any weights, is that model.
    pair = evaluate([tiny_model_file, tiny_model_file], small_fer2013, "public", ensemble_weights=[3, 1])
    assert pair["ensemble_weights"] == [0.75, 0.25]
    assert pair["confusion_matrix"] == single["confusion_matrix"]
    assert "accuracy" in format_report(single)
    files = plot_confusion_matrices(single, tmp_path)
    assert [f.name for f in files] == ["confusion_public_counts.png", "confusion_public_normalized.png"]


def test_member_probs_are_distributions(tiny_model_file):
    from fer.models.modelfile import load_models

    faces = np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    for tencrop in (False, True):
        (p,) = member_probs(load_models(tiny_model_file), faces, tencrop)
        assert p.shape == (6, 7) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_member_probs_show_progress_and_match_one_call(tiny_model_file, capsys):
    from fer.engine.classify import Classifier
    from fer.models.modelfile import load_models
    from fer.training.evaluate import PROGRESS_CHUNK

    faces = np.random.default_rng(0).integers(0, 256, (PROGRESS_CHUNK + 40, 48, 48), dtype=np.uint8)
    (p,) = member_probs(load_models(tiny_model_file), faces, False, precision="float32")
    assert f"{PROGRESS_CHUNK}/{len(faces)}" in capsys.readouterr().err  # the bar, on stderr
    assert np.array_equal(p, Classifier(load_models(tiny_model_file), precision="float32").predict_proba(faces))


def test_evaluate_cli_writes_json(tiny_model_file, small_fer2013, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["evaluate", "--data", str(small_fer2013), "--weights", str(tiny_model_file),
                 "--split", "private", "--tencrop", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for key in ("split", "n", "accuracy", "macro_f1", "kappa", "hamming_loss", "auc_macro",
                "confusion_matrix", "per_class", "tencrop", "weights"):
        assert key in result
    assert result["split"] == "private" and result["tencrop"] is True and result["n"] == 70
    assert "PrivateTest" in capsys.readouterr().out


def test_evaluate_cli_bad_weights_is_one_line(tmp_path, fer2013_path, capsys):
    assert main(["evaluate", "--data", str(fer2013_path), "--weights", str(tmp_path / "nope.pt"),
                 "--split", "public"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1


def test_splits_are_whole_and_their_names_checked(fer2013_path):
    assert [len(split_faces(fer2013_path, s)[1]) for s in ("public", "private")] == [3589, 3589]
    with pytest.raises(ValueError, match="public, private"):
        split_faces(fer2013_path, "test")


def test_metrics_cli_writes_card_and_readme_table(tiny_model_file, small_fer2013, tmp_path):
    from fer.training.report import README_END, README_START

    weights = tmp_path / "weights" / "tiny.pt"
    weights.parent.mkdir()
    weights.write_bytes(tiny_model_file.read_bytes())
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\nstale\n{README_END}\nrest\n")
    assert main(["metrics", "--data", str(small_fer2013), str(weights), "--readme", str(readme)]) == 0
    card = json.loads((tmp_path / "weights" / "tiny.json").read_text())
    assert [(e["split"], e["tencrop"]) for e in card["evaluations"]] == [
        ("public", False), ("public", True), ("private", False), ("private", True)]
    text = readme.read_text()
    precision = card["evaluations"][0]["precision"]  # float32, or bfloat16 where the CPU computes it natively
    assert "stale" not in text and f"| `tiny.pt` | {precision} |" in text and text.endswith("rest\n")
    private_tencrop = card["evaluations"][3]["accuracy"]
    assert f"{private_tencrop:.4f}" in text


def test_training_of_a_second_schedule_is_reported_with_its_first():
    from fer.app.metrics import training_summary
    from fer.training.report import accuracy_table

    first = {"epochs_done": 40, "minutes": 102.4, "best_epoch": 39, "best_public_acc": 0.66, "init": None}
    second = {"epochs_done": 30, "minutes": 105.0, "best_epoch": 28, "best_public_acc": 0.68, "init": first}
    evaluations = [{"split": s, "tencrop": t, "accuracy": 0.7, "macro_f1": 0.69}
                   for s in ("public", "private") for t in (False, True)]
    table = accuracy_table([{"model": "m.pt", "training": second, "evaluations": evaluations}])
    assert table.endswith("| 40 + 30 epochs, 102 + 105 min |")
    assert training_summary({"training": second}).startswith("started from a model trained for 40 epochs (102 min)")


def test_an_ensembles_row_says_at_which_zooms_it_looks_at_faces():
    from fer.app.metrics import training_summary
    from fer.training.report import accuracy_table

    evaluations = [{"split": s, "tencrop": t, "accuracy": 0.7, "macro_f1": 0.69}
                   for s in ("public", "private") for t in (False, True)]
    members = [{"file": f"{n}.pt", "weight": 0.5, "zooms": [0.9, 1.0, 1.1]} for n in "ab"]
    table = accuracy_table([{"model": "e.ens.json", "evaluations": evaluations, "members": members},
                            {"model": "old.ens.json", "evaluations": evaluations, "members": [{"file": "a.pt"}] * 2}])
    assert table.splitlines()[-2].endswith("| ensemble of 2, each face at zooms 0.9, 1, 1.1 |")
    assert table.splitlines()[-1].endswith("| ensemble of 2 |")  # a metrics file from before zooms
    assert training_summary({"members": members}) == "Ensemble of 2 models, each face at zooms 0.9, 1, 1.1."


def test_metrics_page_shows_the_int8_variant_beside_float32():
    from fer.app.metrics import accuracy_table

    def evaluations(accuracy, precision):
        return [{"split": s, "tencrop": t, "n": 10, "accuracy": accuracy, "balanced_accuracy": 0.5, "macro_f1": 0.5,
                 "kappa": 0.5, "hamming_loss": 0.5, "auc_macro": 0.5, "precision": precision}
                for s in ("public", "private") for t in (False, True)]

    card = {"evaluations": evaluations(0.7, "float32"), "int8_evaluations": evaluations(0.69, "int8")}
    table = accuracy_table({"m.pt": card})
    assert list(table.index) == ["m.pt", "m.pt (int8)"]
    assert table.loc["m.pt (int8)", "PrivateTest, ten-crop"] == 0.69
    assert table.loc["m.pt", "PublicTest, centre crop"] == 0.7
