r"""Variational lower bounds on KL divergence and mutual information.

Every function here is pure: it takes critic outputs (tensors) and returns a
scalar tensor that can be differentiated. ``t_p`` holds :math:`t(Z_i)` for
samples of :math:`P` (the joint distribution when estimating MI) and ``t_q``
holds :math:`t(Z'_j)` for samples of :math:`Q` (the product of marginals).
Exponentials are taken in the log domain, so critic values in the hundreds
neither overflow nor lose precision.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_fraction, check_positive


def _check_scores(t: Tensor, name: str, ndim: int = 1) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of critic values, got {type(t)}."
        )
    if t.ndim != ndim or t.numel() == 0:
        shape = "(n,)" if ndim == 1 else "(n, n)"
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}; pass a non-empty tensor of shape "
            f"{shape} (call .squeeze(-1) on an (n, 1) critic output)."
        )


def log_mean_exp(t: Tensor, name: str = "t") -> Tensor:
    r""":math:`\log \frac1n \sum_i e^{t_i}`, computed as ``logsumexp - log n``."""
    _check_scores(t, name)
    return torch.logsumexp(t, dim=0) - math.log(t.shape[0])


def dv(t_p: Tensor, t_q: Tensor) -> Tensor:
    r"""The Donsker-Varadhan bound on :math:`D(P\|Q)`.

    .. math::  \frac1n \sum_i t(Z_i) - \log \frac1{n'} \sum_j e^{t(Z'_j)}
    """
    _check_scores(t_p, "t_p")
    return t_p.mean() - log_mean_exp(t_q, "t_q")


def nwj(t_p: Tensor, t_q: Tensor) -> Tensor:
    r"""The Nguyen-Wainwright-Jordan (f-divergence) bound on :math:`D(P\|Q)`.

    .. math::  \frac1n \sum_i t(Z_i) - \frac1{n'} \sum_j e^{t(Z'_j) - 1}

    It is the DV bound with :math:`\log u` replaced by its tangent
    :math:`u/e`, so ``nwj <= dv`` for the same critic values.
    """
    _check_scores(t_p, "t_p")
    return t_p.mean() - torch.exp(log_mean_exp(t_q, "t_q") - 1)


def js(t_p: Tensor, t_q: Tensor) -> Tensor:
    r"""The Jensen-Shannon (f-GAN) bound used to train SMILE's critic.

    .. math::  -\frac1n \sum_i \operatorname{softplus}(-t(Z_i))
       - \frac1{n'} \sum_j \operatorname{softplus}(t(Z'_j))

    It is maximised by :math:`t = \log \frac{dP}{dQ}`, like DV and NWJ, but its
    terms grow only linearly in :math:`t`, so its gradient has low variance.
    """
    _check_scores(t_p, "t_p")
    _check_scores(t_q, "t_q")
    return -F.softplus(-t_p).mean() - F.softplus(t_q).mean()


def smile(t_p: Tensor, t_q: Tensor, clip: float = 5.0) -> Tensor:
    r"""The SMILE estimate (Song & Ermon, 2020): DV with clipped reference values.

    .. math::  \frac1n \sum_i t(Z_i)
       - \log \frac1{n'} \sum_j e^{\operatorname{clip}(t(Z'_j), -\tau, \tau)}

    Clipping at :math:`\tau` = ``clip`` bounds the variance of the second term.
    The returned value is this estimate, but its gradient is that of :func:`js`:
    maximising the clipped DV directly would let :math:`t` grow without bound
    on the joint samples while the clipped term stays put.
    """
    clip = check_positive(clip, "clip", example="such as 5.0")
    _check_scores(t_p, "t_p")
    value = t_p.mean() - log_mean_exp(torch.clamp(t_q, -clip, clip), "t_q")
    surrogate = js(t_p, t_q)
    return surrogate + (value - surrogate).detach()


def infonce(scores: Tensor) -> Tensor:
    r"""The InfoNCE bound on :math:`I(X;Y)` from the score matrix of a batch.

    ``scores[i, j]`` is :math:`t(x_i, y_j)`; the diagonal holds the joint pairs.

    .. math::  \frac1n \sum_i \Big[t(x_i, y_i)
       - \log \frac1n \sum_j e^{t(x_i, y_j)}\Big] \le \log n
    """
    _check_scores(scores, "scores", ndim=2)
    n = scores.shape[0]
    if scores.shape[1] != n:
        raise ValueError(f"scores must be square, got shape {tuple(scores.shape)}.")
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(n)


def mine_loss(
    t_p: Tensor, t_q: Tensor, log_avg: Tensor | None, beta: float
) -> tuple[Tensor, Tensor]:
    r"""MINE's loss with a moving average in the denominator of the gradient.

    With :math:`L' = \frac1{n'}\sum_j e^{t(Z'_j)}` on the batch, the average is
    updated as :math:`\bar L'_j = \beta \bar L'_{j-1} + (1 - \beta) L'_j`
    (``log_avg`` holds :math:`\log \bar L'_{j-1}`, ``None`` on the first step)
    and the loss is

    .. math::  -\frac1n \sum_i t(Z_i) + \frac{L'}{\bar L'_j},

    with :math:`\bar L'_j` held constant, so that its gradient is
    :math:`-\nabla \frac1n\sum_i t(Z_i) + \nabla L' / \bar L'_j`: the DV gradient
    with the batch's :math:`L'` in the denominator replaced by its average.

    Returns ``(loss, log_avg)`` with the updated, detached log-average.
    """
    beta = check_fraction(beta, "beta")
    _check_scores(t_p, "t_p")
    lme = log_mean_exp(t_q, "t_q")
    current = lme.detach()
    if log_avg is None:
        new_avg = current
    elif beta == 0:
        new_avg = current
    else:
        new_avg = torch.logaddexp(log_avg + math.log(beta), current + math.log1p(-beta))
    loss = -t_p.mean() + torch.exp(lme - new_avg)
    return loss, new_avg
