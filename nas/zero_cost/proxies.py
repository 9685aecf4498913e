"""Training-free ("zero-cost") proxies: one score per untrained network and one batch of real data.

Every proxy is a function ``(model, x, y, loss_fn) -> float`` registered in :data:`PROXIES`;
higher scores are meant to predict higher trained accuracy. Each follows its paper and the
authors' reference code (read, not copied): SamsungLabs/zero-cost-nas (``foresight/pruners``)
for synflow, grad_norm, snip and jacob_cov; BayesWatch/nas-without-training
(``score_networks.py``, ``scores.py``) for NASWOT; SLDGroup/ZiCo
(``ZeroShotProxy/compute_zico.py``) for ZiCo.

Common rules (the registering wrapper applies them, so every proxy gets them):

- The model is left exactly as it was (:func:`nas.zero_cost.state.preserved`): modes,
  batch-norm running statistics, ``requires_grad`` and ``.grad``.
- Gradients come from :func:`torch.autograd.grad` under :func:`torch.enable_grad`, so a
  proxy works inside a caller's ``torch.no_grad()`` and leaves no ``.grad`` behind.
- ``x`` is moved to the model's device and floating dtype, ``y`` to its device.
- Batch norm uses batch statistics, dropout and drop-path are off
  (:func:`nas.zero_cost.state.batch_statistics_mode`), so a score is a deterministic
  function of the weights and the batch.
- Scores are accumulated in float64. A proxy may return NaN or infinity (a singular NASWOT
  kernel, an overflowing synflow); callers decide what that means
  (:class:`nas.evaluators.zero_cost.ZeroCostEvaluator` reports it as that proxy failing).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from nas.zero_cost.state import batch_statistics_mode, preserved, weight_layers
from search_spaces.errors import UserInputError
from search_spaces.registry import Registry

__all__ = ["BINARISED_ACTIVATIONS", "PROXIES", "LossFn", "Proxy", "grad_norm", "jacob_cov", "naswot", "snip",
           "synflow", "zico"]

LossFn = Callable[[Tensor, Tensor], Tensor]
#: ``(model, x, y, loss_fn) -> score``.
Proxy = Callable[..., float]

#: name -> proxy.
PROXIES: Registry[Proxy] = Registry("zero-cost proxy")

#: Activations whose units NASWOT binarises. For each, output > 0 exactly when input > 0,
#: so the code "input > 0" is the paper's "ReLU is active" for ReLU-family units and its
#: natural extension to the smooth ones (SiLU/swish, hard-swish, GELU, Mish, ELU), as later
#: work applying NASWOT to such networks does. Gates (sigmoid, hard-sigmoid) are not units
#: with an on/off region and are not counted.
BINARISED_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.SiLU, nn.Hardswish, nn.GELU, nn.Mish, nn.ELU, nn.CELU,
    nn.SELU)


def _proxy(name: str) -> Callable[[Callable[..., float]], Proxy]:
    """Register a proxy under ``name``, wrapped with the module docstring's common rules."""
    def wrap(fn: Callable[..., float]) -> Proxy:
        @functools.wraps(fn)
        def run(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn = F.cross_entropy, **options: Any) -> float:
            if x.ndim < 2 or x.shape[0] < 2 or y.shape[:1] != x.shape[:1]:
                raise UserInputError(f"{name} needs a batch of at least 2 inputs with one label each, got inputs "
                                     f"{tuple(x.shape)} and labels {tuple(y.shape)}")
            ref = next(model.parameters())
            dtype = ref.dtype if ref.is_floating_point() else x.dtype
            x, y = x.detach().to(ref.device, dtype), y.detach().to(ref.device)
            with preserved(model), torch.enable_grad():
                return float(fn(model, x, y, loss_fn, **options))
        return PROXIES.register(name, run)
    return wrap


def _weights(model: nn.Module) -> list[Tensor]:
    return [m.weight for _, m in weight_layers(model)]


def _grads(output: Tensor, weights: list[Tensor]) -> list[Tensor]:
    """d output / d each weight; a weight the output does not reach gets zeros (as zero-cost-nas)."""
    grads = torch.autograd.grad(output, weights, allow_unused=True)
    return [torch.zeros_like(w) if g is None else g for g, w in zip(grads, weights)]


def _loss_grads(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[list[Tensor], list[Tensor]]:
    """Conv/linear weights and the loss gradient on ``(x, y)``, batch norm on batch statistics."""
    batch_statistics_mode(model)
    weights = _weights(model)
    return weights, _grads(loss_fn(model(x), y), weights)


@_proxy("synflow")
def synflow(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """SynFlow: synaptic saliency of the all-ones input through the absolute-valued network.

    Tanaka et al. 2020, "Pruning neural networks without any data by iteratively conserving
    synaptic flow" (NeurIPS): the synaptic saliency ``S(theta) = dR/dtheta * theta`` of the
    synaptic flow ``R_SF = 1^T (prod_l |theta_l|) 1``; summed over weights, it is the
    ``synflow`` proxy of Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS"
    (ICLR), sec. 3: ``sum_theta |theta * dR/dtheta|``. As their code (``synflow.py``,
    ``@measure('synflow', bn=False)``): every parameter replaced by its absolute value, the
    network in float64 (the flow overflows float32 in deep networks: EfficientNet-B4 at 380
    px reaches ~1e71), batch norm removed (each BN layer passes its input through), one
    all-ones input of ``x``'s shape (batch 1), ``R`` = sum of the outputs, and the score
    summed over conv and linear weights. The labels and ``loss_fn`` are not used.

    The absolute float64 weights live in a dict passed to
    :func:`torch.func.functional_call`, so the model's own parameters and their signs are
    never touched (zero-cost-nas flips them in place on a copy). Dropout and drop-path are
    off: eval mode, as Tanaka et al.'s ``prune_loop`` (whose batch norm, unlike
    zero-cost-nas's, stays in and uses its absolute running statistics).
    """
    model.eval()
    names = [f"{name}.weight" if name else "weight" for name, _ in weight_layers(model)]
    tensors = {n: p.detach().to(torch.float64).abs().requires_grad_(True) for n, p in model.named_parameters()}
    tensors.update({n: b.to(torch.float64) if b.is_floating_point() else b for n, b in model.named_buffers()})
    bypass = [m.register_forward_hook(lambda _m, args, _out: args[0])
              for m in model.modules() if isinstance(m, _BatchNorm)]
    try:
        ones = torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64, device=x.device)
        out = torch.func.functional_call(model, tensors, (ones,))
    finally:
        for handle in bypass:
            handle.remove()
    weights = [tensors[n] for n in dict.fromkeys(names) if n in tensors]
    grads = _grads(out.sum(), weights)
    return sum((w * g).abs().sum() for w, g in zip(weights, grads)).item()


@_proxy("naswot")
def naswot(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """NASWOT: log-determinant of the Hamming kernel of the batch's activation patterns.

    Mellor et al. 2021, "Neural Architecture Search without Training" (ICML), sec. 3: each
    input ``i`` gets a binary code ``c_i`` (1 where a ReLU unit is active), the kernel is
    ``K_H[i, j] = N_A - d_H(c_i, c_j)`` with ``N_A`` the number of units and ``d_H`` the
    Hamming distance, and the score is ``s = log |det K_H|`` (the reference code's
    ``np.linalg.slogdet``). ``K_H`` is
    accumulated over activation layers as ``c c^T + (1 - c)(1 - c)^T``, i.e. agreements.
    As the reference code, a unit's code is "its activation's *input* > 0", read by a
    forward pre-hook on every :data:`BINARISED_ACTIVATIONS` module (in-place activations
    therefore cannot hide it), in train mode (batch statistics). The reference counts only
    ReLUs a backward pass reached; every activation of our networks lies on the path to the
    output, so all count, including those inside squeeze-excitation. The labels and
    ``loss_fn`` are not used.

    Identical codes for two inputs (duplicate images, a dead network) make ``K_H`` singular
    and the score ``-inf``.
    """
    batch_statistics_mode(model)
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def count(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
        codes = args[0].detach().flatten(1) > 0
        units = codes.shape[1]
        # +-1 codes: s s^T = N_A - 2 d_H, so agreements = (N_A + s s^T) / 2. Integer sums stay
        # exact in float32 below 2^24 units per layer; float64 beyond.
        signs = codes.to(torch.float32 if units < 2 ** 24 else torch.float64) * 2 - 1
        kernel.add_(((signs @ signs.T).to(torch.float64) + units) / 2)

    hooks = [m.register_forward_pre_hook(count) for m in model.modules() if isinstance(m, BINARISED_ACTIVATIONS)]
    if not hooks:
        raise ValueError("naswot: the network has no ReLU-family activation to binarise")
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in hooks:
            handle.remove()
    return torch.linalg.slogdet(kernel).logabsdet.item()


@_proxy("jacob_cov")
def jacob_cov(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """Jacobian covariance: NASWOT's first score, from input-gradient correlations.

    Mellor et al. 2020, "Neural Architecture Search without Training" (arXiv:2006.04647v1), as
    Abdelfattah et al. 2021 compute it (``jacob_cov.py``): ``J`` = gradient of the summed
    outputs with respect to each input (one row per input), ``Sigma`` = its correlation
    matrix with eigenvalues ``lambda``, and ``-sum(log(lambda + k) + 1 / (lambda + k))`` with
    ``k = 1e-5``. In train mode (batch statistics). Eigenvalues come from the symmetric
    solver (the reference's general ``eig`` returns the same values). The labels and
    ``loss_fn`` are not used.
    """
    batch_statistics_mode(model)
    inputs = x.clone().requires_grad_(True)
    (jacobian,) = torch.autograd.grad(model(inputs).sum(), inputs)
    eigenvalues = torch.linalg.eigvalsh(torch.corrcoef(jacobian.flatten(1).to(torch.float64)))
    k = 1e-5
    return -(torch.log(eigenvalues + k) + 1.0 / (eigenvalues + k)).sum().item()


@_proxy("grad_norm")
def grad_norm(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """Gradient norm: the sum over conv/linear layers of ``||dL/dW_l||_2``.

    Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS", sec. 3 ("grad_norm"),
    as ``grad_norm.py``: the loss gradient on one batch, in train mode (batch statistics),
    the Euclidean norm per layer weight, summed over layers.
    """
    _, grads = _loss_grads(model, x, y, loss_fn)
    return sum(torch.linalg.vector_norm(g.to(torch.float64)) for g in grads).item()


@_proxy("snip")
def snip(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> float:
    """SNIP connection sensitivity summed over the network: ``sum_w |dL/dw * w|``.

    Lee et al. 2019, "SNIP: Single-shot Network Pruning based on Connection Sensitivity"
    (ICLR), sec. 4.1: the sensitivity of weight ``j`` is ``|dL/dc_j|`` for a multiplicative
    mask ``c`` at ``c = 1``, which equals ``|w_j * dL/dw_j|``. Lee et al. normalise by the
    sum over all weights (every network's total would be 1); Abdelfattah et al. 2021 sum the
    unnormalised values over conv and linear weights (``snip.py``, which differentiates an
    explicit all-ones mask: the same value), as here. One batch, train mode (batch
    statistics).
    """
    weights, grads = _loss_grads(model, x, y, loss_fn)
    return sum((w.to(torch.float64) * g.to(torch.float64)).abs().sum() for w, g in zip(weights, grads)).item()


@_proxy("zico")
def zico(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn, batches: int = 2) -> float:
    """ZiCo: per layer, the log of the summed inverse coefficient of variation of the gradients.

    Li et al. 2023, "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients"
    (ICLR), the proxy's definition: ``sum_l log( sum_{theta in l} E|g_theta| / std(g_theta) )``
    with mean and standard deviation over mini-batches. As ``compute_zico.py``: conv and linear
    weights, train mode, the population standard deviation of the signed gradient
    (``np.std``), weights with zero standard deviation left out, and a layer whose sum is 0
    left out. The reference scores 2 mini-batches (``--maxbatch 2``); here ``x`` is split
    into ``batches`` near-equal parts.

    Args:
        batches: Mini-batches to split ``x`` into (>= 2: a standard deviation needs two).

    Raises:
        UserInputError: fewer than 2 batches, or fewer than 2 inputs per batch (batch norm
            needs two values per channel).
    """
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 2:
        raise UserInputError(f"zico needs at least 2 mini-batches to estimate a gradient's spread, got {batches!r}")
    if x.shape[0] < 2 * batches:
        raise UserInputError(f"zico splits the batch into {batches} mini-batches of at least 2 inputs, so it needs "
                             f"at least {2 * batches} inputs, got {x.shape[0]}")
    batch_statistics_mode(model)
    weights = _weights(model)
    per_layer: list[list[Tensor]] = [[] for _ in weights]
    for xb, yb in zip(torch.tensor_split(x, batches), torch.tensor_split(y, batches)):
        for store, g in zip(per_layer, _grads(loss_fn(model(xb), yb), weights)):
            store.append(g.detach().flatten().to(torch.float64))
    score = 0.0
    for store in per_layer:
        grads = torch.stack(store)
        if not torch.isfinite(grads).all():
            return math.nan  # the reference would silently drop these weights (NaN std fails "> 0")
        std = grads.std(dim=0, correction=0)
        spread = std > 0
        total = (grads.abs().mean(dim=0)[spread] / std[spread]).sum().item()
        if total > 0:
            score += math.log(total)
    return score
