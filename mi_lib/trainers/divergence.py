r"""Estimating a KL divergence :math:`D(P_Z \| P_{Z'})` from two samples."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import bounds
from .._checks import as_samples, check_positive_int, check_same_dim
from ..critics import Critic
from .base import Trainer, batch_slices, eval_samples, scores, seeded


class DVTrainer(Trainer):
    r"""Train a critic :math:`t` to maximise the DV bound

    .. math::  \frac1{|B|}\sum_{i\in B} t(Z_i)
       - \log \frac1{|B'|}\sum_{j\in B'} e^{t(Z'_j)}

    by Adam on minibatches :math:`B` of ``p`` and :math:`B'` of ``q``, where both
    samples are split into the same number of batches per epoch. :meth:`step`
    returns the bound on all of ``p`` and ``q`` (or on ``eval_data``).

    Parameters
    ----------
    p, q : arrays of shape (n, d) and (n', d)
        Samples of :math:`P_Z` and of the reference :math:`P_{Z'}`.
    critic : nn.Module, optional
        Maps ``(n, d)`` to ``(n,)``; defaults to the seeds' :class:`Critic`.
    batch_size : int
        Samples of ``p`` per minibatch (100, as in the seeds).
    eval_data : (p_eval, q_eval), optional
        Held-out samples for the estimate; the training samples by default.
    ema : float, optional
        Decay of a moving average of the critic's weights, used for the
        estimate (see :class:`~mi_lib.trainers.base.Trainer`); ``None`` (the
        default, as in the seeds) estimates with the trained weights.
    """

    def __init__(
        self,
        p,
        q,
        critic: nn.Module | None = None,
        *,
        batch_size: int = 100,
        lr: float = 1e-3,
        eval_data=None,
        seed: int = 0,
        device=None,
        log_dir: str | None = None,
        progress: bool = False,
        ema: float | None = None,
    ):
        self.p, self.q = as_samples(p, "p"), as_samples(q, "q")
        check_same_dim(self.p, self.q)
        if critic is None:
            critic = seeded(lambda: Critic(self.p.shape[1]), seed)
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
        self.p, self.q = self.p.to(self.device), self.q.to(self.device)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.p_eval, self.q_eval = eval_samples(
            eval_data, (self.p, self.q), self.device, paired=False
        )

    def _losses_of_epoch(self) -> Tensor:
        n, n_ref = self.p.shape[0], self.q.shape[0]
        slices = batch_slices(n, self.batch_size)
        ref_slices = batch_slices(n_ref, max(1, n_ref // len(slices)))
        idx = torch.randperm(n, generator=self.generator, device=self.device)
        idx_ref = torch.randperm(n_ref, generator=self.generator, device=self.device)
        losses = torch.empty(len(slices), device=self.device)
        for b, (s, s_ref) in enumerate(zip(slices, ref_slices, strict=False)):
            t_p, t_q = scores(self.critic, (self.p[idx[s]],), (self.q[idx_ref[s_ref]],))
            loss = -bounds.dv(t_p, t_q)
            self._descend(loss)
            losses[b] = loss.detach()
            self.iteration += 1
        return losses

    @torch.no_grad()
    def estimate(self) -> float:
        """The DV bound on the evaluation samples with the current critic."""
        return bounds.dv(self.critic(self.p_eval), self.critic(self.q_eval)).item()
