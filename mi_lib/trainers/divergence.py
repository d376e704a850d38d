r"""Estimating a KL divergence :math:`D(P_Z \| P_{Z'})` from two samples."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import bounds
from ..critics import Critic, seeded
from .base import Trainer, batch_slices, refuse_keyword, sample_pair, scores


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
    **options
        ``batch_size`` (samples of ``p`` per minibatch, 100), ``lr``,
        ``eval_data=(p_eval, q_eval)``, ``seed``, ``device``, ``log_dir``,
        ``progress`` and ``ema``: see :class:`~mi_lib.trainers.base.Trainer`.
    """

    def __init__(self, p, q, critic: nn.Module | None = None, *, seed=0, **options):
        refuse_keyword(options, "critics", "DVTrainer trains one critic=.")
        p, q = sample_pair(p, q, ("p", "q"), paired=False)
        if critic is None:
            critic = seeded(lambda: Critic(p.shape[1]), seed)
        self.critic = critic
        super().__init__([critic], (p, q), paired=False, seed=seed, **options)
        self.p, self.q = self.data
        batches = p.shape[0] // min(self.batch_size, p.shape[0])
        if q.shape[0] < batches:
            raise ValueError(
                f"q has {q.shape[0]} samples but p is split into {batches} batches "
                "per epoch, each paired with a batch of q; pass at least as many "
                "samples of q as batches, or a larger batch_size."
            )
        self.p_eval, self.q_eval = self.eval_data

    def batches(self, rows: Tensor):
        """Batches of ``p`` by ``rows``; ``q`` is permuted and cut into as many."""
        n_ref = self.q.shape[0]
        ref_slices = batch_slices(n_ref, max(1, n_ref // len(rows)))
        idx_ref = torch.randperm(n_ref, generator=self.generator, device=self.device)
        for r, s in zip(rows, ref_slices, strict=False):
            yield self.p[r], self.q[idx_ref[s]]

    def loss(self, p: Tensor, q: Tensor) -> Tensor:
        """Minus the DV bound on a batch of ``p`` and one of ``q``."""
        return -bounds.dv(*scores(self.critic, (p,), (q,)))
