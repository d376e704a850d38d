"""MINE: mutual information neural estimation (Belghazi et al., 2018)."""

from __future__ import annotations

from .variational import MITrainer


class MINETrainer(MITrainer):
    r"""MINE: the DV bound between the joint and the resampled product of
    marginals, trained with a moving average :math:`\bar L'` in the
    denominator of the gradient (see :func:`mi_lib.bounds.mine_loss`).

    .. math::  \hat I = \frac1n \sum_i t(X_i, Y_i)
       - \log \frac1{n'} \sum_k e^{t(X_{J_k}, Y_{K_k})}

    Takes the arguments of :class:`~mi_lib.trainers.MITrainer` but ``bound``;
    ``beta`` (default 0.9) weighs the past average.
    """

    def __init__(self, x, y, critic=None, **kwargs):
        if "bound" in kwargs:
            raise TypeError(
                "MINETrainer always uses bound='mine'; use MITrainer instead."
            )
        super().__init__(x, y, critic, bound="mine", **kwargs)
