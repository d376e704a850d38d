r"""MI-NEE: mutual information neural entropic estimation (Chan et al., 2019)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from .. import bounds
from .._checks import check_positive_int
from ..critics import minee_critics
from ..references import KINDS, ProductReference
from .base import EVAL_PAIRS, Trainer, refuse_keyword, sample_pair, scores


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
    critics : (joint, x_critic, y_critic), optional
        :math:`t_{XY}(x, y)`, :math:`t_X(x)` and :math:`t_Y(y)`; by default the
        seeds' architecture for each (see :func:`mi_lib.critics.minee_critics`).
    reference : str or ProductReference
        ``"gaussian"`` (default), ``"uniform"``, or a fitted reference. The
        uniform reference of the MI-NEE paper suits low-dimensional data; in
        higher dimension the data fill a vanishing part of their box and the
        estimate degrades, while the Gaussian one fits any marginals' scale.
    ref_batch_size : int, optional
        Reference samples per minibatch (by default as many as data samples).
    eval_pairs : int
        Reference pairs :math:`(x', y')` drawn once for the estimate (50,000).
        ``eval_ref_size``, its former name, is deprecated.
    **options
        ``batch_size`` (joint pairs per minibatch, 100), ``lr``,
        ``eval_data=(x_eval, y_eval)``, ``seed``, ``device``, ``log_dir``,
        ``progress`` and ``ema``: see :class:`~mi_lib.trainers.base.Trainer`.
    """

    def __init__(
        self,
        x,
        y,
        critics: tuple[nn.Module, nn.Module, nn.Module] | None = None,
        *,
        reference: str | ProductReference = "gaussian",
        ref_batch_size: int | None = None,
        eval_pairs: int = EVAL_PAIRS,
        seed: int = 0,
        **options,
    ):
        refuse_keyword(
            options,
            "critic",
            "MINEETrainer trains three critics; pass "
            "critics=(joint, x_critic, y_critic), e.g. mi_lib.critics.minee_critics().",
        )
        if "eval_ref_size" in options:
            warnings.warn(
                "eval_ref_size is deprecated; pass eval_pairs, its new name.",
                DeprecationWarning,
                stacklevel=2,
            )
            eval_pairs = options.pop("eval_ref_size")
        eval_pairs = check_positive_int(eval_pairs, "eval_pairs")
        if not (isinstance(reference, ProductReference) or reference in KINDS):
            raise ValueError(
                f"reference must be one of {KINDS} or a ProductReference, "
                f"got {reference!r}."
            )
        x, y = sample_pair(x, y, ("x", "y"), paired=True)
        if critics is None:
            critics = minee_critics(x.shape[1], y.shape[1], seed=seed)
        if not (
            isinstance(critics, (tuple, list))
            and len(critics) == 3
            and all(isinstance(c, nn.Module) for c in critics)
        ):
            raise ValueError(
                "critics must be a tuple (joint, x_critic, y_critic) of three "
                f"nn.Modules, got {critics!r}; see mi_lib.critics.minee_critics."
            )
        self.joint_critic, self.x_critic, self.y_critic = critics
        super().__init__(critics, (x, y), paired=True, seed=seed, **options)
        self.x, self.y = self.data
        self.x_eval, self.y_eval = self.eval_data
        if isinstance(reference, ProductReference):
            self.reference = reference
        else:
            self.reference = ProductReference.fit(self.x, self.y, reference)
        if ref_batch_size is None:
            ref_batch_size = min(self.batch_size, self.x.shape[0])
        self.ref_batch_size = check_positive_int(ref_batch_size, "ref_batch_size")
        self.x_ref_eval, self.y_ref_eval = self.reference.sample(
            eval_pairs, self._eval_generator()
        )

    def divergences(self, x, y, x_ref, y_ref) -> tuple[Tensor, Tensor, Tensor]:
        r"""The DV bounds on :math:`D(P_{XY}\|P_{X'}P_{Y'})`, :math:`D(P_X\|P_{X'})`
        and :math:`D(P_Y\|P_{Y'})` from data and reference samples."""
        d_xy = bounds.dv(*scores(self.joint_critic, (x, y), (x_ref, y_ref)))
        d_x = bounds.dv(*scores(self.x_critic, (x,), (x_ref,)))
        d_y = bounds.dv(*scores(self.y_critic, (y,), (y_ref,)))
        return d_xy, d_x, d_y

    def batches(self, rows: Tensor):
        """Joint pairs by ``rows``, each with fresh reference pairs."""
        for r in rows:
            x_ref, y_ref = self.reference.sample(self.ref_batch_size, self.generator)
            yield self.x[r], self.y[r], x_ref, y_ref

    def loss(self, x: Tensor, y: Tensor, x_ref: Tensor, y_ref: Tensor) -> Tensor:
        r"""Minus the batch's estimate :math:`\hat D_{XY} - \hat D_X - \hat D_Y`,
        with the gradient of :math:`-(\hat D_{XY} + \hat D_X + \hat D_Y)`.

        The critics' parameters are disjoint, so that gradient makes each
        critic ascend its own DV bound, while the value logged is minus the
        estimate of the batch.
        """
        d_xy, d_x, d_y = self.divergences(x, y, x_ref, y_ref)
        ascent = -(d_xy + d_x + d_y)
        return (d_x + d_y - d_xy).detach() + (ascent - ascent.detach())

    @torch.no_grad()
    def estimate(self) -> float:
        r""":math:`\hat D_{XY} - \hat D_X - \hat D_Y` on the evaluation samples."""
        d_xy, d_x, d_y = self.divergences(
            self.x_eval, self.y_eval, self.x_ref_eval, self.y_ref_eval
        )
        return (d_xy - d_x - d_y).item()
