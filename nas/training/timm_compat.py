"""The one place that touches timm's internals (DESIGN: third-party internals in one compat module each).

timm's RandAugment ``inc1`` variant (the RSB and ConvNeXt recipes' ``rand-m7-mstd0.5-inc1``)
maps magnitude 10 to ``PosterizeIncreasing`` with 0 bits kept, as TF's augmentation code does
(all bits shifted out: a black image). Pillow 10.4 and later refuse ``bits=0`` with
``ValueError``, so one magnitude draw in a few hundred would end a training run. :func:`patch`
replaces timm's posterize op by one with TF's meaning of 0 bits and the same result otherwise.
"""

from __future__ import annotations

from typing import Any

__all__ = ["patch"]

_PATCHED = False


def _posterize(img: Any, bits_to_keep: int, **_: Any) -> Any:
    """Keep the ``bits_to_keep`` high bits of every pixel; 0 bits keeps none (TF: a black image)."""
    from PIL import Image, ImageOps

    if bits_to_keep >= 8:
        return img
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits_to_keep)


def patch() -> None:
    """Install :func:`_posterize` for timm's three posterize op names (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    from timm.data import auto_augment

    table = getattr(auto_augment, "NAME_TO_OP", None)
    if isinstance(table, dict):
        for name in ("Posterize", "PosterizeIncreasing", "PosterizeOriginal"):
            if name in table:
                table[name] = _posterize
    _PATCHED = True
