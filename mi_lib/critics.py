r"""Critic networks :math:`t_\theta` for the variational bounds.

The seeds' critic is a multilayer perceptron with ELU activations, two hidden
layers of 100 units, weights drawn from :math:`\mathcal{N}(0, 0.02^2)` and zero
biases, so that :math:`t_\theta \approx 0` at the start of training. Every
critic returns one value per sample: a tensor of shape ``(n,)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._checks import check_positive_int, check_seed


def mlp(
    in_dim: int,
    out_dim: int = 1,
    hidden: int = 100,
    depth: int = 2,
    sigma: float | None = 0.02,
) -> nn.Sequential:
    """A perceptron with ``depth`` ELU hidden layers of ``hidden`` units.

    Weights start as :math:`\\mathcal{N}(0, \\sigma^2)` and biases as zero, as
    in the seeds; ``sigma=None`` keeps PyTorch's default initialisation
    (uniform, scaled by :math:`1/\\sqrt{\\text{fan-in}}`), which starts the
    critic away from zero and skips the slow first epochs of training.
    """
    for value, name in [(in_dim, "in_dim"), (out_dim, "out_dim"), (hidden, "hidden")]:
        check_positive_int(value, name)
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 0:
        raise ValueError(
            f"depth must be an integer >= 0 (the number of hidden layers), "
            f"got {depth!r}."
        )
    sizes = [in_dim] + [hidden] * depth + [out_dim]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(a, b)
        if sigma is not None:
            nn.init.normal_(linear.weight, std=sigma)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


def _check_input(z: Tensor, dim: int, name: str) -> None:
    if z.ndim != 2 or z.shape[1] != dim:
        raise ValueError(
            f"{name} has shape {tuple(z.shape)} but this critic takes samples of "
            f"shape (n, {dim})."
        )


class Critic(nn.Module):
    """A critic :math:`t(z)` of one sample ``z`` of shape ``(n, dim)``.

    Used to estimate :math:`D(P_Z \\| P_{Z'})` from samples of ``Z`` and ``Z'``.
    """

    def __init__(
        self, dim: int, hidden: int = 100, depth: int = 2, sigma: float | None = 0.02
    ):
        super().__init__()
        self.dim = dim
        self.net = mlp(dim, 1, hidden, depth, sigma)

    def forward(self, z: Tensor) -> Tensor:
        _check_input(z, self.dim, "z")
        return self.net(z).squeeze(-1)


class JointCritic(nn.Module):
    """The seeds' critic :math:`t(x, y)` of the concatenated pair ``[x, y]``."""

    def __init__(
        self,
        x_dim: int = 1,
        y_dim: int = 1,
        hidden: int = 100,
        depth: int = 2,
        sigma: float | None = 0.02,
    ):
        super().__init__()
        self.x_dim, self.y_dim = x_dim, y_dim
        self.net = mlp(x_dim + y_dim, 1, hidden, depth, sigma)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_input(x, self.x_dim, "x")
        _check_input(y, self.y_dim, "y")
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x has {x.shape[0]} rows but y has {y.shape[0]}; the critic scores "
                "pairs (x_i, y_i), so pass as many rows of each."
            )
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)

    def pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        """The matrix :math:`[t(x_i, y_j)]_{ij}` of shape ``(len(x), len(y))``."""
        _check_input(x, self.x_dim, "x")
        _check_input(y, self.y_dim, "y")
        n, m = x.shape[0], y.shape[0]
        xx = x[:, None, :].expand(n, m, self.x_dim)
        yy = y[None, :, :].expand(n, m, self.y_dim)
        return self.net(torch.cat([xx, yy], dim=-1)).squeeze(-1)


class SeparableCritic(nn.Module):
    r"""The separable critic :math:`t(x, y) = f(x)^\top g(y)`.

    ``f`` and ``g`` are perceptrons into :math:`\mathbb{R}^{\text{embed}}`; all
    pairwise scores cost one matrix product, which suits InfoNCE.
    """

    def __init__(
        self,
        x_dim: int = 1,
        y_dim: int = 1,
        embed: int = 16,
        hidden: int = 100,
        depth: int = 2,
        sigma: float | None = 0.02,
    ):
        super().__init__()
        self.x_dim, self.y_dim = x_dim, y_dim
        self.f = mlp(x_dim, embed, hidden, depth, sigma)
        self.g = mlp(y_dim, embed, hidden, depth, sigma)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_input(x, self.x_dim, "x")
        _check_input(y, self.y_dim, "y")
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x has {x.shape[0]} rows but y has {y.shape[0]}; pass as many of each."
            )
        return (self.f(x) * self.g(y)).sum(-1)

    def pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        """The matrix :math:`[f(x_i)^\\top g(y_j)]_{ij}`."""
        _check_input(x, self.x_dim, "x")
        _check_input(y, self.y_dim, "y")
        return self.f(x) @ self.g(y).T


def seeded(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build ``factory()`` under ``torch.manual_seed(seed)`` without touching
    the global random state, so that a critic's initial weights depend on
    ``seed`` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_seed(seed))
        return factory()


def minee_critics(
    x_dim: int, y_dim: int, *, seed: int = 0, **options
) -> tuple[JointCritic, Critic, Critic]:
    r"""MI-NEE's three critics :math:`t_{XY}(x, y)`, :math:`t_X(x)`, :math:`t_Y(y)`.

    Their initial weights are seeded with ``seed``, ``seed + 1`` and
    ``seed + 2``, so the triple depends on ``seed`` alone; ``options``
    (``hidden``, ``depth``, ``sigma``) go to each of them.
    """
    return (
        seeded(lambda: JointCritic(x_dim, y_dim, **options), seed),
        seeded(lambda: Critic(x_dim, **options), seed + 1),
        seeded(lambda: Critic(y_dim, **options), seed + 2),
    )
