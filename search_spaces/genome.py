"""The genome: one plain-data vocabulary for every network the toolkit builds.

A genome is a tree of frozen dataclasses holding ints, floats, strings, bools and
tuples only. Activation, norm and block types are *names*, resolved through registries
at build time, so a genome can be hashed, compared, pickled and written as YAML.

Scaling lives in the genome as data (``width_mult``, ``depth_mult``, ``resolution``):
EfficientNet-B4 is B0's stages with ``width_mult=1.4, depth_mult=1.8, resolution=380``.
Documented quirks of a reproduction (TF "same" padding, which channel-rounding variant,
how squeeze-excitation widths are derived) are named fields of :class:`Quirks`.

``__post_init__`` checks types and ranges and normalises numeric types (an int given
for a float field becomes a float) so YAML round trips are exact. Names (block type,
activation, norm) are checked against their registries by :func:`search_spaces.resolve`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any

from search_spaces.errors import GenomeError
from search_spaces.rounding import round_repeats

__all__ = ["COMMON_STAGE_FIELDS", "MAX_BLOCKS", "MAX_DEPTH", "MAX_KERNEL", "MAX_RATIO", "MAX_RESOLUTION", "MAX_WIDTH",
           "Head", "Network", "Norm", "Quirks", "Stage", "Stem"]

PADDINGS = ("symmetric", "same")
SE_BASES = ("in", "mid", "out")

# Upper bounds far beyond any real network (the zoo's largest: 48 blocks in a stage, 4640 stage
# channels, kernel 7, expansion 8, 600 px, width x2, depth x3.1). A hand-edited or hostile file
# with a huge number gets one sentence instead of hours of arithmetic or a giant allocation.
MAX_WIDTH = 100_000  #: channels, widths, groups, classes, divisors
MAX_DEPTH = 1_000  #: blocks in one stage, before depth scaling
MAX_KERNEL = 99
MAX_RESOLUTION = 10_000
MAX_RATIO = 100.0  #: expand, bottleneck, width_mult, depth_mult
MAX_BLOCKS = 10_000  #: blocks of the whole network after depth scaling (the zoo's deepest has 103)


def _int(obj: Any, name: str, *, low: int | None = None, high: int | None = None) -> None:
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise GenomeError(f"{name} must be an integer, got {value!r}", name)
    if low is not None and value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise GenomeError(f"{name} must be {what}, got {value!r}", name)
    if high is not None and value > high:
        raise GenomeError(f"{name} must be an integer <= {high}, got {value!r}", name)


def _float(obj: Any, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> None:
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GenomeError(f"{name} must be a finite number, got {value!r}", name)
    value = float(value)
    object.__setattr__(obj, name, value)
    if low is not None and (value < low or (low_open and value == low)):
        raise GenomeError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}", name)
    if high is not None and (value > high or (high_open and value == high)):
        raise GenomeError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}", name)


def _str(obj: Any, name: str, choices: tuple[str, ...] | None = None) -> None:
    value = getattr(obj, name)
    if not isinstance(value, str):
        raise GenomeError(f"{name} must be a string, got {value!r}", name)
    if choices is not None and value not in choices:
        raise GenomeError(f"{name} must be one of {', '.join(choices)}, got {value!r}", name)


def _bool(obj: Any, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, bool):
        raise GenomeError(f"{name} must be true or false, got {value!r}", name)


def _kernel(obj: Any, name: str, patch: bool = False) -> None:
    """An odd kernel size; with ``patch``, an even kernel equal to the stride is allowed too
    (non-overlapping patches: ConvNeXt's patchify convs, GoogLeNet's 2x2/2 max pooling)."""
    _int(obj, name, low=1, high=MAX_KERNEL)
    value = getattr(obj, name)
    if value % 2 == 0 and not (patch and value == obj.stride):
        raise GenomeError(f"{name} must be an odd kernel size, got {value!r}", name)


def _widths(value: Any, name: str) -> tuple[int, ...]:
    """Normalise and check a list of positive channel widths (a YAML list becomes a tuple)."""
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= MAX_WIDTH for x in value):
        raise GenomeError(f"{name} must be a list of positive integers up to {MAX_WIDTH}, got {value!r}", name)
    return tuple(value)


def _names(value: Any, name: str) -> tuple[str, ...]:
    """Normalise and check a list of non-empty names (a YAML list becomes a tuple)."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) and x for x in value):
        raise GenomeError(f"{name} must be a list of names, got {value!r}", name)
    return tuple(value)


def _name(obj: Any, name: str) -> None:
    """A network name: it becomes a file name (``{name}.yaml`` of a scaled family), so no path in it."""
    _str(obj, name)
    value = getattr(obj, name)
    if not value.strip() or value in (".", "..") or "/" in value or "\\" in value or not value.isprintable():
        raise GenomeError(f"{name} must be a non-empty name without '/', '\\' or control characters (it names "
                          f"files), got {value!r}", name)


COMBINES = ("add", "concat")

#: The stage fields every block type reads (the resolver does): which block, how many, how wide, which
#: stride. Every other field is read only by the block types that declare it (``BlockType.stage_fields``).
COMMON_STAGE_FIELDS = ("block", "depth", "channels", "stride")

#: Block type -> ``{field: default}`` of the stage fields it does not read; filled on first use.
_UNREAD: dict[str, dict[str, Any]] = {}


def _unread_fields(block: str) -> dict[str, Any] | None:
    """The defaults of the fields block type ``block`` does not read; ``None`` for an unknown block."""
    unread = _UNREAD.get(block)
    if unread is None:
        from search_spaces.blocks import BLOCKS  # late: block types import this module

        if block not in BLOCKS:
            return None  # an unknown name: check_names refuses it with suggestions
        reads = set(COMMON_STAGE_FIELDS) | set(BLOCKS.get(block).stage_fields)
        unread = _UNREAD[block] = {f.name: f.default for f in fields(Stage) if f.name not in reads}
    return unread


def _shown(value: Any) -> str:
    """A field value as a genome file writes it (a tuple is a YAML list)."""
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _check_read(stage: Stage, given: list[str]) -> None:
    """Refuse a field the stage's block type does not read, set away from its default (it would be ignored).

    Args:
        stage: The stage.
        given: The fields that do not hold their default object (the others are at their default), in order.
    """
    unread = _unread_fields(stage.block) or {}
    for name in given:
        if name not in unread:
            continue
        value, default = getattr(stage, name), unread[name]
        if value != default:
            from search_spaces.blocks import BLOCKS  # late, as above

            own = BLOCKS.get(stage.block).stage_fields
            reads = f"it reads {', '.join(own)}" if own else "it reads only " + ", ".join(COMMON_STAGE_FIELDS)
            raise GenomeError(f"{name} is not read by block {stage.block!r} ({reads}); leave it out or at its "
                              f"default {_shown(default)}, got {_shown(value)}", name)


def _cell(value: Any) -> tuple[tuple[str | int, ...], ...]:
    """Normalise and check a cell genotype (lists from YAML become nested tuples)."""
    if type(value) is tuple:
        try:
            checked = _checked_cell(value)  # searches build many stages from a few genotypes
        except TypeError:  # unhashable inside: let the full check name the problem
            checked = None
        # The memo may answer for an equal genotype of other types (True == 1): only the same object, or a
        # plain genotype, is the answer for this one
        if checked is value or (checked is not None and _is_plain_cell(value)):
            return value
    return _check_cell(value)


@lru_cache(maxsize=1024)
def _checked_cell(value: tuple[tuple[Any, ...], ...]) -> tuple[tuple[str | int, ...], ...]:
    return value if _is_plain_cell(value) else _check_cell(value)


def _is_plain_cell(cell: tuple[tuple[Any, ...], ...]) -> bool:
    """Whether ``cell`` is a valid genotype of exact ``str`` and ``int`` items: :func:`_check_cell` would return
    it unchanged. The quick path of a search's decoding; anything else gets the full check, which names the
    problem."""
    states = len(cell) + 1  # h_i, h_{i-1} and one per node
    if states < 3:
        return False
    for k in range(states - 2):
        node = cell[k]
        if type(node) is not tuple or len(node) != 5:
            return False
        op_a, in_a, op_b, in_b, combine = node
        if not (type(op_a) is str and type(op_b) is str and type(in_a) is int and type(in_b) is int
                and type(combine) is str and combine in COMBINES and 0 <= in_a < k + 2 and 0 <= in_b < k + 2):
            return False
    concat = cell[-1]
    if type(concat) is not tuple or len(concat) < 2 or concat[0] != "concat":
        return False
    picked = concat[1:]
    return all(type(i) is int and 0 <= i < states for i in picked) and len(set(picked)) == len(picked)


def _check_cell(value: Any) -> tuple[tuple[str | int, ...], ...]:
    """Check a cell genotype.

    The genotype is ``[op_a, in_a, op_b, in_b, combine]`` per node, then ``[concat, i, ...]``;
    inputs of node ``k`` are 0 (``h_i``), 1 (``h_{i-1}``) or an earlier node ``2..k+1``
    (see :mod:`search_spaces.blocks.cell`). Op names are checked against the op table at
    resolve time.
    """
    if not isinstance(value, (list, tuple)):
        raise GenomeError(f"cell must be a list of nodes, got {value!r}", "cell")
    nodes = []
    for i, node in enumerate(value):
        if not isinstance(node, (list, tuple)) or not all(
                isinstance(x, (str, int)) and not isinstance(x, bool) for x in node):
            raise GenomeError(f"cell[{i}] must be a list of op names and input indices, got {node!r}", "cell")
        nodes.append(tuple(node))
    if not nodes:
        return ()
    *body, concat = nodes
    if not body or concat[:1] != ("concat",) or len(concat) < 2:
        raise GenomeError("cell must be one or more nodes followed by a [concat, i, ...] entry naming the "
                          f"states concatenated into the output, got {list(map(list, nodes))!r}", "cell")
    for k, node in enumerate(body):
        shape_ok = len(node) == 5 and all(isinstance(node[j], t) for j, t in enumerate((str, int, str, int, str)))
        if not shape_ok:
            raise GenomeError(f"cell[{k}] must be [op, input, op, input, combine], got {list(node)!r}", "cell")
        if node[4] not in COMBINES:
            raise GenomeError(f"cell[{k}] combine must be one of {', '.join(COMBINES)}, got {node[4]!r}", "cell")
        for src in (node[1], node[3]):
            if not 0 <= src < k + 2:
                raise GenomeError(f"cell[{k}] input {src} must be 0 (h_i), 1 (h_i-1) or an earlier node "
                                  f"(2..{k + 1}), since node {k} is state {k + 2}", "cell")
    states = len(body) + 2
    picked = concat[1:]
    if not all(isinstance(i, int) and 0 <= i < states for i in picked) or len(set(picked)) != len(picked):
        raise GenomeError(f"cell concat must list distinct states in 0..{states - 1}, got {list(picked)!r}", "cell")
    return tuple(nodes)


@dataclass(frozen=True)
class Norm:
    """Normalisation layer settings shared by the whole network.

    Attributes:
        name: Registered norm name (``batchnorm``).
        eps: Epsilon; PyTorch's default is 1e-5, TensorFlow's reference models use 1e-3.
        momentum: PyTorch-convention momentum (TF's decay 0.99 is momentum 0.01).
    """

    name: str = "batchnorm"
    eps: float = 1e-5
    momentum: float = 0.1

    def __post_init__(self) -> None:
        _str(self, "name")
        _float(self, "eps", low=0.0, low_open=True)
        _float(self, "momentum", low=0.0, high=1.0)


@dataclass(frozen=True)
class Quirks:
    """Named details of reference implementations that papers leave unsaid.

    Attributes:
        padding: ``symmetric`` (PyTorch, ``(k - 1) // 2``) or ``same`` (TensorFlow's
            asymmetric SAME padding, needed to match TF-ported weights exactly).
        channel_divisor: Channels are rounded to multiples of this.
        round_limit: The "never below 90%" guard of EfficientNet v1 / MobileNet code
            (0.9); EfficientNetV2's code has none (0.0).
        depth_rounding: ``ceil`` (EfficientNet ``round_repeats``) or ``round``.
        se_base: Squeeze-excitation width is a ratio of the block's ``in``put channels
            (EfficientNet, MnasNet) or of its expanded ``mid`` width (MobileNetV3); ``out``:
            SE over the block's output width, after its last conv and norm, before the
            addition (SENet, Hu et al. 2018, fig. 3; timm's SE-ResNet / SE-ResNeXt). A
            block type that cannot place SE that way (the MBConv family has no SE on its
            output) refuses it (``BlockType.se_width``, the one SE width rule).
        se_divisor: SE width rounding: 1 rounds to an integer (each block type names how:
            the MBConv family truncates as the TF code, residual blocks round as pycls),
            8 rounds to a multiple of 8 (torchvision MobileNetV3, timm's SE-ResNet).
        se_act: SE's inner activation; empty means the block's own activation.
        se_gate: SE's gate activation (``sigmoid``, ``hard_sigmoid``).
        reduction_skip: In cell networks, a reduction cell that follows a normal cell
            hands its own second input on as the next cell's second input, instead of
            its first (TF NASNet's ``skip_reduction_layer_input=1``, as in NASNet-A
            large; the mobile NASNet and PNASNet wire cells plainly).
    """

    padding: str = "symmetric"
    channel_divisor: int = 8
    round_limit: float = 0.9
    depth_rounding: str = "ceil"
    se_base: str = "in"
    se_divisor: int = 1
    se_act: str = ""
    se_gate: str = "sigmoid"
    reduction_skip: bool = False

    def __post_init__(self) -> None:
        _str(self, "padding", PADDINGS)
        _int(self, "channel_divisor", low=1, high=MAX_WIDTH)
        _float(self, "round_limit", low=0.0, high=1.0)
        _str(self, "depth_rounding", ("ceil", "round"))
        _str(self, "se_base", SE_BASES)
        _int(self, "se_divisor", low=1, high=MAX_WIDTH)
        _str(self, "se_act")
        _str(self, "se_gate")
        _bool(self, "reduction_skip")


@dataclass(frozen=True)
class Stem:
    """The first convolution.

    Attributes:
        channels: Output channels before width scaling.
        kernel: Kernel size.
        stride: Stride.
        act: Activation name; empty means the network's ``act``.
        scale: Whether ``width_mult`` applies (timm's ``fix_stem=False``).
        padding: ``valid`` for an unpadded stem conv (the TF NASNet / PNASNet stem);
            empty means the network's ``quirks.padding``. An unpadded stem may have an
            even kernel equal to its stride (ConvNeXt's 4x4/4 patchify stem).
        norm: Whether the stem conv is followed by the network's norm (SqueezeNet has none).
        bias: Whether the stem conv has a bias (SqueezeNet's does).
    """

    channels: int
    kernel: int = 3
    stride: int = 2
    act: str = ""
    scale: bool = True
    padding: str = ""
    norm: bool = True
    bias: bool = False

    def __post_init__(self) -> None:
        _int(self, "channels", low=1, high=MAX_WIDTH)
        _kernel(self, "kernel", patch=self.padding == "valid")
        _int(self, "stride", low=1, high=4)
        _str(self, "act")
        _bool(self, "scale")
        _str(self, "padding", ("",) + PADDINGS + ("valid",))
        _bool(self, "norm")
        _bool(self, "bias")


@dataclass(frozen=True)
class Stage:
    """A run of ``depth`` blocks of one type; the first block carries the stride.

    Which fields a stage holds depends on its block type: every type reads ``block``,
    ``depth``, ``channels`` and ``stride`` (:data:`COMMON_STAGE_FIELDS`), and each declares
    the others it reads (``BlockType.stage_fields``). A field the block type does not read
    must stay at its default: setting it is refused, rather than silently ignored, and a
    genome file leaves it out. ``channels`` is required of every stage; a block type whose
    width follows from its input (``pool``, ``dense``, ``norm_act``, ``van_norm``...) does
    not read it, so there it is free (the zoo records the width, or 1).

    Attributes:
        block: Registered block type (``conv``, ``ds``, ``mbconv``, ``fused``, ...).
        depth: Number of blocks before depth scaling.
        channels: Output channels before width scaling.
        stride: Stride of the first block.
        kernel: Kernel size of the spatial convolution.
        expand: Expansion ratio of the block's middle width over its input width.
        mid_channels: Explicit middle width (MobileNetV3's tables list it directly);
            0 derives it from ``expand``.
        se: Squeeze-excitation ratio (0 = none), of the width named by ``Quirks.se_base``.
        act: Activation name; empty means the network's ``act``.
        skip: Whether the block adds an identity shortcut when shapes allow.
        pw_act: Whether a depthwise-separable block activates after its pointwise
            conv (MobileNetV1 does; EfficientNet's first block does not).
        group_width: Channels per group of a grouped conv (RegNet's g, ResNeXt's
            width per group); 0 means no grouping.
        bottleneck: Bottleneck ratio b of residual bottleneck blocks: the middle width
            is ``channels / b`` (RegNet; ResNet-50 has b = 4).
        cell: A cell genotype for ``cell`` stages (NASNet, PNASNet, AmoebaNet):
            ``[op_a, in_a, op_b, in_b, combine]`` per node, then ``[concat, i, ...]``
            (:mod:`search_spaces.blocks.cell`); empty otherwise. In a cell stage
            ``channels`` is the cell's filter count ``F``, not its output width.
        growth: Growth rate ``k`` of ``dense`` stages (DenseNet): every layer appends ``k``
            channels to its input, so a dense stage's width is its input's plus
            ``depth * k`` and its ``channels`` is ignored; 0 for other blocks.
        groups: Groups of a block's grouped pointwise convs (ShuffleNet v1's ``g``); 1 = none.
        branches: Widths of the convs of a multi-branch block, in the order its block type
            documents (Inception modules: GoogLeNet's ``#1x1, #3x3 reduce, #3x3, #5x5
            reduce, #5x5, pool proj``); empty for other blocks.
        edges: The op on every edge of a densely connected cell, edge ``i <- j`` (node ``i``
            reads node ``j``) in the order ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, ...``: the order
            of a NAS-Bench-201 arch string (:mod:`search_spaces.blocks.nb201`); empty for other blocks.
    """

    block: str
    depth: int
    channels: int
    stride: int = 1
    kernel: int = 3
    expand: float = 1.0
    mid_channels: int = 0
    se: float = 0.0
    act: str = ""
    skip: bool = True
    pw_act: bool = False
    group_width: int = 0
    bottleneck: float = 1.0
    cell: tuple[tuple[str | int, ...], ...] = ()
    growth: int = 0
    groups: int = 1
    branches: tuple[int, ...] = ()
    edges: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _str(self, "block")
        if not self.block:
            raise GenomeError("block must name a block type, got ''", "block")
        _int(self, "depth", low=1, high=MAX_DEPTH)
        _int(self, "channels", low=1, high=MAX_WIDTH)
        _int(self, "stride", low=1, high=4)
        given = []
        for name, default, check in _STAGE_CHECKS:
            if getattr(self, name) is not default:  # the default object itself is valid and normalised
                check(self)
                given.append(name)
        if given:
            _check_read(self, given)


#: The checks of a stage's optional fields, in order, with each field's default. A search decodes thousands
#: of stages that leave most fields at their defaults, so a field holding its default object is not checked.
_STAGE_CHECKS: tuple[tuple[str, Any, Callable[[Stage], None]], ...] = tuple(
    (name, Stage.__dataclass_fields__[name].default, check) for name, check in (
        ("kernel", lambda s: _kernel(s, "kernel", patch=True)),
        ("expand", lambda s: _float(s, "expand", low=0.0, high=MAX_RATIO, low_open=True)),
        ("mid_channels", lambda s: _int(s, "mid_channels", low=0, high=MAX_WIDTH)),
        ("se", lambda s: _float(s, "se", low=0.0, high=1.0, high_open=True)),
        ("act", lambda s: _str(s, "act")),
        ("skip", lambda s: _bool(s, "skip")),
        ("pw_act", lambda s: _bool(s, "pw_act")),
        ("group_width", lambda s: _int(s, "group_width", low=0, high=MAX_WIDTH)),
        ("bottleneck", lambda s: _float(s, "bottleneck", low=0.0, high=MAX_RATIO, low_open=True)),
        ("cell", lambda s: object.__setattr__(s, "cell", _cell(s.cell))),
        ("growth", lambda s: _int(s, "growth", low=0, high=MAX_WIDTH)),
        ("groups", lambda s: _int(s, "groups", low=1, high=MAX_WIDTH)),
        ("branches", lambda s: object.__setattr__(s, "branches", _widths(s.branches, "branches"))),
        ("edges", lambda s: object.__setattr__(s, "edges", _names(s.edges, "edges"))),
    ))


@dataclass(frozen=True)
class Head:
    """Everything after the last stage: 1x1 conv, global pooling, classifier.

    Attributes:
        channels: Width of the 1x1 conv before pooling (0 = no conv), before width scaling.
        hidden: Width of a fully connected hidden layer after pooling (MobileNetV3), 0 = none.
        hidden_act: Activation of the hidden layer; empty means the network's ``act``.
        dropout: Dropout rate before the classifier.
        pre_act: Activation on the features just before pooling (NASNet and PNASNet end
            with a ReLU on the last cell's output); empty for none.
        conv_classifier: The classifier is a 1x1 conv (with bias) and the network's
            activation *before* the global pooling, after the dropout (SqueezeNet), instead
            of a linear layer after it; ``hidden`` must then be 0.
        pool_norm: Whether the pooled features pass through the network's norm before the
            classifier (ConvNeXt's final LayerNorm; needs a norm that accepts ``(N, C)``).
    """

    channels: int = 1280
    hidden: int = 0
    hidden_act: str = ""
    dropout: float = 0.0
    pre_act: str = ""
    conv_classifier: bool = False
    pool_norm: bool = False

    def __post_init__(self) -> None:
        _int(self, "channels", low=0, high=MAX_WIDTH)
        _int(self, "hidden", low=0, high=MAX_WIDTH)
        _str(self, "hidden_act")
        _str(self, "pre_act")
        _bool(self, "conv_classifier")
        _bool(self, "pool_norm")
        if self.conv_classifier and self.hidden:
            raise GenomeError(f"hidden must be 0 with a conv classifier, got {self.hidden!r}", "hidden")
        _float(self, "dropout", low=0.0, high=1.0, high_open=True)


@dataclass(frozen=True)
class Network:
    """A whole network: stem, stages, head, input and scaling.

    Attributes:
        name: Identifier (zoo name or a search's trial name).
        stem: The first convolution.
        stages: The body, in order.
        head: Pooling and classifier.
        resolution: Default input size (square).
        num_classes: Classifier outputs.
        in_channels: Input image channels.
        act: Default activation name.
        width_mult: Channel multiplier (EfficientNet's ``beta ** phi``).
        depth_mult: Layer-count multiplier (EfficientNet's ``alpha ** phi``).
        drop_path: Stochastic-depth rate of the last block; block ``i`` of ``n`` uses
            ``drop_path * i / n`` (Huang et al. 2016, as the EfficientNet code schedules it).
        norm: Normalisation settings.
        quirks: Reference-implementation details.
    """

    name: str
    stem: Stem
    stages: tuple[Stage, ...]
    head: Head = field(default_factory=Head)
    resolution: int = 224
    num_classes: int = 1000
    in_channels: int = 3
    act: str = "relu"
    width_mult: float = 1.0
    depth_mult: float = 1.0
    drop_path: float = 0.0
    norm: Norm = field(default_factory=Norm)
    quirks: Quirks = field(default_factory=Quirks)

    def __post_init__(self) -> None:
        _name(self, "name")
        if not isinstance(self.stem, Stem):
            raise GenomeError(f"stem must be a Stem, got {type(self.stem).__name__}", "stem")
        stages = tuple(self.stages) if isinstance(self.stages, (list, tuple)) else self.stages
        if not isinstance(stages, tuple) or not stages:
            raise GenomeError("stages must be a non-empty list of stages", "stages")
        for i, stage in enumerate(stages):
            if not isinstance(stage, Stage):
                raise GenomeError(f"stages[{i}] must be a Stage, got {type(stage).__name__}", f"stages[{i}]")
        object.__setattr__(self, "stages", stages)
        for name, kind in (("head", Head), ("norm", Norm), ("quirks", Quirks)):
            if not isinstance(getattr(self, name), kind):
                raise GenomeError(f"{name} must be a {kind.__name__}", name)
        _int(self, "resolution", low=1, high=MAX_RESOLUTION)
        _int(self, "num_classes", low=1, high=MAX_WIDTH)
        _int(self, "in_channels", low=1, high=MAX_WIDTH)
        _str(self, "act")
        _float(self, "width_mult", low=0.0, high=MAX_RATIO, low_open=True)
        _float(self, "depth_mult", low=0.0, high=MAX_RATIO, low_open=True)
        blocks = sum(self.depths())
        if blocks > MAX_BLOCKS:
            raise GenomeError(f"depth_mult {self.depth_mult:g} times the stage depths gives {blocks} blocks, "
                              f"more than the {MAX_BLOCKS} supported", "depth_mult")
        _float(self, "drop_path", low=0.0, high=1.0, high_open=True)


    def depths(self, per_stage: Sequence[float] | None = None) -> tuple[int, ...]:
        """Layer count of every stage after depth scaling: the one home of the depth-folding rule.

        Stage ``i`` has ``round_repeats(depth_i, depth_mult * per_stage[i], quirks.depth_rounding)``
        layers (Tan & Le 2019, eq. 3, the reference code's ``round_repeats``); ``per_stage``
        (default all 1) is a further multiplier per stage, as EfficientNetV2's stage-wise
        scaling gives later stages more (Tan & Le 2021, sec. 3.4).
        """
        mode = self.quirks.depth_rounding
        if per_stage is None:
            return tuple(round_repeats(s.depth, self.depth_mult, mode) for s in self.stages)
        if len(per_stage) != len(self.stages):
            raise ValueError(f"per_stage needs one multiplier per stage ({len(self.stages)}), got {len(per_stage)}")
        return tuple(round_repeats(s.depth, self.depth_mult * m, mode) for s, m in zip(self.stages, per_stage))

    def folded(self, per_stage: Sequence[float] | None = None) -> Network:
        """The same network with the scaled depths (:meth:`depths`) written into its stages and ``depth_mult`` 1."""
        stages = tuple(s if s.depth == d else replace(s, depth=d) for s, d in zip(self.stages, self.depths(per_stage)))
        return replace(self, stages=stages, depth_mult=1.0)
