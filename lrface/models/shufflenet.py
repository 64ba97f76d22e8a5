"""CIFAR ShuffleNetV1 (groups 3) and ShuffleNetV2 (net size 1), as in CRD's RepDistiller.

Both have a 1x1-conv stem (24 channels, stride 1, run inside ``forward_blocks``) and three
stages, each halving the resolution (C = 3 blocks). ShuffleNetV2's final 1x1 conv to 1024
channels belongs to the head, as in RepDistiller, so its feature is 1024-d.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .base import Backbone
from .registry import register_model


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class ShuffleV1Unit(nn.Module):
    """Grouped 1x1 -> shuffle -> depthwise 3x3 -> grouped 1x1; stride 2 concatenates an avg-pooled shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int):
        super().__init__()
        mid = cout // 4
        self.stride, self.g1 = stride, 1 if cin == 24 else groups  # the first unit sees the 24-channel stem
        self.conv1, self.bn1 = _conv_bn(cin, mid, 1, groups=self.g1)
        self.conv2, self.bn2 = _conv_bn(mid, mid, 3, stride=stride, groups=mid)
        self.conv3, self.bn3 = _conv_bn(mid, cout, 1, groups=groups)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()

    def forward(self, x):
        out = channel_shuffle(F.relu(self.bn1(self.conv1(x))), self.g1)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = self.shortcut(x)
        return F.relu(torch.cat([out, res], 1) if self.stride == 2 else out + res)


class ShuffleV2Unit(nn.Module):
    """Split channels in half, transform one half (1x1 -> dw 3x3 -> 1x1), concatenate, shuffle."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels // 2
        self.body = nn.Sequential(
            *_conv_bn(c, c, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(c, c, 3, groups=c),
            *_conv_bn(c, c, 1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat([x1, self.body(x2)], 1), 2)


class ShuffleV2Down(nn.Module):
    """Stride-2 unit: both branches see the whole input, each gives half the output channels."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = cout // 2
        self.left = nn.Sequential(
            *_conv_bn(cin, cin, 3, stride=2, groups=cin), *_conv_bn(cin, mid, 1), nn.ReLU(inplace=True)
        )
        self.right = nn.Sequential(
            *_conv_bn(cin, mid, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(mid, mid, 3, stride=2, groups=mid),
            *_conv_bn(mid, mid, 1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return channel_shuffle(torch.cat([self.left(x), self.right(x)], 1), 2)


class ShuffleNet(Backbone):
    """1x1 stem -> blocks[0..2] (each stride 2) -> [extra 1x1 conv] -> global average pool -> fc."""

    def __init__(
        self,
        blocks: list[nn.Module],
        block_channels: list[int],
        num_classes: int,
        last_conv: int = 0,
        in_chans: int = 3,
    ):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_chans, 24, 1), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList(blocks)
        self.block_channels = list(block_channels)
        self.block_strides = [2] * len(blocks)
        cin = block_channels[-1]
        self.neck = nn.Sequential(*_conv_bn(cin, last_conv, 1), nn.ReLU(inplace=True)) if last_conv else nn.Identity()
        self.feature_dim = last_conv or cin
        self.fc = nn.Linear(self.feature_dim, num_classes)


@register_model
def shufflenet_v1(num_classes: int, groups: int = 3, **kw) -> ShuffleNet:
    """ShuffleNetV1 for CIFAR: stages of 4/8/4 units, 240/480/960 channels (groups 3)."""
    stages, cin = [], 24
    for cout, n in zip((240, 480, 960), (4, 8, 4)):
        # a stride-2 unit concatenates its input, so it only produces cout - cin new channels
        units = [ShuffleV1Unit(cin, cout - cin, 2, groups)] + [
            ShuffleV1Unit(cout, cout, 1, groups) for _ in range(n - 1)
        ]
        stages.append(nn.Sequential(*units))
        cin = cout
    return ShuffleNet(stages, [240, 480, 960], num_classes, **kw)


@register_model
def shufflenet_v2(num_classes: int, **kw) -> ShuffleNet:
    """ShuffleNetV2 1x for CIFAR: a down unit + 3/7/3 units, 116/232/464 channels, 1x1 conv to 1024."""
    stages, cin = [], 24
    for cout, n in zip((116, 232, 464), (3, 7, 3)):
        stages.append(nn.Sequential(ShuffleV2Down(cin, cout), *(ShuffleV2Unit(cout) for _ in range(n))))
        cin = cout
    return ShuffleNet(stages, [116, 232, 464], num_classes, last_conv=1024, **kw)
