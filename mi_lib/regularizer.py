r"""Mutual information as a term of another model's loss.

A model (an encoder, a GAN's generator) produces ``x`` from ``z`` and is
trained on a loss :math:`L(\phi)` of its parameters :math:`\phi`, to which an
estimate of :math:`I(X;Z)` is added, as in MINE's GAN experiment
(Belghazi et al., 2018, section 5):

.. math::  L_{\text{reg}}(\phi) = L(\phi) - \beta\, \hat I_\theta(X_\phi; Z).

:class:`MIRegularizer` holds the critic :math:`t_\theta` and its bound.
Its ``forward(x, z)`` returns :math:`\hat I_\theta` on a batch, differentiable
in ``x`` and ``z`` (so the gradient reaches :math:`\phi`), and
:meth:`MIRegularizer.update` takes one step of the critic's own optimiser,
maximising the bound on detached inputs, so that the upstream model is left
untouched. Alternate the two, as a GAN alternates its discriminator and
generator.

The MI term's gradient is often far larger than the loss's, and then swamps
it. :func:`adaptive_clip` rescales it (MINE's *adaptive gradient clipping*):
with :math:`g_L = \nabla_\phi L` and :math:`g_I = \nabla_\phi \hat I`,

.. math::  g = g_L - \beta\, s\, g_I, \qquad
   s = \frac{\min(\lVert g_L\rVert, \lVert g_I\rVert)}{\lVert g_I\rVert},

so that :math:`\lVert s\, g_I\rVert = \min(\lVert g_L\rVert, \lVert g_I\rVert)
\le \lVert g_L\rVert`: the MI term may steer the model but never outweigh its
loss (for :math:`\beta \le 1`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import bounds as _bounds
from ._checks import check_choice, check_fraction, check_positive_int
from .critics import JointCritic, SeparableCritic

#: The bounds :class:`MIRegularizer` accepts.
BOUNDS = ("mine", "dv", "nwj", "js", "smile", "infonce")
#: The critics it builds by name.
CRITICS = ("joint", "separable")


def _check_batch(a, name: str, dim: int) -> None:
    if not isinstance(a, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (batch, {dim}), got "
            f"{type(a).__name__}; convert it with torch.as_tensor({name}) and keep "
            "it in the graph of the upstream model."
        )
    if a.ndim != 2 or a.shape[1] != dim:
        raise ValueError(
            f"{name} has shape {tuple(a.shape)} but this regulariser was built for "
            f"samples of shape (batch, {dim}); reshape it, e.g. "
            f"{name}.reshape(len({name}), -1), or build the regulariser with the "
            "right dimensions."
        )


class MIRegularizer(nn.Module):
    r"""A critic and its bound, to put :math:`\hat I(X;Z)` into a loss.

    Parameters
    ----------
    x_dim, z_dim : int
        Dimensions of the two variables (``x`` of shape ``(n, x_dim)``, ``z`` of
        shape ``(n, z_dim)``).
    bound : str
        ``"mine"`` (the DV bound, its critic trained with MINE's moving average,
        :func:`mi_lib.bounds.mine_loss`), ``"dv"``, ``"nwj"``, ``"js"`` (its
        value is the JS lower bound, not an MI estimate), ``"smile"`` or
        ``"infonce"`` (at most :math:`\log n`).
    critic : str or nn.Module
        ``"joint"`` (:class:`mi_lib.JointCritic` of ``[x, z]``),
        ``"separable"`` (:class:`mi_lib.SeparableCritic`, :math:`f(x)^\top
        g(z)`), or a module with ``critic(x, z)`` of shape ``(n,)`` (and
        ``critic.pairwise(x, z)`` for InfoNCE).
    hidden, depth, embed, sigma
        The architecture of a critic built by name (see :mod:`mi_lib.critics`);
        ``sigma=None`` keeps PyTorch's initialisation.
    lr : float
        The step size of the critic's Adam optimiser.
    ema : float
        MINE's smoothing factor :math:`\beta` of the moving average (``bound="mine"``).
    clip : float
        SMILE's :math:`\tau`.
    seed : int or None
        Seeds the critic's initialisation and the shuffles that pair ``x`` with
        the ``z`` of other samples.

    Samples of the product of marginals are the batch's pairs
    :math:`(x_i, z_{\pi(i)})` for a random permutation :math:`\pi`; InfoNCE
    scores all pairs :math:`(x_i, z_j)` instead.
    """

    def __init__(
        self,
        x_dim: int,
        z_dim: int,
        *,
        bound: str = "mine",
        critic: str | nn.Module = "joint",
        hidden: int = 100,
        depth: int = 2,
        embed: int = 16,
        sigma: float | None = None,
        lr: float = 1e-3,
        ema: float = 0.99,
        clip: float = 5.0,
        seed: int | None = 0,
    ):
        super().__init__()
        self.x_dim = check_positive_int(x_dim, "x_dim")
        self.z_dim = check_positive_int(z_dim, "z_dim")
        self.bound = check_choice(bound, "bound", BOUNDS)
        self.ema = check_fraction(ema, "ema")
        if not (isinstance(lr, numbers.Real) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}.")
        if not (isinstance(clip, numbers.Real) and clip > 0):
            raise ValueError(f"clip must be a positive number, got {clip!r}.")
        self.clip = float(clip)
        if isinstance(critic, nn.Module):
            self.critic = critic
        else:
            check_choice(critic, "critic", CRITICS)
            options = dict(hidden=hidden, depth=depth, sigma=sigma)
            if critic == "separable":
                options["embed"] = embed
            kind = JointCritic if critic == "joint" else SeparableCritic
            with torch.random.fork_rng(devices=[]):  # leave the global state alone
                if seed is not None:
                    torch.manual_seed(seed)
                self.critic = kind(x_dim, z_dim, **options)
        if self.bound == "infonce" and not hasattr(self.critic, "pairwise"):
            raise ValueError(
                "bound='infonce' scores every pair (x_i, z_j): pass a critic with a "
                "pairwise(x, z) method, e.g. critic='separable'."
            )
        self.optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr)
        self.generator = torch.Generator()
        self.generator.manual_seed(0 if seed is None else seed + 1)
        self.log_avg: Tensor | None = None  # MINE's moving average, log domain
        self.steps = 0

    # ------------------------------------------------------------------
    def _check(self, x, z) -> None:
        _check_batch(x, "x", self.x_dim)
        _check_batch(z, "z", self.z_dim)
        if x.shape[0] != z.shape[0]:
            raise ValueError(
                f"x has {x.shape[0]} rows but z has {z.shape[0]}; row i of x must "
                "be computed from row i of z, so pass the same batch of both."
            )
        if x.shape[0] < 2:
            raise ValueError(
                f"x and z hold {x.shape[0]} sample; the product of marginals is "
                "formed by pairing samples within the batch, so pass at least 2."
            )

    def _scores(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Critic values on the joint pairs and on shuffled pairs, or for
        InfoNCE the score matrix twice."""
        if self.bound == "infonce":
            s = self.critic.pairwise(x, z)
            return s, s
        perm = torch.randperm(len(z), generator=self.generator).to(z.device)
        return self.critic(x, z), self.critic(x, z[perm])

    def _value(self, t_p: Tensor, t_q: Tensor) -> Tensor:
        if self.bound in ("mine", "dv"):
            return _bounds.dv(t_p, t_q)
        if self.bound == "infonce":
            return _bounds.infonce(t_p)
        if self.bound == "smile":
            return _bounds.smile(t_p, t_q, self.clip)
        return getattr(_bounds, self.bound)(t_p, t_q)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        r"""The estimate :math:`\hat I(X;Z)` on the batch, differentiable in x and z.

        Its value is the bound with the current critic. Its gradient is that
        of the bound, except for ``"mine"``, whose gradient uses the moving
        average :math:`\bar L'` of the critic's updates in place of the batch's
        :math:`L' = \frac1n\sum_j e^{t(x_j, z_{\pi(j)})}`:
        :math:`\nabla \frac1n\sum_i t(x_i, z_i) - \nabla L' / \bar L'`, the
        smaller-bias gradient MINE uses (before the first update it is DV's).
        """
        self._check(x, z)
        t_p, t_q = self._scores(x, z)
        value = self._value(t_p, t_q)
        if self.bound == "mine" and self.log_avg is not None:
            surrogate = t_p.mean() - torch.exp(
                _bounds.log_mean_exp(t_q, "t_q") - self.log_avg.to(t_q.device)
            )
            value = value.detach() + surrogate - surrogate.detach()
        return value

    def update(self, x: Tensor, z: Tensor, steps: int = 1) -> float:
        """Take ``steps`` Adam steps of the critic on the batch; return the last
        estimate (before its step).

        ``x`` and ``z`` are detached first, so no gradient reaches the model
        upstream: only the critic's parameters change. With ``bound="mine"`` the
        critic follows MINE's loss with the moving average ``ema``.
        """
        check_positive_int(steps, "steps")
        self._check(x, z)
        x, z = x.detach(), z.detach()
        self.critic.train()
        for _ in range(steps):
            t_p, t_q = self._scores(x, z)
            value = self._value(t_p, t_q)
            if self.bound == "mine":
                loss, self.log_avg = _bounds.mine_loss(t_p, t_q, self.log_avg, self.ema)
            else:
                loss = -value
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.steps += 1
        return float(value.detach())


# ----------------------------------------------------------------------
# adaptive gradient clipping


def _check_scalar(t, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"{name} must be a scalar torch.Tensor in the autograd graph, got "
            f"{type(t).__name__}; do not call .item() or float() on it."
        )
    if t.numel() != 1:
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}; pass a scalar (reduce it with "
            f"{name}.mean() or {name}.sum())."
        )
    if not t.requires_grad:
        raise ValueError(
            f"{name} does not require grad, so it has no gradient in the parameters; "
            "compute it from the model's output without .detach() or torch.no_grad()."
        )


def _check_parameters(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    if not isinstance(parameters, Iterable):
        raise TypeError(
            f"parameters must be an iterable of tensors, got {type(parameters)}; "
            "pass e.g. generator.parameters()."
        )
    params = list(parameters)
    if not params:
        raise ValueError(
            "parameters is empty (an exhausted generator?); pass e.g. "
            "list(generator.parameters())."
        )
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ValueError(
                f"parameters[{i}] is not a tensor that requires grad; pass the "
                "model's trainable parameters, e.g. generator.parameters()."
            )
    return params


def global_norm(grads: Iterable[Tensor | None]) -> Tensor:
    r""":math:`\lVert g\rVert = \sqrt{\sum_k \lVert g_k\rVert^2}` over the
    tensors of a gradient (``None`` entries count as zero)."""
    squares = [g.detach().pow(2).sum() for g in grads if g is not None]
    if not squares:
        return torch.tensor(0.0)
    return torch.stack(squares).sum().sqrt()


def clip_scale(loss_norm, mi_norm) -> float:
    r"""MINE's adaptive scale :math:`s = \min(\lVert g_L\rVert, \lVert g_I\rVert)
    / \lVert g_I\rVert` (1 when :math:`g_I = 0`: nothing to scale)."""
    loss_norm, mi_norm = float(loss_norm), float(mi_norm)
    if not (math.isfinite(loss_norm) and math.isfinite(mi_norm)):
        raise ValueError(
            f"gradient norms must be finite, got {loss_norm} and {mi_norm}; the loss "
            "or the MI estimate diverged (lower the learning rates)."
        )
    if mi_norm == 0:
        return 1.0
    return min(loss_norm, mi_norm) / mi_norm


@dataclass
class ClippedGradients:
    """The result of :func:`adaptive_clip`.

    Attributes
    ----------
    gradients : list of Tensor
        :math:`g_L - \\beta s g_I`, one tensor per parameter (zeros where
        neither term depends on it).
    scale : float
        :math:`s` (1 when ``clip=False``).
    loss_norm, mi_norm : float
        :math:`\\lVert g_L\\rVert` and :math:`\\lVert g_I\\rVert`.
    """

    gradients: list
    scale: float
    loss_norm: float
    mi_norm: float


def adaptive_clip(
    loss: Tensor,
    mi: Tensor,
    parameters,
    *,
    beta: float = 1.0,
    clip: bool = True,
    assign: bool = True,
) -> ClippedGradients:
    r"""The gradient of :math:`L - \beta\, s\, \hat I` in ``parameters``.

    ``loss`` is the model's own loss :math:`L` (to minimise) and ``mi`` the MI
    estimate :math:`\hat I` (to maximise), both scalar tensors computed from
    the model whose ``parameters`` they share. With :math:`g_L = \nabla L` and
    :math:`g_I = \nabla \hat I`, the result is

    .. math::  g = g_L - \beta\, s\, g_I, \qquad
       s = \frac{\min(\lVert g_L\rVert, \lVert g_I\rVert)}{\lVert g_I\rVert},

    or :math:`s = 1` with ``clip=False`` (plain regularisation). The norms
    are global, over all of ``parameters``. With ``assign=True`` the gradient
    is added to each parameter's ``.grad``, as ``backward()`` would, ready for
    ``optimizer.step()``. Both graphs are freed.
    """
    _check_scalar(loss, "loss")
    _check_scalar(mi, "mi")
    if not isinstance(beta, numbers.Real) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}.")
    params = _check_parameters(parameters)
    g_loss = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    g_mi = torch.autograd.grad(mi, params, allow_unused=True)
    reached_loss = [g is not None for g in g_loss]
    reached_mi = [g is not None for g in g_mi]
    if not any(reached_loss):
        raise ValueError(
            "loss does not depend on any of parameters; pass the parameters of the "
            "model whose loss it is (e.g. generator.parameters())."
        )
    if not any(reached_mi):
        raise ValueError(
            "mi does not depend on any of parameters: compute it from the model's "
            "output without .detach(), e.g. mi = regularizer(generator(z), z), and "
            "pass that model's parameters."
        )
    if not any(a and b for a, b in zip(reached_loss, reached_mi, strict=True)):
        raise ValueError(
            "loss and mi share no parameter, so clipping one against the other "
            "means nothing; pass the parameters of the model both are computed from."
        )
    loss_norm, mi_norm = global_norm(g_loss), global_norm(g_mi)
    scale = clip_scale(loss_norm, mi_norm) if clip else 1.0
    grads = []
    for p, a, b in zip(params, g_loss, g_mi, strict=True):
        g = torch.zeros_like(p) if a is None else a.detach().clone()
        if b is not None:
            g -= beta * scale * b.detach()
        grads.append(g)
    if assign:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone() if p.grad is None else p.grad + g
    return ClippedGradients(grads, scale, float(loss_norm), float(mi_norm))
