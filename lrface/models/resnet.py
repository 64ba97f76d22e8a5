"""ResNets with the small-image stem (3x3 conv, stride 1, no max-pool), split into 4 blocks.

Includes the paper's "streamlined" ResNet-18 student (basic blocks [2, 2, 2, 2] with reduced
widths; 0.61 M parameters at 180 classes) and the VGGFace2-style ResNet-50 teacher.
"""

from __future__ import annotations

from torch import nn

from .base import Backbone, embedding_layer
from .registry import register_model


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.bn1 = conv3x3(cin, width, stride), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, cout), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv3x3(width, width, stride), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(Backbone):
    """stem -> blocks[0..3] -> global average pool -> embed (``embedding``; identity by default) -> feature -> fc.

    ``last_stride`` 1 keeps the last block at the third's spatial size (4x4 at a 16x16 input instead of 2x2): the
    re-identification "last stride" trick; the same parameters, more multiply-adds in the last block.
    """

    def __init__(
        self, block, layers, widths, num_classes: int, in_chans: int = 3, embedding: str = "pool", last_stride: int = 2
    ):
        super().__init__()
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
        self.stem = nn.Sequential(conv3x3(in_chans, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        cin = widths[0]
        blocks, self.block_channels, self.block_strides = [], [], []
        for i, (n, w) in enumerate(zip(layers, widths)):
            stride = 1 if i == 0 else last_stride if i == len(layers) - 1 else 2
            stage = []
            for j in range(n):
                stage.append(block(cin, w, stride if j == 0 else 1))
                cin = w * block.expansion
            blocks.append(nn.Sequential(*stage))
            self.block_channels.append(cin)
            self.block_strides.append(stride)
        self.blocks = nn.ModuleList(blocks)
        self.feature_dim = cin
        self.embed = embedding_layer(embedding, cin)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


# The streamlined student: widths chosen so that backbone + 180-class classifier is ~0.61 M parameters.
STREAMLINED_WIDTHS = (16, 32, 64, 112)


@register_model
def sresnet18(num_classes: int, widths=STREAMLINED_WIDTHS, **kw) -> ResNet:
    """Streamlined ResNet-18 (the paper's 0.61 M face student); 112-d embedding."""
    return ResNet(BasicBlock, [2, 2, 2, 2], list(widths), num_classes, **kw)


@register_model
def resnet18(num_classes: int, widths=(64, 128, 256, 512), **kw) -> ResNet:
    """ResNet-18; ``widths`` narrows it (e.g. 32-64-128-256, the CPU benchmark's 2.8 M teacher)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], list(widths), num_classes, **kw)


@register_model
def resnet34(num_classes: int, **kw) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], [64, 128, 256, 512], num_classes, **kw)


@register_model
def resnet50(num_classes: int, **kw) -> ResNet:
    """VGGFace2-style ResNet-50 teacher: bottlenecks [3, 4, 6, 3], 2048-d feature."""
    return ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512], num_classes, **kw)


@register_model
def resnet101(num_classes: int, **kw) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], [64, 128, 256, 512], num_classes, **kw)


@register_model
def resnet_tiny(num_classes: int, widths=(4, 8, 8, 16), **kw) -> ResNet:
    """A few-thousand-parameter ResNet for tests and smoke configs."""
    return ResNet(BasicBlock, [1, 1, 1, 1], list(widths), num_classes, **kw)
