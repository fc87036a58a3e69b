"""The crops a network sees of a 48x48 face, shared by the runtime and training.

Faces stay uint8 until the last moment: :func:`normalize` is the single place where
pixels become model input. The model sees a ``crop x crop`` window (40 by default) of the
48x48 face: evaluation and the live runtime take the centre one, and ten-crop averages the
four corners, the centre and their mirror images. Training's random windows are in
:mod:`fer.training.augment`.
"""

from __future__ import annotations

import torch


def as_batch(faces: torch.Tensor) -> torch.Tensor:
    """(B, H, W) or (B, 1, H, W) -> (B, 1, H, W)."""
    return faces.unsqueeze(1) if faces.ndim == 3 else faces


def normalize(faces: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 faces -> float model input, with the statistics the model was trained on."""
    return (as_batch(faces).float() / 255.0 - mean) / std


def center_crop(faces: torch.Tensor, crop: int) -> torch.Tensor:
    faces = as_batch(faces)
    top = (faces.shape[-2] - crop) // 2
    left = (faces.shape[-1] - crop) // 2
    return faces[..., top:top + crop, left:left + crop]


def ten_crop(faces: torch.Tensor, crop: int) -> torch.Tensor:
    """(B, 1, H, W) -> (B * 10, 1, crop, crop), the ten views of each face kept together
    so that ``probs.view(B, 10, K).mean(1)`` averages them."""
    faces = as_batch(faces)
    h, w = faces.shape[-2:]
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), ((h - crop) // 2, (w - crop) // 2)]
    views = [faces[..., top:top + crop, left:left + crop] for top, left in corners]
    views += [v.flip(-1) for v in views]
    return torch.stack(views, dim=1).flatten(0, 1)
