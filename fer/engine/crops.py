"""The crops a network sees of a 48x48 face, shared by the runtime and training.

Faces stay uint8 until the last moment: :func:`normalize` is the single place where
pixels become model input. The model sees a ``crop x crop`` window (40 by default) of the
48x48 face: evaluation and the live runtime take the centre one, and ten-crop averages the
four corners, the centre and their mirror images. An ensemble file may ask for the crops
of zoomed copies of each face instead, one set per zoom (:func:`zoom`; a zoom of 1 is the
face as is). Training's random windows are in
:mod:`fer.training.augment`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def zoom(faces: torch.Tensor, factor: float) -> torch.Tensor:
    """(B, H, W) or (B, 1, H, W) faces scaled by ``factor`` about their centre, as
    (B, 1, H, W) of the same dtype:
    above 1 the middle is enlarged, below 1 the face shrinks and its border pixels fill the
    outside. Resampled as training's augmentation zooms (bilinear, border padding), so the
    networks see the kind of zoom they were trained on."""
    faces = as_batch(faces)
    if factor == 1.0:
        return faces
    theta = torch.tensor([[1 / factor, 0.0, 0.0], [0.0, 1 / factor, 0.0]], device=faces.device)
    grid = F.affine_grid(theta.expand(len(faces), 2, 3), list(faces.shape), align_corners=False)
    out = F.grid_sample(faces.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round_().clamp_(0, 255).to(faces.dtype) if not faces.is_floating_point() else out


def views(faces: torch.Tensor, crop: int, tencrop: bool, zooms: tuple[float, ...] = (1.0,)) -> torch.Tensor:
    """Every view a network is shown of each face, kept together per face: the centre crop
    or the ten crops of each zoomed copy. (B, H, W) -> (B * views_per_face, 1, crop, crop)."""
    take = ten_crop if tencrop else center_crop
    per_zoom = [take(zoom(faces, z), crop).view(len(faces), -1, 1, crop, crop) for z in zooms]
    return torch.cat(per_zoom, dim=1).flatten(0, 1)


def views_per_face(tencrop: bool, zooms: tuple[float, ...] = (1.0,)) -> int:
    """How many views :func:`views` gives of each face."""
    return (10 if tencrop else 1) * len(zooms)
