"""The order in which an epoch visits the training faces.

``uniform`` is a plain shuffle. ``balanced`` draws with replacement so that every class
is seen equally often in expectation, the re-sampling remedy of the imbalance study.
"""

from __future__ import annotations

import torch

SAMPLERS = ("uniform", "balanced")


def class_balanced_weights(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Per-sample weights 1/count(class), so each class carries the same total weight."""
    counts = torch.bincount(labels, minlength=num_classes or 0).float()
    return 1.0 / counts.clamp_min(1)[labels]


def epoch_indices(labels: torch.Tensor, sampler: str, generator: torch.Generator) -> torch.Tensor:
    """One epoch's worth (``len(labels)``) of training indices."""
    n = len(labels)
    if sampler == "uniform":
        return torch.randperm(n, device=labels.device, generator=generator)
    if sampler == "balanced":
        return torch.multinomial(class_balanced_weights(labels), n, replacement=True, generator=generator)
    raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
