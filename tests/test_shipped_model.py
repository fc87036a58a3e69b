"""The bundled model is the good one, and its published numbers are its own."""

import json
from pathlib import Path

import numpy as np
import pytest

from fer.engine.classify import Classifier
from fer.models.metrics_files import read_metrics_files
from fer.models.modelfile import default_weights, load_models
from fer.training.data import load_fer2013, stratified_subset
from fer.training.evaluate import evaluate, precision_agreement
from fer.training.report import README_END, README_START, accuracy_table, find_evaluation, metrics_path

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(metrics_path(default_weights()).read_text())


def test_default_weights_are_the_shipped_vgg10():
    assert default_weights() == REPO / "weights" / "vgg10.pt"
    (model,) = load_models(default_weights())
    assert model.meta.arch == "vgg10" and model.meta.class_names[1] == "disgust"


def test_shipped_model_scores_on_a_stratified_private_sample(fer2013_path):
    faces, labels = stratified_subset(*load_fer2013(fer2013_path).split("PrivateTest"), 1000, seed=0)
    assert np.bincount(labels).min() > 0  # every class is in the sample
    probs = Classifier.from_file(default_weights()).predict_proba(faces)
    assert (probs.argmax(1) == labels).mean() >= 0.66


def test_metrics_file_is_reproduced_by_evaluate(fer2013_path, card):
    """The int8 row (what the live path runs here, and the quickest to recompute); its
    weights are the float32 row's, which the bfloat16 and int8 agreement tests cover."""
    published = find_evaluation(card, "public", tencrop=False, key="int8_evaluations")
    result = evaluate([default_weights()], fer2013_path, "public", precision="int8")
    assert result["accuracy"] == pytest.approx(published["accuracy"], abs=0.002)
    assert np.abs(np.array(result["confusion_matrix"]) - published["confusion_matrix"]).sum() <= 14


def test_bfloat16_evaluation_agrees_with_float32(fer2013_path):
    """The check ``fer metrics`` runs before evaluating in bfloat16, on a smaller sample:
    the two precisions label the faces alike (a broken bf16 path would not)."""
    accuracy = precision_agreement(default_weights(), fer2013_path, subset=200)
    assert abs(accuracy["float32"] - accuracy["bfloat16"]) <= 0.01
    assert accuracy["float32"] >= 0.6


def test_shipped_int8_variant_labels_faces_as_float32_does(fer2013_path):
    """What the live path runs on CPUs without native bfloat16: on 500 PublicTest faces the
    int8 variant gives float32's label to at least 95% of them and its accuracy to 1 point
    (on the whole of PublicTest, in the file's metadata: 0.14 points, 97.9% the same label)."""
    faces, labels = stratified_subset(*load_fer2013(fer2013_path).split("PublicTest"), 500, seed=0)
    (model,) = load_models(default_weights())
    assert model.meta.int8["calibration"]["split"] == "Training"
    check = model.meta.int8["public_test"]
    assert abs(check["accuracy_float32"] - check["accuracy_int8"]) <= 0.003
    p32 = Classifier([model], precision="float32").predict_proba(faces).argmax(1)
    p8 = Classifier([model], precision="int8").predict_proba(faces).argmax(1)
    assert (p32 == p8).mean() >= 0.95
    assert abs((p32 == labels).mean() - (p8 == labels).mean()) <= 0.01


def test_readme_table_is_generated_from_the_metrics_files(card):
    readme = (REPO / "README.md").read_text()
    block = readme.split(README_START)[1].split(README_END)[0].strip()
    found = read_metrics_files(REPO / "weights", first=default_weights().name)
    assert found.problems == []  # every shipped metrics file has what the page and the table read
    cards = found.cards
    assert cards[0] == card and block == accuracy_table(cards)


def test_joint_model_ships_with_its_members_and_is_chosen_on_publictest():
    """The report's "joint test" row: shipped networks of both families, weighted on
    PublicTest (the search may leave one out), each a file with its own metrics, and the
    joint better on PublicTest than any of them alone."""
    joint = REPO / "weights" / "joint.ens.json"
    members = load_models(joint)
    assert len(members) >= 2 and {m.meta.arch for m in members} >= {"vgg10"} and \
        {m.meta.arch for m in members} & {"resnet17", "resnet25"}
    assert {m.path.parent for m in members} == {joint.parent} and sum(m.weight for m in members) == pytest.approx(1)
    assert json.loads(joint.read_text())["chosen_on"] == "PublicTest"
    cards = {c["model"]: c for c in read_metrics_files(REPO / "weights").cards}
    public = {name: find_evaluation(cards[name], "public", tencrop=True)["accuracy"]
              for name in ["joint.ens.json", *(m.path.name for m in members)]}
    assert public["joint.ens.json"] > max(v for k, v in public.items() if k != "joint.ens.json")
