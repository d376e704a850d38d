r"""SMILE with all pairs of a batch as negatives (Song & Ermon, 2020).

Each iteration scores the matrix :math:`S_{ij} = t(x_i, y_j)` of a minibatch
of :math:`B` joint pairs: the diagonal holds the joint pairs and the
:math:`B(B-1)` off-diagonal entries are pairs of the product of marginals, so
no resampling is needed and a separable critic :math:`f(x)^\top g(y)` costs one
matrix product. The critic is trained with the Jensen-Shannon bound,

.. math::  -\frac1B \sum_i \operatorname{softplus}(-S_{ii})
   - \frac1{B(B-1)} \sum_{i \ne j} \operatorname{softplus}(S_{ij}),

whose maximiser is the log density ratio
:math:`\log \frac{p(x, y)}{p(x)\,p(y)}` itself (joint and product terms weigh
the same), and whose terms grow only linearly in :math:`t`, so that training
stays stable however large the MI. Two estimates use the trained critic on
all pairs of the evaluation samples:

- ``"plugin"``: the mean of :math:`t` over the joint pairs, which estimates
  :math:`I(X;Y) = E_P[\log \frac{dP}{dQ}]` directly when :math:`t` is the log
  density ratio, with no exponential term;
- ``"smile"``: DV with the product values clipped to :math:`[-\tau, \tau]`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_positive
from ..critics import SeparableCritic, mlp, seeded
from .base import Trainer, refuse_keyword, sample_pair

#: Rows of the evaluation score matrix computed at once, which bounds memory.
EVAL_ROWS = 1024


def js_all_pairs(scores: Tensor) -> Tensor:
    """The JS bound on the score matrix of a batch: diagonal (joint pairs)
    against off-diagonal entries (product pairs), each side averaged."""
    b = scores.shape[0]
    diag = scores.diagonal()
    off = (F.softplus(scores).sum() - F.softplus(diag).sum()) / (b * (b - 1))
    return -F.softplus(-diag).mean() - off


class AllPairsTrainer(Trainer):
    r"""Train a critic with the JS bound on all pairs of every batch; estimate
    on all pairs of the evaluation samples.

    Parameters
    ----------
    x, y : arrays of shape (n, d_x) and (n, d_y)
        Joint samples: row ``i`` of ``x`` and of ``y`` form one pair.
    critic : nn.Module with ``pairwise(x, y)``, optional
        Defaults to a :class:`~mi_lib.critics.SeparableCritic`.
    estimator : ``"plugin"`` or ``"smile"``
        What :meth:`estimate` returns (see the module docstring).
    clip : float > 0
        SMILE's clipping threshold :math:`\tau` (5).
    **options
        ``batch_size`` (needs at least 2), ``lr``, ``eval_data``, ``seed``,
        ``device``, ``log_dir``, ``progress``, ``ema``: see
        :class:`~mi_lib.trainers.base.Trainer`.
    """

    def __init__(
        self,
        x,
        y,
        critic: nn.Module | None = None,
        *,
        estimator: str = "plugin",
        clip: float = 5.0,
        seed: int = 0,
        **options,
    ):
        refuse_keyword(options, "critics", "AllPairsTrainer trains one critic=.")
        self.estimator = check_choice(estimator, "estimator", ("plugin", "smile"))
        self.clip = check_positive(clip, "clip", example="such as 5.0")
        x, y = sample_pair(x, y, ("x", "y"), paired=True)
        if critic is None:
            critic = seeded(lambda: SeparableCritic(x.shape[1], y.shape[1]), seed)
        if not hasattr(critic, "pairwise"):
            raise TypeError(
                "AllPairsTrainer scores all pairs of a batch; give the critic a "
                "pairwise(x, y) method (SeparableCritic and JointCritic have one)."
            )
        self.critic = critic
        super().__init__([critic], (x, y), paired=True, seed=seed, **options)
        if min(self.batch_size, x.shape[0]) < 2:
            raise ValueError(
                "AllPairsTrainer needs batches of at least 2 pairs (the product "
                "pairs are the off-diagonal ones); pass batch_size >= 2."
            )
        self.x, self.y = self.data
        self.x_eval, self.y_eval = self.eval_data

    def batches(self, rows: Tensor):
        for r in rows:
            yield self.x[r], self.y[r]

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return -js_all_pairs(self.critic.pairwise(x, y))

    @torch.no_grad()
    def score_matrix(self, x: Tensor, y: Tensor) -> Tensor:
        """:math:`[t(x_i, y_j)]_{ij}`, computed in blocks of rows."""
        return torch.cat(
            [self.critic.pairwise(xs, y) for xs in x.split(EVAL_ROWS)], dim=0
        )

    @torch.no_grad()
    def js(self) -> float:
        """The JS bound (the training objective) on all pairs of the
        evaluation samples."""
        return js_all_pairs(self.score_matrix(self.x_eval, self.y_eval)).item()

    @torch.no_grad()
    def smile(self) -> float:
        """SMILE on all pairs of the evaluation samples."""
        s = self.score_matrix(self.x_eval, self.y_eval).double()
        m = s.shape[0]
        off = s.clamp(-self.clip, self.clip)
        off.diagonal().fill_(-math.inf)
        lme = torch.logsumexp(off.flatten(), 0) - math.log(m * (m - 1))
        return (s.diagonal().mean() - lme).item()

    @torch.no_grad()
    def estimate(self) -> float:
        """The plug-in estimate (mean of the critic on the evaluation pairs) or
        SMILE (on all pairs of the evaluation samples)."""
        if self.estimator == "smile":
            return self.smile()
        x, y = self.x_eval, self.y_eval
        return (
            torch.cat(
                [
                    self.critic(xs, ys)
                    for xs, ys in zip(
                        x.split(EVAL_ROWS), y.split(EVAL_ROWS), strict=True
                    )
                ]
            )
            .double()
            .mean()
            .item()
        )


class SkipSeparableCritic(SeparableCritic):
    r"""A separable critic with linear skips and marginal terms,

    .. math::  t(x, y) = \big(f(x) + A x\big)^\top \big(g(y) + B y\big)
       + a(x) + b(y),

    where :math:`f, g, a, b` are perceptrons and :math:`A, B` linear maps. The
    log density ratio of any distribution has marginal terms :math:`a(x) +
    b(y)`, which a plain :math:`f(x)^\top g(y)` must spend embedding
    dimensions on; the linear skips give the bilinear part :math:`x^\top
    A^\top B y` from the first iteration. ``square=True`` also feeds
    :math:`z \odot z` to :math:`a` and :math:`b`.
    """

    def __init__(
        self, x_dim=1, y_dim=1, embed=32, hidden=64, depth=2, sigma=None, square=False
    ):
        super().__init__(x_dim, y_dim, embed, hidden, depth, sigma)
        self.square = square
        k = 2 if square else 1
        self.skip_x = nn.Linear(x_dim, embed)
        self.skip_y = nn.Linear(y_dim, embed)
        self.a = mlp(k * x_dim, 1, hidden, depth, sigma)
        self.b = mlp(k * y_dim, 1, hidden, depth, sigma)

    def _marginal(self, net, z):
        return net(torch.cat([z, z * z], 1) if self.square else z).squeeze(-1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        fx, gy = self.f(x) + self.skip_x(x), self.g(y) + self.skip_y(y)
        return (fx * gy).sum(-1) + self._marginal(self.a, x) + self._marginal(self.b, y)

    def pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        fx, gy = self.f(x) + self.skip_x(x), self.g(y) + self.skip_y(y)
        return (
            fx @ gy.T
            + self._marginal(self.a, x)[:, None]
            + self._marginal(self.b, y)[None, :]
        )
