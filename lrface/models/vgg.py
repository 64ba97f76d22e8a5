"""CIFAR-style VGG with batch norm (as in CRD's RepDistiller), split into its 5 conv groups.

Each group is [conv3x3 (bias) -> BN -> ReLU] x n. The 2x2 max-pools between groups 1..4 sit at
the start of the following block, so ``block_strides`` is (1, 2, 2, 2, 1): like RepDistiller at
32x32, there is no pool before the last group, and the head average-pools what is left (4x4).
"""

from __future__ import annotations

from torch import nn

from .base import Backbone
from .registry import register_model

CFGS = {
    "vgg8_bn": [[64], [128], [256], [512], [512]],
    "vgg11_bn": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg16_bn": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19_bn": [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}
POOLED = (False, True, True, True, False)  # block i starts with a 2x2 max-pool


class VGG(Backbone):
    """blocks[0..4] -> global average pool -> 512-d feature -> fc -> logits."""

    def __init__(self, groups: list[list[int]], num_classes: int, in_chans: int = 3):
        super().__init__()
        blocks, cin = [], in_chans
        for widths, pooled in zip(groups, POOLED):
            layers = [nn.MaxPool2d(2, 2)] if pooled else []
            for w in widths:
                layers += [nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                cin = w
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.block_channels = [g[-1] for g in groups]
        self.block_strides = [2 if p else 1 for p in POOLED]
        self.feature_dim = cin
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


@register_model
def vgg8_bn(num_classes: int, **kw) -> VGG:
    return VGG(CFGS["vgg8_bn"], num_classes, **kw)


@register_model
def vgg11_bn(num_classes: int, **kw) -> VGG:
    return VGG(CFGS["vgg11_bn"], num_classes, **kw)


@register_model
def vgg16_bn(num_classes: int, **kw) -> VGG:
    return VGG(CFGS["vgg16_bn"], num_classes, **kw)


@register_model
def vgg19_bn(num_classes: int, **kw) -> VGG:
    return VGG(CFGS["vgg19_bn"], num_classes, **kw)
