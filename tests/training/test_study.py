import json

import numpy as np
import pytest

from fer.classes import CLASS_NAMES
from fer.cli import main
from fer.training.ensemble import search_weights, simplex_grid
from fer.training.evaluate import evaluate
from fer.training.study import REMEDIES, render_report


def test_study_runs_every_remedy_end_to_end_and_report_regenerates(tmp_path, fer2013_path):
    out_json, out_md = tmp_path / "imbalance.json", tmp_path / "imbalance.md"
    assert main(["study", "--data", str(fer2013_path), "--width-mult", "0.25", "--epochs", "1", "--subset", "140",
                 "--out", str(tmp_path / "runs"), "--json", str(out_json), "--report", str(out_md)]) == 0
    study = json.loads(out_json.read_text())
    names = [r["name"] for r in study["runs"]]
    assert names[:5] == list(REMEDIES) and names[5].endswith("+mixup")
    for run in study["runs"]:
        assert run["public"]["n"] == 140 and run["private"]["n"] == 140
        assert run["config"]["width_mult"] == 0.25 and run["config"]["epochs"] == 1
    assert sum(study["train_counts"].values()) == 140 and list(study["train_counts"]) == list(CLASS_NAMES)
    # The report is a pure function of the JSON: re-rendering reproduces it byte for byte.
    assert render_report(study, out_json.name, "imbalance_confusion.png") == out_md.read_text()
    assert "| ce |" in out_md.read_text() and (tmp_path / "imbalance_confusion.png").stat().st_size > 0
    # Resumable: a second call trains nothing new and gives the same results.
    assert main(["study", "--data", str(fer2013_path), "--width-mult", "0.25", "--epochs", "1", "--subset", "140",
                 "--out", str(tmp_path / "runs"), "--json", str(out_json), "--report", str(out_md)]) == 0
    again = json.loads(out_json.read_text())
    assert [r["private"]["accuracy"] for r in again["runs"]] == [r["private"]["accuracy"] for r in study["runs"]]


def test_simplex_grid_weights_sum_to_one():
    grid = simplex_grid(3, 0.1)
    assert len(grid) == 66 and np.allclose(grid.sum(1), 1) and (grid >= 0).all()


def test_weight_search_prefers_the_better_model():
    labels = np.arange(200) % 7
    good = np.eye(7)[labels] * 0.9 + 0.1 / 7
    bad = np.roll(good, 1, axis=1)
    w, acc = search_weights([bad, good], labels)
    assert acc == 1.0 and w[1] > w[0] and w.sum() == pytest.approx(1)
    w, acc = search_weights([good], labels)
    assert w.tolist() == [1.0] and acc == 1.0


def test_ensemble_file_leaves_out_members_the_search_gave_no_weight(monkeypatch, tiny_model_file, fer2013_path,
                                                                      tmp_path):
    import shutil

    import fer.training.ensemble
    from fer.models.modelfile import load_models

    other = shutil.copy(tiny_model_file, tmp_path / "other.pt")
    monkeypatch.setattr(fer.training.ensemble, "search_weights",
                        lambda probs, labels, step: (np.array([1.0, 0.0]), 0.5))
    result = fer.training.ensemble.build_ensemble([tiny_model_file, other], fer2013_path, tmp_path / "e.ens.json",
                                         tencrop=False)
    assert [m.path.name for m in load_models(result["file"])] == [tiny_model_file.name]
    assert result["dropped"] == [str(other)] and result["private"]["n"] == 3589
    alone = evaluate([tiny_model_file], fer2013_path, "public")["accuracy"]
    assert result["member_public_accuracy"] == [pytest.approx(alone)] * 2
