"""``python -m nas.info NAME_OR_YAML ...``: a genome's resolved stage table and exact cost.

Each argument is a zoo model name or a genome YAML file. For each one the genome is
resolved (rounding, depth scaling, strides) and costed by pure arithmetic, so no torch
module is ever built and even EfficientNet-B7 prints instantly::

    python -m nas.info efficientnet_b0 mobilenet_v3_large --resolution 192
    python -m nas.info found.yaml --json

The same behaviour is installed as the ``nas-info`` console script (``main``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import search_spaces as ss
from nas.cli import Parser, integer, run
from search_spaces import zoo
from search_spaces.units import human
from search_spaces.blocks import BlockSpec, Plan, plan_cost
from search_spaces.cost import block_costs
from search_spaces.errors import GenomeError, UnknownNameError, UserInputError
from search_spaces.files import NAME_MAX, check_path
from search_spaces.genome import MAX_RESOLUTION
from search_spaces.layers import ConvSpec, Cost, LinearSpec, Size

__all__ = ["MACS_NOTE", "Report", "Row", "format_text", "human", "load_genome", "main", "report"]

PROG = "nas.info"
MACS_NOTE = "MACs = multiply-accumulates of conv+linear layers, what the EfficientNet/MnasNet papers call FLOPs"
SE_NOTE = "SE = squeeze-excitation width (a/b: first block / the others when they differ; - = none)"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Row:
    """One line of the stage table: the stem, one stage, the head conv or the classifier.

    Attributes:
        stage: ``stem``, the stage's index in the genome's ``stages`` (``"0"``, ``"1"``...),
            ``head`` (the 1x1 conv before pooling) or ``classifier`` (pooling and linear layers).
        block: Block type (``mbconv``, ``fused``, ``ds``, ``conv``) or layer kind.
        repeats: Number of blocks after depth scaling.
        kernel: Kernel size of the spatial conv (``None`` for the classifier).
        stride: Stride of the first block (``None`` for the classifier).
        expand: Middle width over input width of the first block of an MBConv-family stage
            (``None`` for other blocks: a bottleneck's or cell's middle width is not an expansion).
        mid: Middle width of the first block (a cell's filter count F); the hidden layer's
            width for a classifier that has one (MobileNetV3); ``None`` where not applicable.
        cin: Input channels.
        cout: Output channels (classes for the classifier).
        se: Squeeze-excitation width of the first block, 0 for none.
        se_rest: SE width of the other blocks of the stage (``None`` for a single block; the
            resolver gives every block after the first the same widths).
        act: Activation name (``""`` for none).
        output: Spatial size (height, width) after this row.
        params: Parameters of the row's layers.
        macs: Multiply-accumulates of the row's layers.
        activations: Output elements of the row's conv and linear layers.
    """

    stage: str
    block: str
    repeats: int
    kernel: int | None
    stride: int | None
    expand: float | None
    mid: int | None
    cin: int
    cout: int
    se: int
    se_rest: int | None
    act: str
    output: Size
    params: int
    macs: int
    activations: int


@dataclass(frozen=True)
class Report:
    """What ``nas.info`` says about one argument.

    Attributes:
        name: The genome's name.
        source: ``zoo`` or the file the genome was read from.
        resolution: Input size (square) the cost is computed at.
        cost: Exact params, MACs and activations for one image.
        rows: The stage table, stem to classifier; its costs sum to ``cost``.
        reference: For zoo models, the implementation the genome equals (``timm:...``); empty for files.
    """

    name: str
    source: str
    resolution: int
    cost: Cost
    rows: tuple[Row, ...]
    reference: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for ``--json``."""
        return {"name": self.name, "source": self.source, "reference": self.reference or None,
                "resolution": self.resolution, "params": self.cost.params, "macs": self.cost.macs,
                "activations": self.cost.activations,
                "table": [{**asdict(r), "output": list(r.output)} for r in self.rows]}


def load_genome(arg: str) -> tuple[ss.Network, str, str]:
    """The genome ``arg`` names, where it came from, and its zoo reference (empty for files).

    An existing file, or any argument ending in ``.yaml``/``.yml``, is read as a genome file;
    anything else is a zoo name.

    Raises:
        UserInputError: naming ``arg``: unreadable or invalid file, or neither a file nor a zoo model.
    """
    looks_like_a_file = arg.lower().endswith(YAML_SUFFIXES) or os.sep in arg
    if looks_like_a_file or len(os.fsencode(arg)) > NAME_MAX:
        check_path(arg, "genome file")  # an over-long or NUL-holding path is one sentence, not an OSError
    if arg and Path(arg).is_dir():  # Path("") is "."
        raise UserInputError(f"{arg}: is a directory, not a genome file or a zoo model")
    if Path(arg).is_file() or looks_like_a_file:
        genome = ss.load(arg)
        try:
            ss.cost(genome)  # rules that need the whole network (strides, widths, sizes, names) are checked now
        except GenomeError as err:
            raise GenomeError(f"{arg}: {err}", err.field) from None
        return genome, arg, ""
    try:
        entry = zoo.entry(arg)
    except UnknownNameError as err:
        hint = str(err).partition("; ")[2] or str(err)  # the registry's "did you mean ...?" part
        raise UserInputError(f"{arg!r} is neither a zoo model nor a genome file; {hint}") from None
    return entry.genome, "zoo", entry.reference


def _block_row(label: str, costed: list[tuple[Any, Cost, Size]]) -> Row:
    first, total = costed[0][0], Cost()
    for _, part, _ in costed:
        total = total + part
    blocks = [block for block, _, _ in costed]
    se_rest = {getattr(b, "se", 0) for b in blocks[1:]}
    mid = getattr(first, "mid", getattr(first, "filters", None))
    # Expansion is an MBConv-family notion; a bottleneck's or a cell's middle width is not "expanded".
    expand = first.mid / first.cin if isinstance(first, BlockSpec) else None
    return Row(label, first.kind, len(blocks), getattr(first, "kernel", None), first.stride, expand, mid,
               first.cin, first.cout, getattr(first, "se", 0), se_rest.pop() if len(se_rest) == 1 else None,
               getattr(first, "act", "relu" if first.kind == "cell" else ""), costed[-1][2],
               total.params, total.macs, total.activations)


def _conv_row(label: str, conv: ConvSpec, size: Size) -> tuple[Row, Size]:
    part, out = conv.cost(size)
    return Row(label, "conv", 1, conv.kernel, conv.stride, None, None, conv.cin, conv.cout, 0, None, conv.act,
               out, part.params, part.macs, part.activations), out


def report(genome: ss.Network, source: str = "", resolution: int | None = None, reference: str = "") -> Report:
    """Resolve ``genome`` at ``resolution`` (``None``: its own) into a :class:`Report`; builds no module."""
    spec = ss.resolve(genome, resolution)
    size: Size = (spec.resolution, spec.resolution)
    row, size = _conv_row("stem", spec.stem, size)
    rows = [row]
    costed = iter(block_costs(spec, size))
    for i, blocks in enumerate(spec.stages):
        rows.append(_block_row(str(i), [next(costed) for _ in blocks]))
        size = rows[-1].output
    layers = list(spec.head.layers)
    while layers and isinstance(layers[0][1], ConvSpec):  # convs before pooling: the "head" row(s)
        row, size = _conv_row("head", layers.pop(0)[1], size)
        rows.append(row)
    cin = rows[-1].cout
    part, _ = plan_cost(Plan(tuple(layers)), size)
    linears = [layer for _, layer in layers if isinstance(layer, LinearSpec)]
    acts = [getattr(layer, "name", "") for name, layer in layers if name.endswith("act")]
    hidden = linears[0].cout if len(linears) > 1 else None
    rows.append(Row("classifier", "+".join(["pool"] + ["fc"] * len(linears)), 1, None, None, None, hidden, cin,
                    spec.num_classes, 0, None, ",".join(acts), (1, 1), part.params, part.macs, part.activations))
    total = ss.cost(spec)
    return Report(genome.name, source, spec.resolution, total, tuple(rows), reference)


def _fmt(value: float | int | None) -> str:
    return "-" if value is None else f"{round(value, 2):g}"


def _text_rows(rep: Report) -> list[list[str]]:
    table = [["stage", "block", "repeats", "kernel", "stride", "expand", "in -> out", "SE", "act", "output",
              "params", "MACs"]]
    for r in rep.rows:
        se = "-" if not r.se and not r.se_rest else str(r.se)
        if r.se_rest is not None and r.se_rest != r.se:
            se = f"{r.se}/{r.se_rest}"
        hidden = f"{r.mid} -> " if r.stage == "classifier" and r.mid else ""
        table.append([r.stage, r.block, str(r.repeats), _fmt(r.kernel), _fmt(r.stride), _fmt(r.expand),
                      f"{r.cin} -> {hidden}{r.cout}", se, r.act or "-", f"{r.output[0]}x{r.output[1]}",
                      human(r.params), human(r.macs)])
    return table


def _align(table: list[list[str]], left: tuple[int, ...] = (0, 1, 8)) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            .rstrip() for row in table]


def format_text(rep: Report) -> str:
    """The header line and the aligned stage table of one report."""
    c = rep.cost
    head = (f"{rep.name} ({rep.source}), {rep.resolution}x{rep.resolution} input: "
            f"params {c.params} ({human(c.params)}), MACs {c.macs} ({human(c.macs)}), "
            f"activations {c.activations} ({human(c.activations)})")
    return "\n".join([head, *_align(_text_rows(rep))])


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Print each model's exact cost (params, MACs, activations) and its resolved stage table "
                    "(after width/depth scaling and rounding). Nothing is built: the cost is pure arithmetic.",
        epilog=f"{MACS_NOTE}. Params count every parameter of the built module (norm affine included); "
               "activations count output elements of conv and linear layers. Stage numbers are indices into "
               "the genome's `stages` list; 'expand' is the first block's middle width over its input width. "
               f"{SE_NOTE}. Bad input exits with code 2 and a one-line error on stderr.")
    parser.add_argument("models", nargs="+", metavar="NAME_OR_YAML",
                        help="a zoo model (" + ", ".join(zoo.names()) + ") or a genome YAML file (an existing "
                             "file, or any path ending in .yaml/.yml); several are printed in order")
    parser.add_argument("-r", "--resolution", type=integer(1, MAX_RESOLUTION), metavar="R",
                        help="input size R x R (positive integer) for every model; default: each genome's own")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list with one object per argument (even for one): name, source, "
                             "reference, resolution, params, macs, activations and the table as a list of rows")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    reports = []  # all arguments are checked before anything is printed
    for arg in args.models:
        genome, source, reference = load_genome(arg)
        reports.append(report(genome, source, args.resolution, reference))
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=2))
    else:
        print("\n\n".join(format_text(r) for r in reports))
        print(f"\n{MACS_NOTE}.\n{SE_NOTE}.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nas.info`` on ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Bad input (unknown model, unreadable or invalid genome file, bad ``--resolution``)
    prints one ``nas.info: error: ...`` line (argparse adds its usage line) and returns 2.
    """
    return run(_main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
