r"""Estimating :math:`I(X;Y)` with a variational bound and the resampling trick.

Each iteration draws a minibatch :math:`B` of joint pairs
:math:`(X_i, Y_i)` and, for the bounds that need them, a minibatch of
product pairs :math:`(X_{J_k}, Y_{K_k})` by resampling (with or without
replacement, see :mod:`mi_lib.resample`). InfoNCE needs no product pairs: it
scores every :math:`(x_i, y_j)` of the batch.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from .. import bounds
from .._checks import check_choice, check_fraction, check_positive, check_positive_int
from ..critics import JointCritic, seeded
from ..resample import offdiagonal_pairs, product_indices
from .base import EVAL_PAIRS, Trainer, refuse_keyword, sample_pair, scores

#: The bounds :class:`MITrainer` maximises, by name: each is a function of the
#: critic's values on joint pairs and on product pairs, except InfoNCE, a
#: function of the matrix of scores of every pair of a batch. ``"mine"`` is
#: DV, trained with MINE's moving average in its gradient (see
#: :func:`mi_lib.bounds.mine_loss`).
BOUNDS = {
    "dv": bounds.dv,
    "mine": bounds.dv,
    "nwj": bounds.nwj,
    "smile": bounds.smile,
    "infonce": bounds.infonce,
}

#: Product pairs scored per forward pass of an estimate, which bounds its memory.
EVAL_CHUNK = 8192


class MITrainer(Trainer):
    r"""Train a critic :math:`t(x, y)` to maximise a lower bound on :math:`I(X;Y)`.

    ``bound`` is one of ``"dv"``, ``"mine"`` (DV with MINE's moving average in
    the gradient, see :func:`mi_lib.bounds.mine_loss`), ``"nwj"``, ``"smile"``
    and ``"infonce"`` (see :data:`BOUNDS`). :meth:`step` returns the same bound
    evaluated on the evaluation pairs (``"mine"`` evaluates DV) against
    ``eval_pairs`` product pairs :math:`(x_i, y_j)`, :math:`i \ne j`, of the
    evaluation samples (all of them when there are fewer), drawn once so that
    successive estimates are comparable.

    Parameters
    ----------
    x, y : arrays of shape (n, d_x) and (n, d_y)
        Joint samples: row ``i`` of ``x`` and of ``y`` form one pair.
    critic : nn.Module, optional
        ``critic(x, y)`` gives ``(n,)`` scores; InfoNCE also calls
        ``critic.pairwise(x, y)``. Defaults to the seeds' :class:`JointCritic`.
    replace : bool
        Resample the product pairs with replacement (default: without).
    beta : float in [0, 1)
        MINE's smoothing factor :math:`\beta` (weight of the past average).
    clip : float > 0
        SMILE's clipping threshold :math:`\tau`.
    eval_pairs : int
        Product pairs for the estimate's second term (50,000).
    **options
        ``batch_size`` (joint pairs per minibatch, 100), ``lr``,
        ``eval_data=(x_eval, y_eval)``, ``seed``, ``device``, ``log_dir``,
        ``progress`` and ``ema``: see :class:`~mi_lib.trainers.base.Trainer`.
    """

    def __init__(
        self,
        x,
        y,
        critic: nn.Module | None = None,
        *,
        bound: str = "dv",
        replace: bool = False,
        beta: float = 0.9,
        clip: float = 5.0,
        eval_pairs: int = EVAL_PAIRS,
        seed: int = 0,
        **options,
    ):
        refuse_keyword(options, "critics", f"{type(self).__name__} trains one critic=.")
        self.bound = check_choice(bound, "bound", BOUNDS)
        self.beta = check_fraction(beta, "beta")
        self.clip = check_positive(clip, "clip", example="such as 5.0")
        eval_pairs = check_positive_int(eval_pairs, "eval_pairs")
        x, y = sample_pair(x, y, ("x", "y"), paired=True)
        if critic is None:
            critic = seeded(lambda: JointCritic(x.shape[1], y.shape[1]), seed)
        self.pairwise = bound == "infonce"  # scores all pairs of a batch
        if self.pairwise and not hasattr(critic, "pairwise"):
            raise TypeError(
                "bound='infonce' scores all pairs of a batch; give the critic a "
                "pairwise(x, y) method (JointCritic and SeparableCritic have one)."
            )
        self.critic = critic
        super().__init__([critic], (x, y), paired=True, seed=seed, **options)
        self.x, self.y = self.data
        self.x_eval, self.y_eval = self.eval_data
        self.replace = bool(replace)
        self.log_avg = None  # MINE's moving average, in the log domain
        self._bound = BOUNDS[bound]
        if self._bound is bounds.smile:
            self._bound = partial(bounds.smile, clip=self.clip)
        self.eval_j, self.eval_k = offdiagonal_pairs(
            self.x_eval.shape[0], eval_pairs, self._eval_generator(), self.device
        )

    def batches(self, rows: Tensor):
        """Joint pairs by ``rows`` and, unless the bound is InfoNCE, as many
        product pairs ``(x[j], y[k])`` resampled for the epoch."""
        if self.pairwise:
            for r in rows:
                yield self.x[r], self.y[r]
            return
        n = self.x.shape[0]
        j, k = product_indices(n, n, self.replace, self.generator, self.device)
        j, k = j[: rows.numel()].view_as(rows), k[: rows.numel()].view_as(rows)
        for r, jr, kr in zip(rows, j, k, strict=True):
            yield self.x[r], self.y[r], self.x[jr], self.y[kr]

    def loss(self, x: Tensor, y: Tensor, x_prod=None, y_prod=None) -> Tensor:
        """Minus the bound on joint pairs ``(x, y)`` and product pairs (MINE:
        its loss with the moving average, which updates :attr:`log_avg`)."""
        if self.pairwise:
            return -self._bound(self.critic.pairwise(x, y))
        t_p, t_q = scores(self.critic, (x, y), (x_prod, y_prod))
        if self.bound == "mine":
            loss, self.log_avg = bounds.mine_loss(t_p, t_q, self.log_avg, self.beta)
            return loss
        return -self._bound(t_p, t_q)

    @torch.no_grad()
    def estimate(self) -> float:
        """The trained bound on the evaluation pairs (DV for ``"mine"``)."""
        if self.pairwise:
            return self._infonce_eval().item()
        t_p = self.critic(self.x_eval, self.y_eval)
        t_q = torch.cat(
            [
                self.critic(self.x_eval[j], self.y_eval[k])
                for j, k in zip(
                    self.eval_j.split(EVAL_CHUNK),
                    self.eval_k.split(EVAL_CHUNK),
                    strict=True,
                )
            ]
        )
        return self._bound(t_p, t_q).item()

    def _infonce_eval(self) -> Tensor:
        """InfoNCE averaged over evaluation blocks of ``batch_size`` pairs.

        Blocks of the training batch size keep the estimate's cap,
        :math:`\\log |B|`, the same as in training.
        """
        size = min(self.batch_size, self.x_eval.shape[0])
        blocks = [
            bounds.infonce(self.critic.pairwise(xs, ys))
            for xs, ys in zip(
                self.x_eval.split(size), self.y_eval.split(size), strict=True
            )
            if xs.shape[0] == size
        ]
        return torch.stack(blocks).mean()
