import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fer.training.losses import (
    DEFAULT_ALPHA,
    LOSSES,
    AdaptiveLoss,
    build_loss,
    distillation_loss,
    inverse_frequency_weights,
)


def test_adaptive_loss_reduces_to_cross_entropy():
    logits, target = torch.randn(64, 7, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 7
    loss = AdaptiveLoss(alpha=[1.0] * 7, gamma=0.0, eps=0.0)
    assert torch.allclose(loss(logits, target), F.cross_entropy(logits, target), atol=1e-6)


def test_adaptive_loss_matches_its_formula():
    g = torch.Generator().manual_seed(1)
    logits, target = torch.randn(32, 7, generator=g), torch.randint(0, 7, (32,), generator=g)
    alpha, gamma, eps, k = torch.rand(7, generator=g) + 0.1, 2.0, 0.1, 7
    smoothed = F.one_hot(target, k) * (1 - eps * (1 - 1 / k)) + (1 - F.one_hot(target, k)) * eps / k
    ce = -(smoothed * F.log_softmax(logits, 1)).sum(1)
    expected = (alpha[target] * (1 - torch.exp(-ce)) ** gamma * ce).mean()
    assert torch.allclose(AdaptiveLoss(alpha.tolist(), gamma, eps)(logits, target), expected, atol=1e-6)


def test_focal_term_down_weights_easy_examples():
    easy, hard = torch.tensor([[8.0, 0, 0, 0, 0, 0, 0]]), torch.tensor([[0.5, 0, 0, 0, 0, 0, 0]])
    y = torch.tensor([0])
    ce, focal = AdaptiveLoss(gamma=0, eps=0), AdaptiveLoss(gamma=2, eps=0)
    assert focal(easy, y) / ce(easy, y) < focal(hard, y) / ce(hard, y)


def test_soft_targets_equal_hard_targets_when_one_hot():
    logits, y = torch.randn(8, 7), torch.arange(8) % 7
    loss = AdaptiveLoss(alpha=[0.6, 1, 0.8, 0.4, 0.8, 0.4, 0.6])
    assert torch.allclose(loss(logits, y), loss(logits, F.one_hot(y, 7).float()))


def test_inverse_frequency_weights_average_one_per_sample():
    labels = np.array([0] * 90 + [1] * 10)
    w = inverse_frequency_weights(labels, num_classes=2)
    assert w[1] / w[0] == pytest.approx(9.0)
    assert np.mean(np.array(w)[labels]) == pytest.approx(1.0)


def _reference(name: str, logits: torch.Tensor, y: torch.Tensor, labels: np.ndarray) -> torch.Tensor:
    ce = F.cross_entropy(logits, y, reduction="none")
    focal = (1 - torch.exp(-ce)) ** 2
    if name == "ce":
        return ce.mean()
    if name == "weighted-ce":
        return (torch.tensor(inverse_frequency_weights(labels))[y] * ce).mean()
    if name == "focal":
        return (focal * ce).mean()
    return AdaptiveLoss(DEFAULT_ALPHA, gamma=2.0, eps=0.05)(logits, y)  # its formula: tested above


@pytest.mark.parametrize("name", LOSSES)
def test_each_loss_is_the_setting_it_names(name):
    labels = np.array([0] * 40 + [1] * 2 + [2, 3, 4, 5, 6] * 6)  # imbalanced, as FER2013
    g = torch.Generator().manual_seed(3)
    logits, y = torch.randn(16, 7, generator=g), torch.randint(0, 7, (16,), generator=g)
    assert torch.allclose(build_loss(name, labels)(logits, y), _reference(name, logits, y, labels), atol=1e-6)


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ValueError, match="adaptive, ce, weighted-ce, focal"):
        build_loss("hinge", np.zeros(3, int))


def test_distillation_loss_is_zero_at_the_teacher_and_scales_with_temperature():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(16, 7, generator=g)
    teacher = F.softmax(logits, 1)
    for t in (1.0, 4.0):
        assert distillation_loss(logits, teacher, t).abs() < 1e-5  # the student already is the teacher
    other = F.softmax(torch.randn(16, 7, generator=g), 1)
    # At T=1 it is the plain KL divergence between teacher and student.
    kl = (other * (other.log() - F.log_softmax(logits, 1))).sum(1).mean()
    assert torch.allclose(distillation_loss(logits, other, 1.0), kl, atol=1e-5)
