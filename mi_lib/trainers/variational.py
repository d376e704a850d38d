r"""Estimating :math:`I(X;Y)` with a variational bound and the resampling trick.

Each iteration draws a minibatch :math:`B` of joint pairs
:math:`(X_i, Y_i)` and, for the bounds that need them, a minibatch of
product pairs :math:`(X_{J_k}, Y_{K_k})` by resampling (with or without
replacement, see :mod:`mi_lib.resample`). InfoNCE needs no product pairs: it
scores every :math:`(x_i, y_j)` of the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import bounds
from .._checks import as_samples, check_choice, check_paired, check_positive_int
from ..critics import JointCritic
from ..resample import offdiagonal_pairs, product_indices
from .base import Trainer, batch_slices, eval_samples, scores, seeded

#: The bounds :class:`MITrainer` can maximise.
BOUNDS = ("dv", "mine", "nwj", "smile", "infonce")


class MITrainer(Trainer):
    r"""Train a critic :math:`t(x, y)` to maximise a lower bound on :math:`I(X;Y)`.

    ``bound`` is one of ``"dv"``, ``"mine"`` (DV with MINE's moving average in
    the gradient, see :func:`mi_lib.bounds.mine_loss`), ``"nwj"``, ``"smile"``
    and ``"infonce"``. :meth:`step` returns the same bound evaluated on the
    evaluation pairs (``"mine"`` evaluates DV) against ``eval_pairs`` product
    pairs :math:`(x_i, y_j)`, :math:`i \ne j`, of the evaluation samples (all of
    them when there are fewer), drawn once so that successive estimates are
    comparable.

    Parameters
    ----------
    x, y : arrays of shape (n, d_x) and (n, d_y)
        Joint samples: row ``i`` of ``x`` and of ``y`` form one pair.
    critic : nn.Module, optional
        ``critic(x, y)`` gives ``(n,)`` scores; InfoNCE also calls
        ``critic.pairwise(x, y)``. Defaults to the seeds' :class:`JointCritic`.
    batch_size : int
        Joint pairs per minibatch (100, as in the seeds).
    replace : bool
        Resample the product pairs with replacement (default: without).
    beta : float
        MINE's smoothing factor :math:`\beta` (weight of the past average).
    clip : float
        SMILE's clipping threshold :math:`\tau`.
    eval_data : (x_eval, y_eval), optional
        Held-out pairs for the estimate; the training pairs by default.
    eval_pairs : int
        Product pairs for the estimate's second term.
    ema : float, optional
        Decay of a moving average of the critic's weights, used for the
        estimate (see :class:`~mi_lib.trainers.base.Trainer`); ``None`` (the
        default, as in the seeds) estimates with the trained weights.
    """

    def __init__(
        self,
        x,
        y,
        critic: nn.Module | None = None,
        *,
        bound: str = "dv",
        batch_size: int = 100,
        lr: float = 1e-3,
        replace: bool = False,
        beta: float = 0.9,
        clip: float = 5.0,
        eval_data=None,
        eval_pairs: int = 50_000,
        seed: int = 0,
        device=None,
        log_dir: str | None = None,
        progress: bool = False,
        ema: float | None = None,
    ):
        self.bound = check_choice(bound, "bound", BOUNDS)
        x, y = as_samples(x, "x"), as_samples(y, "y")
        check_paired(x, y)
        if critic is None:
            critic = seeded(lambda: JointCritic(x.shape[1], y.shape[1]), seed)
        if bound == "infonce" and not hasattr(critic, "pairwise"):
            raise TypeError(
                "bound='infonce' scores all pairs of a batch; give the critic a "
                "pairwise(x, y) method (JointCritic and SeparableCritic have one)."
            )
        if not 0 <= beta < 1:
            raise ValueError(f"beta must lie in [0, 1), got {beta!r}.")
        self.critic = critic
        super().__init__(
            [critic],
            lr=lr,
            seed=seed,
            device=device,
            log_dir=log_dir,
            progress=progress,
            ema=ema,
        )
        self.x, self.y = x.to(self.device), y.to(self.device)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.replace, self.beta, self.clip = bool(replace), float(beta), float(clip)
        self.log_avg = None  # MINE's moving average, in the log domain
        self.x_eval, self.y_eval = eval_samples(
            eval_data, (self.x, self.y), self.device, paired=True
        )
        m = self.x_eval.shape[0]
        eval_gen = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.eval_j, self.eval_k = offdiagonal_pairs(
            m, check_positive_int(eval_pairs, "eval_pairs"), eval_gen, self.device
        )

    def _loss(self, xb: Tensor, yb: Tensor, xq: Tensor | None, yq: Tensor | None):
        if self.bound == "infonce":
            return -bounds.infonce(self.critic.pairwise(xb, yb))
        t_p, t_q = scores(self.critic, (xb, yb), (xq, yq))
        if self.bound == "mine":
            loss, self.log_avg = bounds.mine_loss(t_p, t_q, self.log_avg, self.beta)
            return loss
        if self.bound == "smile":
            return -bounds.smile(t_p, t_q, self.clip)
        return -(bounds.dv if self.bound == "dv" else bounds.nwj)(t_p, t_q)

    def _losses_of_epoch(self) -> Tensor:
        n = self.x.shape[0]
        slices = batch_slices(n, self.batch_size)
        idx = torch.randperm(n, generator=self.generator, device=self.device)
        if self.bound != "infonce":
            j, k = product_indices(n, n, self.replace, self.generator, self.device)
        losses = torch.empty(len(slices), device=self.device)
        for b, s in enumerate(slices):
            xb, yb = self.x[idx[s]], self.y[idx[s]]
            if self.bound == "infonce":
                loss = self._loss(xb, yb, None, None)
            else:
                loss = self._loss(xb, yb, self.x[j[s]], self.y[k[s]])
            self._descend(loss)
            losses[b] = loss.detach()
            self.iteration += 1
        return losses

    @torch.no_grad()
    def estimate(self) -> float:
        """The trained bound on the evaluation pairs (DV for ``"mine"``)."""
        if self.bound == "infonce":
            return self._infonce_eval().item()
        t_p = self.critic(self.x_eval, self.y_eval)
        t_q = torch.cat(
            [
                self.critic(self.x_eval[j], self.y_eval[k])
                for j, k in zip(
                    self.eval_j.split(8192), self.eval_k.split(8192), strict=True
                )
            ]
        )
        if self.bound == "nwj":
            return bounds.nwj(t_p, t_q).item()
        if self.bound == "smile":
            return bounds.smile(t_p, t_q, self.clip).item()
        return bounds.dv(t_p, t_q).item()

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
