"""``python -m nas.train GENOME_OR_NAME --recipe NAME --epochs N --out DIR``: train a network with a published recipe.

The network is a zoo name, a genome YAML file or a search's ``found.yaml``; the recipe is one of
the built-in ones (``efficientnet``, ``efficientnetv2``, ``rsb-a1``, ``rsb-a2``, ``rsb-a3``,
``convnext``) or a recipe YAML file, and ``--set FIELD=VALUE`` changes single fields::

    python -m nas.train found.yaml --recipe efficientnet --epochs 10 --out runs/found
    python -m nas.train efficientnet_b0 --recipe rsb-a3 --set crop_scale=[0.35,1] --epochs 5 --out runs/b0
    python -m nas.train resnet50 --init resnet50.pth --recipe convnext --epochs 3 --out runs/r50
    torchrun --nproc_per_node 2 -m nas.train found.yaml --recipe efficientnet --epochs 10 --out runs/ddp

``--out`` receives ``last.safetensors`` and ``best.safetensors`` (weights; their metadata holds
the genome, recipe and data settings), ``metrics.csv``, ``curves.png``, ``genome.yaml`` and
``recipe.yaml``. ``--resume`` continues after an interruption to the same final weights.
Then ``python -m nas.evaluate DIR`` scores a checkpoint and ``python -m nas.export DIR`` exports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from nas.cli import MAX_SEED, Parser, integer, path, run
from search_spaces.errors import UserInputError

__all__ = ["main"]

PROG = "nas.train"


def _parser() -> argparse.ArgumentParser:
    from nas.training.recipes import recipe_names

    p = Parser(prog=PROG, description="Train a network (zoo name, genome file or found.yaml) with a published recipe; "
                                      "checkpoints, metrics.csv and curves.png go to --out.")
    p.add_argument("model", metavar="GENOME_OR_NAME", help="a zoo model name, a genome YAML file or found.yaml")
    p.add_argument("--recipe", default="efficientnet",
                   help=f"a built-in recipe ({', '.join(recipe_names())}) or a recipe YAML file (default efficientnet)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change one recipe field (YAML value), repeatable: --set lr=0.1 --set crop_scale=[0.35,1]")
    p.add_argument("--epochs", type=integer(1, 100_000), help="epochs to train (default: the recipe's)")
    p.add_argument("--out", type=path, required=True, help="run directory (checkpoints, metrics.csv, curves.png)")
    p.add_argument("--data", help="fashion-mnist (default), cifar10 or cifar10:DIR")
    p.add_argument("--resolution", type=integer(8, 1024), default=28, help="training image size (default 28)")
    p.add_argument("--eval-resolution", type=integer(0, 1024), default=0,
                   help="validation image size (default: the training size)")
    p.add_argument("--batch-size", type=integer(2, 65_536), default=128,
                   help="global batch size; the recipe's learning rate is rescaled to it (default 128)")
    p.add_argument("--subset", type=integer(0, 100_000_000), default=0,
                   help="train on only this many images (default 0: all not held out)")
    p.add_argument("--val-size", type=integer(0, 10_000_000), default=0,
                   help="held-out training images validated after every epoch (default 0: 10%%)")
    p.add_argument("--eval-split", choices=("val", "test"), default="val",
                   help="what each epoch validates on: held-out training images (default), or the test split, "
                        "which trains a final model on every training image (report last.safetensors then: best "
                        "would be chosen on the test split)")
    p.add_argument("--init", type=path, help="starting weights: a timm/torchvision state dict file or a checkpoint "
                                             "of nas.train (the classifier is re-made when the classes differ)")
    p.add_argument("--init-source", help="the weights' layout for --init when the model is not a zoo name "
                                         "(e.g. timm_efficientnet, torchvision_resnet)")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="also write the last checkpoint this often within an epoch; 0: at epoch ends (default 10)")
    p.add_argument("--seed", type=integer(0, MAX_SEED), default=0, help="seed of weights, data order, augmentation")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--threads", type=integer(1, 1024), help="torch CPU threads (default: torch's)")
    p.add_argument("--resume", action="store_true", help="continue the last checkpoint in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--stop-after", type=integer(1, 10**9), help=argparse.SUPPRESS)  # tests: a preempted job
    return p


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"--set expects FIELD=VALUE, got {pair!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserInputError(f"--set {key}: {value!r} is not a YAML value") from None
    return out


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from nas.info import load_genome
    from nas.search.session import check_device
    from nas.training.fit import FitSettings, apply_recipe, fit
    from nas.training.recipes import Recipe, load_recipe
    from search_spaces.codec import to_yaml
    from search_spaces.files import atomic_write_text

    recipe = load_recipe(args.recipe)
    if args.set:
        recipe = Recipe.from_dict({**recipe.to_dict(), **_overrides(args.set)}, where=f"recipe {recipe.name} with --set")
    if not args.checkpoint_minutes >= 0:
        raise UserInputError(f"--checkpoint-minutes must be >= 0, got {args.checkpoint_minutes!r}")
    if args.init_source and not args.init:
        raise UserInputError("--init-source names the layout of --init's file; give --init FILE too")
    if args.resume and args.init:
        raise UserInputError("--init starts a new run; --resume continues one from its own checkpoint (give one)")
    check_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    genome, _, _ = load_genome(args.model)
    from nas.data import open_dataset

    classes = open_dataset(args.data).num_classes
    trained = apply_recipe(genome, recipe, num_classes=classes)
    init = None
    if args.init:
        from nas.training.pretrained import init_from

        init = init_from(args.init, trained, args.init_source, log=lambda text: print(text, file=sys.stderr))
    settings = FitSettings(genome=trained, recipe=recipe, epochs=args.epochs or int(round(recipe.epochs)),
                           batch_size=args.batch_size, data=args.data, resolution=args.resolution,
                           eval_resolution=args.eval_resolution, subset=args.subset, val_size=args.val_size,
                           eval_split=args.eval_split, seed=args.seed, checkpoint_minutes=args.checkpoint_minutes,
                           device=args.device)
    out = Path(args.out)
    if not args.resume:
        from search_spaces.files import prepare_dir

        prepare_dir(out)
        if not (out / "last.safetensors").exists():
            atomic_write_text(out / "genome.yaml", to_yaml(trained))
            atomic_write_text(out / "recipe.yaml", yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    try:
        result = fit(settings, out, resume=args.resume, init=init, stop_after=args.stop_after or 0,
                     progress=not args.quiet, log=lambda text: print(text, file=sys.stderr))
    except FloatingPointError as diverged:  # the recipe's settings (its learning rate) for this network and data
        kept = " (the last checkpoint before it is kept; --resume continues from it)" if (
            out / "last.safetensors").exists() else ""
        raise UserInputError(f"{diverged}{kept}") from None
    if not result["finished"]:
        print(f"stopped at step {result['step']} of {result['total']}; checkpoint in {out} (continue with --resume)")
        return 0
    print(f"trained {trained.name} with recipe {recipe.name}: {settings.epochs} epochs, {result['total']} steps, "
          f"best validation accuracy {result['best_accuracy']:.4f}; checkpoints in {out} "
          f"(best.safetensors, last.safetensors)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: bad input -> one line on stderr, exit code 2."""
    return run(_main, argv, PROG)


if __name__ == "__main__":
    raise SystemExit(main())
