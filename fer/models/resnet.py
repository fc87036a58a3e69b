"""Residual networks for 48x48 faces with LeakyReLU(0.1), in the spirit of Pramerdorfer &
Kampel (2016), "Facial Expression Recognition using CNNs: State of the Art". The number
in the name counts conv layers: a stem plus two per basic block."""

from __future__ import annotations

import torch
import torch.nn as nn

from fer.classes import NUM_CLASSES
from fer.models.registry import register_model
from fer.models.vgg import scaled_channels

# Basic blocks per stage; stages have 64, 128, 256, 512 channels at width 1.
cfgs: dict[str, tuple[int, ...]] = {
    "resnet17": (2, 2, 2, 2),
    "resnet25": (3, 3, 3, 3),
}
STAGE_CHANNELS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    def __init__(self, in_chs: int, out_chs: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or in_chs != out_chs:
            self.shortcut = nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride, bias=False), nn.BatchNorm2d(out_chs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, depths: tuple[int, ...], num_classes: int = NUM_CLASSES, in_chans: int = 1,
                 drop_rate: float = 0.3, width_mult: float = 1.0):
        super().__init__()
        chs = [scaled_channels(c, width_mult) for c in STAGE_CHANNELS]
        self.stem = nn.Sequential(nn.Conv2d(in_chans, chs[0], 3, 1, 1, bias=False), nn.BatchNorm2d(chs[0]),
                                  nn.LeakyReLU(0.1, inplace=True))
        stages, in_chs = [], chs[0]
        for i, (depth, out_chs) in enumerate(zip(depths, chs)):
            blocks = [BasicBlock(in_chs if j == 0 else out_chs, out_chs, 2 if i > 0 and j == 0 else 1)
                      for j in range(depth)]
            stages.append(nn.Sequential(*blocks))
            in_chs = out_chs
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(drop_rate))
        self.classifier = nn.Linear(in_chs, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_out", nonlinearity="leaky_relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised faces -> (B, num_classes) logits."""
        return self.forward_head(self.forward_features(x))


@register_model
def resnet17(**kwargs) -> ResNet:
    return ResNet(cfgs["resnet17"], **kwargs)


@register_model
def resnet25(**kwargs) -> ResNet:
    return ResNet(cfgs["resnet25"], **kwargs)
