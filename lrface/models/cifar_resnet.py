"""ResNet-110 for CIFAR and Wide-ResNet-50-2, both built on the ResNet class of ``resnet.py``."""

from __future__ import annotations

from torch import nn

from .registry import register_model
from .resnet import BasicBlock, Bottleneck, ResNet, _shortcut, conv3x3


class WideBottleneck(Bottleneck):
    """torchvision's wide bottleneck: 1x1 and 3x3 at twice the width, 1x1 out to 4x the width."""

    def __init__(self, cin: int, width: int, stride: int = 1):
        nn.Module.__init__(self)
        inner, cout = 2 * width, width * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(cin, inner, 1, bias=False), nn.BatchNorm2d(inner)
        self.conv2, self.bn2 = conv3x3(inner, inner, stride), nn.BatchNorm2d(inner)
        self.conv3, self.bn3 = nn.Conv2d(inner, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(cin, cout, stride)


@register_model
def resnet110(num_classes: int, **kw) -> ResNet:
    """He et al.'s CIFAR ResNet-110: 3 stages x 18 basic blocks, widths 16/32/64 (1x1-conv shortcuts, as in CRD)."""
    return ResNet(BasicBlock, [18, 18, 18], [16, 32, 64], num_classes, **kw)


@register_model
def wide_resnet50_2(num_classes: int, **kw) -> ResNet:
    """WRN-50-2 (torchvision layout) with the small-image stem: wide bottlenecks [3, 4, 6, 3], 2048-d feature."""
    return ResNet(WideBottleneck, [3, 4, 6, 3], [64, 128, 256, 512], num_classes, **kw)
