"""VGG for 48x48 faces, after Khaireddin & Chen (2021), "Facial Emotion Recognition:
State of the Art Performance on FER2013": four blocks of two conv-BN-ReLU layers and a
max-pool, then two fully connected layers with dropout."""

from __future__ import annotations

import torch
import torch.nn as nn

from fer.classes import NUM_CLASSES
from fer.models.registry import register_model

# Channels of the four conv blocks at width 1, and of the two hidden linear layers.
cfgs: dict[str, tuple[tuple[int, ...], int]] = {
    "vgg10": ((64, 128, 256, 512), 1024),
}


def scaled_channels(channels: int, width_mult: float) -> int:
    """Channels at a width multiplier, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(channels * width_mult / 8)) * 8)


class ConvBlock(nn.Sequential):
    """Two 3x3 conv-BN-ReLU layers, then a 2x2 max-pool that halves the resolution."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__(
            nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=False), nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True),
            nn.Conv2d(out_chs, out_chs, 3, padding=1, bias=False), nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )


class VGG(nn.Module):
    def __init__(self, channels: tuple[int, ...], hidden: int, num_classes: int = NUM_CLASSES,
                 in_chans: int = 1, drop_rate: float = 0.4, width_mult: float = 1.0):
        super().__init__()
        chs = [scaled_channels(c, width_mult) for c in channels]
        hidden = scaled_channels(hidden, width_mult)
        self.features = nn.Sequential(*(ConvBlock(i, o) for i, o in zip([in_chans, *chs[:-1]], chs)))
        # 2x2 after four halvings of a 40x40 crop; the pool keeps other input sizes usable.
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(chs[-1] * 4, hidden), nn.ReLU(inplace=True), nn.Dropout(drop_rate),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(drop_rate),
        )
        self.classifier = nn.Linear(hidden, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised faces -> (B, num_classes) logits."""
        return self.forward_head(self.forward_features(x))


def _create_vgg(variant: str, **kwargs) -> VGG:
    channels, hidden = cfgs[variant]
    return VGG(channels, hidden, **kwargs)


@register_model
def vgg10(**kwargs) -> VGG:
    return _create_vgg("vgg10", **kwargs)
