"""``python -m nas.export CHECKPOINT --format onnx|torchscript``: export a trained network, checked against PyTorch.

The checkpoint is a ``nas.train`` run directory (its ``best.safetensors``) or a weights file. The
export is written beside the checkpoint (or to ``--out``) only after its outputs were compared
with PyTorch's on random inputs: within ``--tolerance`` (default 1e-4, absolute, on the logits)
for every input, or the command fails and writes nothing. ONNX files are checked by running them
in onnxruntime, TorchScript files by loading them back with ``torch.jit.load``::

    python -m nas.export runs/found --format onnx            # runs/found/<name>.onnx
    python -m nas.export runs/found/last.safetensors --format torchscript --weights model
"""

from __future__ import annotations

import argparse
import os

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from nas.cli import Parser, integer, path, run
from search_spaces.errors import UserInputError

__all__ = ["FORMATS", "export", "main"]

PROG = "nas.export"
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}  #: format -> file suffix


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Export a nas.train checkpoint to ONNX or TorchScript and check that the "
                                      "exported model's outputs equal PyTorch's.")
    p.add_argument("checkpoint", type=path, metavar="CHECKPOINT", help="a nas.train run directory or .safetensors file")
    p.add_argument("--format", choices=tuple(FORMATS), default="onnx", help="onnx (default) or torchscript")
    p.add_argument("--out", type=path, help="output file (default: beside the checkpoint, named after the network)")
    p.add_argument("--weights", choices=("auto", "model", "ema"), default="auto",
                   help="the checkpoint's EMA weights when it has them (auto, default), or either")
    p.add_argument("--resolution", type=integer(8, 4096), help="input size (default: the size it was validated at)")
    p.add_argument("--opset", type=integer(7, 30), default=18, help="ONNX opset (default 18)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest absolute difference of any logit from PyTorch's (default 1e-4)")
    p.add_argument("--checks", type=integer(1, 100), default=3, help="random input batches compared (default 3)")
    return p


def _onnx(model: object, example: object, file: Path, opset: int) -> Callable[[object], object]:
    import torch

    try:
        import onnxruntime
    except ImportError:
        raise UserInputError("ONNX export is checked with onnxruntime, which is not installed: pip install onnx "
                             "onnxruntime onnxscript") from None
    with torch.no_grad():
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(model, (example,), str(file), input_names=["images"], output_names=["logits"],
                          dynamic_shapes=({0: batch},), opset_version=opset, dynamo=True, verbose=False,
                          external_data=False)  # one self-contained file (protobuf's limit, 2 GB, is far off)
    session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(["logits"], {"images": x.numpy()})[0])


def _torchscript(model: object, example: object, file: Path, opset: int) -> Callable[[object], object]:
    import torch

    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(file))
    loaded = torch.jit.load(str(file), map_location="cpu")
    return lambda x: loaded(x).detach()


_WRITERS = {"onnx": _onnx, "torchscript": _torchscript}


def export(checkpoint: str | os.PathLike[str], fmt: str, out: Path | None = None, weights: str = "auto",
           resolution: int | None = None, opset: int = 18, tolerance: float = 1e-4, checks: int = 3) -> tuple[Path, float]:
    """Export a checkpoint and check it; return ``(file, largest absolute difference from PyTorch)``.

    Raises:
        UserInputError: unreadable checkpoint, unknown format, or an export whose outputs differ
            from PyTorch's by more than ``tolerance`` (then nothing is written).
    """
    import torch

    from nas.training.checkpoint import read_checkpoint

    if fmt not in _WRITERS:
        raise UserInputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not tolerance > 0:
        raise UserInputError(f"--tolerance must be a positive number, got {tolerance!r}")
    ckpt = read_checkpoint(checkpoint)
    model = ckpt.model(weights).float()
    genome = ckpt.genome()
    size = resolution or int(ckpt.meta["data"].get("eval_resolution") or ckpt.meta["data"]["resolution"])
    target = Path(out) if out else ckpt.path.parent / f"{genome.name}{FORMATS[fmt]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(2, genome.in_channels, size, size, generator=gen)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=FORMATS[fmt], dir=target.parent)
    os.close(fd)
    try:
        run_exported = _WRITERS[fmt](model, example, Path(tmp), opset)
        worst = 0.0
        for batch in (2, 1, 5)[:checks] + (3,) * max(0, checks - 3):
            x = torch.randn(batch, genome.in_channels, size, size, generator=gen)
            with torch.no_grad():
                expected = model(x)
            got = run_exported(x)
            worst = max(worst, float((got - expected).abs().max()))
        if not worst <= tolerance:
            raise UserInputError(f"the {fmt} export of {genome.name} differs from PyTorch by {worst:.3g} (tolerance "
                                 f"{tolerance:g}); nothing was written")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target, worst


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    file, worst = export(args.checkpoint, args.format, args.out, args.weights, args.resolution, args.opset,
                         args.tolerance, args.checks)
    checker = "onnxruntime" if args.format == "onnx" else "torch.jit.load"
    print(f"wrote {file} ({args.format}); checked with {checker} on {args.checks} random batches: largest "
          f"difference from PyTorch {worst:.2e} (tolerance {args.tolerance:g})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())



