"""Weights interop: load reference implementations' state dicts into our built modules.

Usage::

    from search_spaces import build, zoo
    from search_spaces.interop import convert_state_dict, load_reference, source_for

    genome = zoo.get("efficientnet_b0")
    source = source_for(zoo.entry("efficientnet_b0").reference)     # "timm_efficientnet"
    model = load_reference(build(genome), timm_model.state_dict(), source)

Sources by name (one module each): ``timm_efficientnet`` (timm's ``EfficientNet`` class:
``tf_efficientnet_b*``, ``tf_efficientnetv2_*``, ``mnasnet_*``, ``mobilenetv1_*``),
``timm_nasnet`` (``nasnetalarge``, ``pnasnet5large``), ``timm_regnet`` (``regnetx_*``,
``regnety_*``), ``timm_resnetv2`` (``resnetv2_*``; its 1x1-conv classifier's weight is taken
as a view of our linear layer's shape), ``torchvision_mobilenet`` (``mobilenet_v2``,
``mobilenet_v3_large``, ``mobilenet_v3_small``), ``torchvision_resnet`` (``resnet*``,
``resnext*``) and ``timm_resnet`` (``seresnet*``, ``seresnext*``; both in
``torchvision_resnet.py``), ``torchvision_densenet`` (``densenet*``),
``torchvision_convnext`` (``convnext_*``), ``torchvision_inception`` (``googlenet``,
``inception_v3``, built without auxiliary classifiers), ``torchvision_shufflenet``
(``shufflenet_v2_*``) and ``torchvision_squeezenet`` (``squeezenet1_0``, ``squeezenet1_1``).
The mapping is derived from the resolved spec's block kinds and layer names, never from
parameter order, and is strict: missing, unused or unmatched keys and shape differences
raise ``UserInputError``.
"""

from search_spaces.interop import (  # noqa: F401  (registration)
    timm_efficientnet,
    timm_nasnet,
    timm_regnet,
    timm_resnetv2,
    torchvision_convnext,
    torchvision_densenet,
    torchvision_inception,
    torchvision_mobilenet,
    torchvision_resnet,
    torchvision_shufflenet,
    torchvision_squeezenet,
)
from search_spaces.interop.base import SOURCES, ModuleMap, Source, convert_state_dict, load_reference, source_for

__all__ = ["SOURCES", "ModuleMap", "Source", "convert_state_dict", "load_reference", "source_for"]
