"""An independent NAS-Bench-201 network and parameter count, written from the reference's description only.

The oracle the ``nb201`` space's tests compare with: plain torch modules that follow what
NAS-Bench-201's reference code does (Dong & Yang 2020; xautodl 1.0 ``TinyNetwork``, ``InferCell``,
``ReLUConvBN``, ``POOLING``, ``ResNetBasicblock``, ``Zero``), without the plan machinery of
:mod:`search_spaces`, and a parameter count in closed form from the same layer list. Its
parameters are registered in the order the reference (and our module) registers them, so one's
weights can be copied into the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

C, N = 16, 5
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def relu_conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


def edge_op(op: str, c: int) -> nn.Module | None:
    """The module of one cell edge at width ``c`` (``None`` for ``none``: a zero, no module)."""
    if op == "none":
        return None
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    return relu_conv_bn(c, c, int(op[-1]))


class Cell(nn.Module):
    def __init__(self, ops: Sequence[str], c: int) -> None:
        super().__init__()
        self.ops = list(ops)
        self.edges = nn.ModuleList(m for m in (edge_op(op, c) for op in ops) if m is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes, modules = [x], iter(self.edges)
        for i in (1, 2, 3):
            total = torch.zeros_like(x)
            for k, (to, source) in enumerate(EDGES):
                if to == i and self.ops[k] != "none":
                    total = total + next(modules)(nodes[source])
            nodes.append(total)
        return nodes[3]


class Reduce(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(cin, cout, 3, 2)
        self.conv_b = relu_conv_bn(cout, cout, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class Network(nn.Module):
    """NAS-Bench-201's network of cell ``ops`` (arch-string order) for ``classes`` classes."""

    def __init__(self, ops: Sequence[str], classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, 1, 1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage:
                layers.append(Reduce(c // 2, c))
            layers += [Cell(ops, c) for _ in range(N)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.lastact(self.cells(self.stem(x))).mean((2, 3)))


def params(ops: Sequence[str], classes: int) -> int:
    """The reference network's parameter count in closed form (conv weights, BN's two per channel, the linear)."""
    per_op = {"nor_conv_1x1": lambda c: c * c + 2 * c, "nor_conv_3x3": lambda c: 9 * c * c + 2 * c}
    cells = N * sum(per_op[op](c) for c in (C, 2 * C, 4 * C) for op in ops if op in per_op)
    stem = 27 * C + 2 * C
    reduce = sum(9 * a * b + 2 * b + 9 * b * b + 2 * b + a * b for a, b in ((C, 2 * C), (2 * C, 4 * C)))
    head = 2 * 4 * C + 4 * C * classes + classes
    return stem + cells + reduce + head
