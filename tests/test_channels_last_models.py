"""channels_last gives every convolution of every registered backbone the gradients the contiguous layout gives, on
this CPU and torch, where lrface allows it (oneDNN's AVX2 kernel got a narrow strided 1x1 wrong: speed.py refuses it)."""

import pytest
import torch

from lrface.engine import speed
from lrface.models import build_model
from lrface.models.registry import list_models


def conv_shapes(name: str) -> set[tuple]:
    """(in, out, kernel, stride, padding, groups, input shape) of each convolution, at a 2 x 3 x 32 x 32 batch."""
    net, shapes = build_model(name, num_classes=10), set()
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            args = (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.groups)
            m.register_forward_hook(lambda m, i, o, args=args: shapes.add((*args, tuple(i[0].shape))))
    net(torch.zeros(2, 3, 32, 32))
    return shapes


def grads(conv: torch.nn.Conv2d, x: torch.Tensor, g: torch.Tensor, fmt) -> tuple[torch.Tensor, torch.Tensor]:
    conv, x = conv.to(memory_format=fmt), x.detach().clone(memory_format=fmt).requires_grad_()
    conv.weight.grad = None
    conv(x).backward(g.contiguous(memory_format=fmt))
    return conv.weight.grad.clone(), x.grad


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", list_models())
def test_channels_last_gives_every_convolution_the_contiguous_gradients(name, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for cin, cout, k, stride, pad, groups, shape in sorted(conv_shapes(name)):
            torch.manual_seed(0)
            conv = torch.nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False)
            if speed.onednn_1x1_hazard({"": conv}):
                continue  # refused: train.channels_last=on names the layer
            x = torch.randn(shape)
            g = torch.randn_like(conv(x))
            ref, cl = grads(conv, x, g, torch.contiguous_format), grads(conv, x, g, torch.channels_last)
            for a, b, what in zip(ref, cl, ("weight", "input")):
                assert (b - a).abs().max() <= 1e-4 * a.abs().max(), (name, what, cin, cout, k, stride, shape)
    finally:
        torch.set_num_threads(before)
