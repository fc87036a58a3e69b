"""Losses for imbalanced, noisy labels.

The adaptive loss combines three remedies, each aimed at a different failure:

* label smoothing (``eps``) against FER2013's label noise and over-confidence;
* a focal factor ``(1 - p_t) ** gamma`` with ``p_t = exp(-ce)``, which spends the
  gradient on hard examples (fear/sad/angry) rather than easy ones (happy);
* a per-class weight ``alpha[y]`` against the count imbalance (disgust).

With ``eps=0``, ``gamma=0`` and ``alpha=1`` it is exactly cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from fer.classes import NUM_CLASSES

LOSSES = ("adaptive", "ce", "weighted-ce", "focal")
#: The adaptive loss's starting point: lower weight on the easy classes (happy, surprise).
DEFAULT_ALPHA = (0.6, 1.0, 0.8, 0.4, 0.8, 0.4, 0.6)


class AdaptiveLoss(nn.Module):
    """``mean_i alpha[y_i] * (1 - exp(-ce_i)) ** gamma * ce_i`` with ``ce_i`` taken
    against label-smoothed targets (true class ``1 - eps (1 - 1/K)``, others ``eps/K``).

    Targets may be class indices ``(B,)`` or soft targets ``(B, K)`` (mixup); with soft
    targets alpha is mixed the same way as the labels.
    """

    def __init__(self, alpha: Sequence[float] | None = None, gamma: float = 2.0, eps: float = 0.05,
                 num_classes: int = NUM_CLASSES):
        super().__init__()
        alpha_t = torch.ones(num_classes) if alpha is None else torch.as_tensor(alpha, dtype=torch.float32)
        if alpha_t.shape != (num_classes,):
            raise ValueError(f"alpha needs {num_classes} values, got {alpha_t.numel()}")
        self.register_buffer("alpha", alpha_t)
        self.gamma, self.eps, self.num_classes = gamma, eps, num_classes

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.ndim == 1:
            target = F.one_hot(target, self.num_classes).to(logits.dtype)
        smoothed = target * (1 - self.eps) + self.eps / self.num_classes
        ce = -(smoothed * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
        weight = target @ self.alpha
        if self.gamma:
            weight = weight * (1 - torch.exp(-ce)).pow(self.gamma)
        return (weight * ce).mean()


def inverse_frequency_weights(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> list[float]:
    """Class weights proportional to 1/count, scaled so the average sample weighs 1."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = counts.sum() / (num_classes * np.maximum(counts, 1))
    return weights.tolist()


def build_loss(name: str, train_labels: np.ndarray, alpha: Sequence[float] | None = None,
               gamma: float = 2.0, eps: float = 0.05) -> AdaptiveLoss:
    """One of :data:`LOSSES`, each expressed as a setting of :class:`AdaptiveLoss` so
    that the imbalance study varies exactly one thing at a time."""
    if name == "ce":
        return AdaptiveLoss(None, gamma=0.0, eps=0.0)
    if name == "weighted-ce":
        return AdaptiveLoss(alpha or inverse_frequency_weights(train_labels), gamma=0.0, eps=0.0)
    if name == "focal":
        return AdaptiveLoss(alpha, gamma=gamma, eps=0.0)
    if name == "adaptive":
        return AdaptiveLoss(alpha or DEFAULT_ALPHA, gamma=gamma, eps=eps)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def distillation_loss(logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al.'s soft-target term: ``T^2 KL(teacher_T || student_T)``, averaged over
    the batch, where ``p_T`` is ``p`` sharpened or flattened by the temperature.

    The teacher is given as probabilities (ten-crop averages of a model or an ensemble,
    computed once per training face), so it is tempered as ``softmax(log p / T)``; ``T^2``
    keeps the gradient's scale independent of ``T``.
    """
    teacher = F.softmax(teacher_probs.clamp_min(1e-8).log() / temperature, dim=1)
    student = F.log_softmax(logits.float() / temperature, dim=1)
    return F.kl_div(student, teacher, reduction="batchmean") * temperature ** 2
