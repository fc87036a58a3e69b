"""Training augmentation, batched on whatever device the batch lives on.

One ``grid_sample`` call per batch with per-sample random parameters: zoom, rotation,
shift, flip and the crop window are one affine matrix per face, so a batch is resampled
once and there is no data-loader process to feed. Evaluation crops are in
:mod:`fer.engine.crops`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fer.engine.crops import as_batch


@dataclass
class TrainAugment:
    """Random affine (zoom, rotation, shift), crop, horizontal flip and random erasing.

    Zoom, rotation, shift, flip and the crop window are folded into one affine matrix per
    sample, so the whole batch is resampled once. Output: uint8 ``(B, 1, crop, crop)``.
    """

    crop: int = 40
    scale: tuple[float, float] = (0.85, 1.15)
    rotation: float = 10.0  # degrees, either way
    shift: float = 0.08  # fraction of the face side, either way, on top of the crop's own slack
    flip: float = 0.5
    erase: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)

    def __call__(self, faces: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        faces = as_batch(faces)
        b, dev = faces.shape[0], faces.device

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return torch.rand(b, device=dev, generator=generator) * (hi - lo) + lo

        zoom = uniform(*self.scale)
        angle = uniform(-self.rotation, self.rotation) * math.pi / 180
        mirror = torch.where(uniform(0, 1) < self.flip, -1.0, 1.0)
        slack = 1 - self.crop / faces.shape[-1] + 2 * self.shift  # normalised coordinates
        tx, ty = uniform(-slack, slack), uniform(-slack, slack)
        # Output coords in [-1, 1] over the crop -> input coords over the full face.
        k = (self.crop / faces.shape[-1]) / zoom
        cos, sin = torch.cos(angle) * k, torch.sin(angle) * k
        theta = torch.stack([torch.stack([cos * mirror, -sin, tx], 1),
                             torch.stack([sin * mirror, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, [b, 1, self.crop, self.crop], align_corners=False)
        out = F.grid_sample(faces.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.erase:
            out = self._erase(out, uniform)
        return out.round_().clamp_(0, 255).to(torch.uint8)

    def _erase(self, x: torch.Tensor, uniform) -> torch.Tensor:
        """Blank one random rectangle per chosen sample with its own mean grey level."""
        b, _, h, w = x.shape
        area = uniform(*self.erase_area) * h * w
        aspect = torch.exp(uniform(math.log(0.3), math.log(3.3)))
        eh = (area * aspect).sqrt().clamp(1, h)
        ew = (area / aspect).sqrt().clamp(1, w)
        top = uniform(0, 1) * (h - eh)
        left = uniform(0, 1) * (w - ew)
        ys = torch.arange(h, device=x.device).view(1, h, 1)
        xs = torch.arange(w, device=x.device).view(1, 1, w)
        inside = ((ys >= top.view(b, 1, 1)) & (ys < (top + eh).view(b, 1, 1))
                  & (xs >= left.view(b, 1, 1)) & (xs < (left + ew).view(b, 1, 1)))
        chosen = (uniform(0, 1) < self.erase).view(b, 1, 1)
        mask = (inside & chosen).unsqueeze(1)
        return torch.where(mask, x.mean(dim=(2, 3), keepdim=True), x)

