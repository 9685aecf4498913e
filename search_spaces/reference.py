"""The reference implementations the zoo equals (timm, torchvision), and how we count them.

Used by the tests as oracles, by ``scaling.compound --reference`` for its comparison
columns and by the benchmarks. timm is imported only when a timm model is asked for.
"""

from __future__ import annotations

import warnings

import torch

from search_spaces import zoo

__all__ = ["counted_macs", "n_params", "reference_model"]


#: Keyword arguments of torchvision builders whose defaults differ from the architecture the zoo
#: equals: GoogLeNet and Inception v3 without their auxiliary classifiers (training-only heads);
#: ``init_weights=False`` skips their slow truncated-normal initialisation (no effect on shapes).
TORCHVISION_KWARGS: dict[str, dict[str, bool]] = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}


def reference_model(name: str, device: str | None = None) -> torch.nn.Module:
    """The reference implementation of zoo model ``name``, randomly initialised (on ``device``).

    ``name`` may also be a reference itself (``timm:tf_efficientnet_b0``, ``torchvision:resnet50``).

    Raises:
        ValueError: if the zoo model has no reference implementation.
    """
    reference = name if ":" in name else zoo.entry(name).reference
    if not reference:
        raise ValueError(f"zoo model {name!r} has no reference implementation (it matches its paper's table)")
    library, model = reference.split(":")
    with torch.device(device or "cpu"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if library == "timm":
            import timm

            return timm.create_model(model, pretrained=False)
        import torchvision

        return getattr(torchvision.models, model)(weights=None, **TORCHVISION_KWARGS.get(model, {}))


def n_params(module: torch.nn.Module) -> int:
    """Number of parameters of a module (BN affine parameters included, buffers not)."""
    return sum(p.numel() for p in module.parameters())


def counted_macs(module: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass of a random input as FlopCounterMode counts them (total / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.randn(*shape))
    return counter.get_total_flops() // 2
