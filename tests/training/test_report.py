import json

import pytest

from fer.engine.classify import PrecisionError
from fer.training import report


class Evaluated(Exception):
    """Raised in place of the evaluation, to stop ``write_model_metrics`` after its check."""


def _evaluate(*args, **kwargs):
    raise Evaluated


@pytest.mark.parametrize(("bfloat16", "goes_on"), [(0.686, True), (0.687, False)])
def test_metrics_allow_bfloat16_to_move_accuracy_by_at_most_the_tolerance(monkeypatch, tiny_model_file,
                                                                          bfloat16, goes_on):
    """2 faces in 1,000 is 0.2 points, the tolerance: in floating point 0.686 - 0.684 is a
    hair above 0.002, which once stopped `fer metrics` for the annealed ResNet25."""
    monkeypatch.setattr(report, "resolve_precision", lambda *args, **kwargs: "bfloat16")
    monkeypatch.setattr(report, "precision_agreement",
                        lambda *args, **kwargs: {"float32": 0.684, "bfloat16": bfloat16})
    monkeypatch.setattr(report, "evaluate", _evaluate)
    with pytest.raises(Evaluated if goes_on else PrecisionError):
        report.write_model_metrics(tiny_model_file, "unused-data")


def test_fer_metrics_stops_in_one_line_when_bfloat16_moves_the_figures(monkeypatch, tiny_model_file, capsys):
    from fer.cli import main
    from fer.models.modelfile import metrics_path

    monkeypatch.setattr(report, "resolve_precision", lambda *args, **kwargs: "bfloat16")
    monkeypatch.setattr(report, "precision_agreement", lambda *args, **kwargs: {"float32": 0.684, "bfloat16": 0.69})
    assert main(["metrics", str(tiny_model_file), "--data", "unused-data"]) == 2
    assert capsys.readouterr().err == (f"fer metrics: error: bfloat16 moves {tiny_model_file.name}'s PublicTest "
                                       "accuracy from 0.6840 to 0.6900; rerun with --precision float32\n")
    assert not metrics_path(tiny_model_file).exists()


def test_fer_metrics_leaves_the_readme_alone_when_a_metrics_file_beside_is_damaged(monkeypatch, tmp_path, capsys):
    """The README table is the published record: a row must not vanish under exit status 0."""
    from fer.cli import main
    from fer.models.modelfile import BUNDLED_WEIGHTS, metrics_path

    card = json.loads(metrics_path(BUNDLED_WEIGHTS).read_text())  # a metrics file as `fer metrics` writes it
    (tmp_path / "m.json").write_text(json.dumps(card | {"model": "m.pt"}))
    (tmp_path / "other.json").write_text('{"evaluations": [')
    monkeypatch.setattr(report, "write_model_metrics", lambda weights, data, **kwargs: tmp_path / "m.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"{report.README_START}\nthe table\n{report.README_END}\n")
    assert main(["metrics", str(tmp_path / "m.pt"), "--data", "unused", "--readme", str(readme)]) == 2
    assert capsys.readouterr().err == (f"fer metrics: error: {readme} not updated: {tmp_path / 'other.json'}: not "
                                       "valid JSON (truncated or damaged)\n")
    assert readme.read_text() == f"{report.README_START}\nthe table\n{report.README_END}\n"

