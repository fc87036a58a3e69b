"""``scripts/ensemble_selection.py``: the rules for choosing ensemble weights, compared on
halves of PublicTest, on made-up member probabilities."""


import numpy as np
from repo_scripts import load_script


def _members(labels: np.ndarray, confidence: list[float], seed: int = 0) -> np.ndarray:
    """(members, faces, 7) probabilities: each member gives the true class ``confidence``."""
    rng = np.random.default_rng(seed)
    stacked = rng.dirichlet(np.ones(7), size=(len(confidence), len(labels))) * 0.5
    for m, c in enumerate(confidence):
        stacked[m, np.arange(len(labels)), labels] += c
    return stacked / stacked.sum(-1, keepdims=True)


def test_each_rule_gets_one_held_out_accuracy_per_split():
    script = load_script("ensemble_selection")
    labels = np.random.default_rng(2).integers(0, 7, 300)
    scores = script.held_out_accuracy(_members(labels, [0.1, 0.1, 0.0]), labels, rounds=5, seed=0)
    assert set(scores) == set(script.RULES)
    assert all(s.shape == (5,) and 0.3 < s.mean() <= 1 for s in scores.values())  # chance is 1/7
    # the third member is noise: equal weights suffer from it, the chosen weights leave it out
    assert scores["lowest cross-entropy"].mean() > scores["equal weights"].mean() + 0.05
    assert scores["best accuracy"].mean() > scores["equal weights"].mean() + 0.05
