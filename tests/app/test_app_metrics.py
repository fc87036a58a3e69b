"""The Metrics page with damaged files beside the good ones, driven by Streamlit's AppTest:
a metrics file of the wrong shape or unreadable, and a damaged class-imbalance study, are
each one warning naming the file, and the rest of the page still shows."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from appdata import REPO, metrics_card
from streamlit.testing.v1 import AppTest

TIMEOUT = 60


def _set(key: str, value) -> Callable[[dict], None]:
    return lambda card: card.__setitem__(key, value)


def _in_each_evaluation(change: Callable[[dict], None]) -> Callable[[dict], None]:
    return lambda card: [change(e) for e in card["evaluations"]]


#: Cards that parse but lack a field the page reads, or hold one of the wrong type, and the
#: reason the warning gives.
BAD_CARDS = {
    "no evaluations left": (_set("evaluations", []), "'evaluations' is empty"),
    "older file without auc_macro": (_in_each_evaluation(lambda e: e.pop("auc_macro")),
                                     "evaluations[0]: no 'auc_macro'"),
    "accuracy null": (_in_each_evaluation(lambda e: e.__setitem__("accuracy", None)),
                      "evaluations[0]: 'accuracy' is null, not a number"),
    "training not a summary": (_set("training", "n/a"), 'training: "n/a", not a training summary'),
    "support not a count": (_in_each_evaluation(lambda e: e["per_class"]["happy"].__setitem__("support", 1.0)),
                            "evaluations[0]: per_class['happy']: 'support' is 1.0, not a whole number"),
    "8x8 matrix for 7 classes": (_in_each_evaluation(lambda e: e.__setitem__("confusion_matrix", [[1] * 8] * 8)),
                                 "evaluations[0]: 'confusion_matrix' is not 7 rows of 7 counts, one per class name"),
    "int8 evaluations not a list": (_set("int8_evaluations", "abc"), "'int8_evaluations' is \"abc\", not a list"),
    "ensemble whose members are a number": (lambda card: card.update(training={}, members=5),
                                            "'members' is 5, not a list"),
}

#: Metrics files that cannot be read as a metrics card at all, and the reason the warning gives.
UNREADABLE = {
    "truncated": (json.dumps(metrics_card("vgg10.pt")).encode()[:5000], "not valid JSON (truncated or damaged)"),
    "empty": (b"", "empty"),
    "binary": (bytes(range(256)), "not a text file"),
    "null": (b"null", "holds null, not a metrics file's fields"),
}


@pytest.fixture
def folder(tmp_path, monkeypatch, tiny_model_file) -> Path:
    """A models folder like ``weights/`` with two models and no metrics files yet; the app
    runs ``vgg10.pt``."""
    for name in ("vgg10.pt", "other.pt"):
        shutil.copy(tiny_model_file, tmp_path / name)
    monkeypatch.setenv("FER_WEIGHTS", str(tmp_path / "vgg10.pt"))
    return tmp_path


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT)


def metrics_page(app: AppTest) -> AppTest:
    app.switch_page("fer/app/views/metrics.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def assert_details_shown(app: AppTest) -> None:
    """The page went on past the tables: the chosen model's scores and heatmaps."""
    assert {m.label for m in app.metric} >= {"accuracy", "AUC (macro)"}
    assert len(app.get("vega_lite_chart")) == 2


def test_every_score_the_page_shows_is_checked():
    from fer.app.metrics import SCORES
    from fer.models.metrics_files import SUMMARY_SCORES

    assert list(SCORES) == list(SUMMARY_SCORES)


@pytest.mark.parametrize("damage", BAD_CARDS.values(), ids=BAD_CARDS.keys())
def test_a_bad_metrics_file_is_a_warning_and_the_good_one_still_shows(app, folder, damage):
    change, reason = damage
    bad = metrics_card("vgg10.pt")
    change(bad)
    (folder / "vgg10.json").write_text(json.dumps(bad))
    (folder / "other.json").write_text(json.dumps(metrics_card("other.pt")))
    metrics_page(app)
    assert list(app.dataframe[0].value.index) == ["other.pt"]
    assert [w.value for w in app.warning] == [f"Skipped {folder / 'vgg10.json'}: {reason}"]
    assert_details_shown(app)


@pytest.mark.parametrize("damage", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_only_metrics_file_is_named_not_called_missing(app, folder, damage):
    content, reason = damage
    (folder / "vgg10.json").write_bytes(content)
    metrics_page(app)
    assert [w.value for w in app.warning] == [f"Skipped {folder / 'vgg10.json'}: {reason}"]
    assert len(app.info) == 1
    assert app.info[0].value.startswith(f"No readable metrics files in `{folder}`. ")
    assert not app.dataframe


def test_an_unreadable_metrics_file_beside_a_good_one_hides_nothing(app, folder):
    (folder / "vgg10.json").write_bytes(UNREADABLE["truncated"][0])
    (folder / "other.json").write_text(json.dumps(metrics_card("other.pt")))
    metrics_page(app)
    assert [w.value for w in app.warning] == [f"Skipped {folder / 'vgg10.json'}: {UNREADABLE['truncated'][1]}"]
    assert list(app.dataframe[0].value.index) == ["other.pt"]
    assert not app.info


def test_an_ensemble_file_beside_the_metrics_files_is_no_warning(app, folder):
    from fer.models.modelfile import save_ensemble

    save_ensemble([(folder / "vgg10.pt", 1), (folder / "other.pt", 1)], folder / "joint.ens.json")
    (folder / "vgg10.json").write_text(json.dumps(metrics_card("vgg10.pt")))
    metrics_page(app)
    assert not app.warning
    assert list(app.dataframe[0].value.index) == ["vgg10.pt"]


@pytest.mark.parametrize("content", ['{"runs": [1]}', '{"runs": "ab"}', '{"runs": null}', '{"runs": {"a": 1}}',
                                     '{"runs": [{"name": "ce", "public": {"accuracy": "high"}}]}', '{"runs": [{'],
                         ids=["run a number", "runs a string", "runs null", "runs an object", "score a string",
                              "truncated"])
def test_a_damaged_imbalance_file_is_a_warning_and_the_rest_shows(app, app_env, tmp_path, monkeypatch, content):
    from fer.app import common

    monkeypatch.setattr(common, "IMBALANCE_FILE", tmp_path / "imbalance.json")
    (tmp_path / "imbalance.json").write_text(content)
    metrics_page(app)
    assert len(app.warning) == 1
    assert app.warning[0].value.startswith(f"The class-imbalance comparison is not shown: {common.IMBALANCE_FILE}")
    assert not any("imbalance" in s.value for s in app.subheader)
    assert list(app.dataframe[0].value.index) == ["vgg10.pt"]
    assert_details_shown(app)
