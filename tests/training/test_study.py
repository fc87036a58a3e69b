import json

import numpy as np
import pytest

from fer.classes import CLASS_NAMES
from fer.cli import main
from fer.training.ensemble import CRITERIA, search_weights, simplex_grid
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
    with pytest.raises(ValueError, match="must divide 1 into equal parts"):
        simplex_grid(3, 0.3)  # would be a grid of thirds


@pytest.mark.parametrize("criterion", CRITERIA)
def test_weight_search_prefers_the_better_model(criterion):
    labels = np.arange(200) % 7
    good = np.eye(7)[labels] * 0.9 + 0.1 / 7
    bad = np.roll(good, 1, axis=1)
    w, acc = search_weights([bad, good], labels, criterion=criterion)
    assert acc == 1.0 and w[1] > w[0] and w.sum() == pytest.approx(1)
    w, acc = search_weights([good], labels, criterion=criterion)
    assert w.tolist() == [1.0] and acc == 1.0


def test_cross_entropy_is_the_default_and_differs_from_best_accuracy():
    # Member 0 is right on 70% of faces and sure of a wrong class on the rest; member 1 is
    # right on 60% with modest confidence. Every mix with at least 0.3 of member 0 has the
    # same accuracy (ties go to the most even, 0.5/0.5); cross-entropy, which every face's
    # probability moves, prefers 0.6/0.4.
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 1000)
    right0, right1 = rng.random(1000) < 0.7, rng.random(1000) < 0.6
    sharp = np.where(right0[:, None], np.eye(7)[labels], np.eye(7)[(labels + 1) % 7]) * 0.97 + 0.03 / 7
    soft = np.where(right1[:, None], np.eye(7)[labels], np.eye(7)[(labels + 2) % 7]) * 0.3 + 0.7 / 7
    grid = simplex_grid(2, 0.1)
    losses = [log_loss(labels, w[0] * sharp + w[1] * soft, labels=range(7)) for w in grid]
    default, _ = search_weights([sharp, soft], labels)
    assert default.tolist() == grid[int(np.argmin(losses))].tolist() == [0.6, 0.4]
    by_accuracy, acc = search_weights([sharp, soft], labels, criterion="accuracy")
    assert by_accuracy.tolist() == [0.5, 0.5]
    assert acc == max(float(((w[0] * sharp + w[1] * soft).argmax(1) == labels).mean()) for w in grid)


def test_unknown_criterion_is_refused_before_any_inference(tiny_model_file, tmp_path):
    import fer.training.ensemble

    with pytest.raises(ValueError, match="cross-entropy, accuracy"):
        fer.training.ensemble.build_ensemble([tiny_model_file], tmp_path / "no-data", tmp_path / "e.ens.json",
                                             criterion="f1")


@pytest.mark.parametrize("argv, message", [
    (["--data", "d", "--remedies", "ce", "bogus"], "--remedies: unknown bogus; choose from " + ", ".join(REMEDIES)),
    ([], "--data is required unless --report-only"),
    (["--report-only", "--json", "missing.json"], "--json missing.json: cannot read the study's results "
                                                  "(No such file or directory)"),
    (["--report-only", "--json", "{list}"], "--json {list}: not the results of fer study (no runs)")])
def test_study_refuses_what_it_cannot_run_or_redraw_in_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    with pytest.raises(SystemExit) as e:
        main(["study", *(a.format(list=listed) for a in argv)])
    assert e.value.code == 2 and capsys.readouterr().err == f"fer study: error: {message.format(list=listed)}\n"


@pytest.mark.parametrize("step", ["0", "0.3", "2"])
def test_a_grid_step_that_does_not_divide_one_is_refused(step, capsys):
    from fer.cli import main

    with pytest.raises(SystemExit) as e:
        main(["ensemble", "m.pt", "--data", "d", "-o", "e.ens.json", "--step", step])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.splitlines()[-1] == (
        f"fer ensemble: error: --step {step}: must divide 1 into equal parts, e.g. 0.1 or 0.05")


@pytest.mark.parametrize("zooms", [["1", "1"], ["0.2", "1"]])
def test_zooms_that_cannot_be_used_are_refused(zooms, capsys):
    from fer.cli import main

    with pytest.raises(SystemExit) as e:
        main(["ensemble", "m.pt", "--data", "d", "-o", "e.ens.json", "--zooms", *zooms])
    assert e.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == (
        f"fer ensemble: error: --zooms {' '.join(zooms)}: each zoom once, from 0.5 to 2")


def test_an_existing_ensemble_file_is_kept_unless_replacing_it_was_asked_before_any_inference(tiny_model_file,
                                                                                             tmp_path, capsys):
    from fer.cli import main

    taken = tmp_path / "e.ens.json"
    taken.write_text("someone's ensemble")
    with pytest.raises(SystemExit) as e:  # refused by the parser, before the data is even looked for
        main(["ensemble", str(tiny_model_file), "--data", str(tmp_path / "no-data"), "-o", str(taken)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err == f"fer ensemble: error: {taken} exists; pass --overwrite to replace it\n"
    assert taken.read_text() == "someone's ensemble"


@pytest.mark.parametrize("weights, message", [
    ("0.5,x", "--ensemble-weights 0.5,x: numbers separated by commas, e.g. 0.6,0.4"),
    ("0.5", "--ensemble-weights: 1 weights for 2 models (one per model, in order)"),
    ("0,0", "--ensemble-weights: ensemble weights must be non-negative numbers, not all zero (got 0, 0)"),
    ("1,-1", "--ensemble-weights: ensemble weights must be non-negative numbers, not all zero (got 1, -1)")])
def test_evaluate_refuses_ensemble_weights_it_cannot_mix(tiny_model_file, small_fer2013, weights, message, capsys):
    from fer.cli import main

    argv = ["evaluate", "--data", str(small_fer2013), "--weights", str(tiny_model_file), str(tiny_model_file),
            f"--ensemble-weights={weights}", "--split", "public"]
    try:
        assert main(argv) == 2
    except SystemExit as e:  # refused by the parser, before any model is loaded
        assert e.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"fer evaluate: error: {message}"


def test_ensemble_file_leaves_out_members_the_search_gave_no_weight(monkeypatch, tiny_model_file, fer2013_path,
                                                                      tmp_path):
    import shutil

    import fer.training.ensemble
    from fer.models.modelfile import load_models

    other = shutil.copy(tiny_model_file, tmp_path / "other.pt")
    searched = []

    def search(probs, labels, step, criterion):
        searched.append(criterion)
        return np.array([1.0, 0.0]), 0.5

    monkeypatch.setattr(fer.training.ensemble, "search_weights", search)
    result = fer.training.ensemble.build_ensemble([tiny_model_file, other], fer2013_path, tmp_path / "e.ens.json",
                                                  tencrop=False, criterion="accuracy", zooms=(0.9, 1.0))
    assert [(m.path.name, m.zooms) for m in load_models(result["file"])] == [(tiny_model_file.name, (0.9, 1.0))]
    assert searched == ["accuracy"] and json.loads((tmp_path / "e.ens.json").read_text())["criterion"] == "accuracy"
    assert result["dropped"] == [str(other)] and result["private"]["n"] == 3589
    # The members were weighed as the file has them run: at both zooms.
    zoomed = evaluate([result["file"]], fer2013_path, "public")["accuracy"]
    assert result["member_public_accuracy"] == [pytest.approx(zoomed)] * 2
