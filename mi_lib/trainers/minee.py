r"""MI-NEE: mutual information neural entropic estimation (Chan et al., 2019)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import bounds
from .._checks import as_samples, check_paired, check_positive_int
from ..critics import Critic, JointCritic
from ..references import KINDS, ProductReference
from .base import Trainer, batch_slices, eval_samples, scores, seeded


class MINEETrainer(Trainer):
    r"""Estimate :math:`I(X;Y)` by three divergences against a product reference.

    .. math::  I(X;Y) = D(P_{XY} \| P_{X'} \times P_{Y'})
       - D(P_X \| P_{X'}) - D(P_Y \| P_{Y'})

    holds for any product reference with finite divergences. The reference
    (``"gaussian"`` or ``"uniform"``, see :mod:`mi_lib.references`) is fitted
    to the training data and sampled i.i.d., fresh for every minibatch, so no
    resampling of the data is needed. Three critics, :math:`t_{XY}`, :math:`t_X`
    and :math:`t_Y`, each maximise their DV bound; their parameters are
    disjoint, so one backward pass of the summed losses trains all three.

    Parameters
    ----------
    x, y : arrays of shape (n, d_x) and (n, d_y)
        Joint samples.
    reference : str or ProductReference
        ``"gaussian"`` (default), ``"uniform"``, or a fitted reference. The
        uniform reference of the MI-NEE paper suits low-dimensional data; in
        higher dimension the data fill a vanishing part of their box and the
        estimate degrades, while the Gaussian one fits any marginals' scale.
    critics : (joint, x_critic, y_critic), optional
        Default to the seeds' architecture for each.
    batch_size, ref_batch_size : int
        Data and reference samples per minibatch (reference: same as data).
    eval_data : (x_eval, y_eval), optional
        Held-out pairs for the estimate; the training pairs by default.
    eval_ref_size : int, optional
        Reference samples drawn once for the estimate (50,000 by default).
    ema : float, optional
        Decay of a moving average of the critics' weights, used for the
        estimate (see :class:`~mi_lib.trainers.base.Trainer`); ``None`` (the
        default, as in the seeds) estimates with the trained weights.
    """

    def __init__(
        self,
        x,
        y,
        critics: tuple[nn.Module, nn.Module, nn.Module] | None = None,
        *,
        reference: str | ProductReference = "gaussian",
        batch_size: int = 100,
        ref_batch_size: int | None = None,
        lr: float = 1e-3,
        eval_data=None,
        eval_ref_size: int | None = None,
        seed: int = 0,
        device=None,
        log_dir: str | None = None,
        progress: bool = False,
        ema: float | None = None,
    ):
        x, y = as_samples(x, "x"), as_samples(y, "y")
        check_paired(x, y)
        dx, dy = x.shape[1], y.shape[1]
        if critics is None:
            critics = (
                seeded(lambda: JointCritic(dx, dy), seed),
                seeded(lambda: Critic(dx), seed + 1),
                seeded(lambda: Critic(dy), seed + 2),
            )
        if len(critics) != 3:
            raise ValueError("critics must be a tuple (joint, x_critic, y_critic).")
        self.joint_critic, self.x_critic, self.y_critic = critics
        super().__init__(
            list(critics),
            lr=lr,
            seed=seed,
            device=device,
            log_dir=log_dir,
            progress=progress,
            ema=ema,
        )
        self.x, self.y = x.to(self.device), y.to(self.device)
        if isinstance(reference, ProductReference):
            self.reference = reference
        elif reference in KINDS:
            self.reference = ProductReference.fit(self.x, self.y, reference)
        else:
            raise ValueError(
                f"reference must be one of {KINDS} or a ProductReference, "
                f"got {reference!r}."
            )
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.ref_batch_size = check_positive_int(
            ref_batch_size or min(batch_size, x.shape[0]), "ref_batch_size"
        )
        self.x_eval, self.y_eval = eval_samples(
            eval_data, (self.x, self.y), self.device, paired=True
        )
        size = check_positive_int(eval_ref_size or 50_000, "eval_ref_size")
        eval_gen = torch.Generator(device=self.device).manual_seed(seed + 1)
        self.x_ref_eval, self.y_ref_eval = self.reference.sample(size, eval_gen)

    def divergences(self, x, y, x_ref, y_ref) -> tuple[Tensor, Tensor, Tensor]:
        r"""The DV bounds on :math:`D(P_{XY}\|P_{X'}P_{Y'})`, :math:`D(P_X\|P_{X'})`
        and :math:`D(P_Y\|P_{Y'})` from data and reference samples."""
        d_xy = bounds.dv(*scores(self.joint_critic, (x, y), (x_ref, y_ref)))
        d_x = bounds.dv(*scores(self.x_critic, (x,), (x_ref,)))
        d_y = bounds.dv(*scores(self.y_critic, (y,), (y_ref,)))
        return d_xy, d_x, d_y

    def _losses_of_epoch(self) -> Tensor:
        n = self.x.shape[0]
        slices = batch_slices(n, self.batch_size)
        idx = torch.randperm(n, generator=self.generator, device=self.device)
        losses = torch.empty(len(slices), device=self.device)
        for b, s in enumerate(slices):
            x_ref, y_ref = self.reference.sample(self.ref_batch_size, self.generator)
            d_xy, d_x, d_y = self.divergences(
                self.x[idx[s]], self.y[idx[s]], x_ref, y_ref
            )
            self._descend(-(d_xy + d_x + d_y))
            losses[b] = (d_x + d_y - d_xy).detach()  # minus the MI estimate
            self.iteration += 1
        return losses

    @torch.no_grad()
    def estimate(self) -> float:
        r""":math:`\hat D_{XY} - \hat D_X - \hat D_Y` on the evaluation samples."""
        d_xy, d_x, d_y = self.divergences(
            self.x_eval, self.y_eval, self.x_ref_eval, self.y_ref_eval
        )
        return (d_xy - d_x - d_y).item()
