"""One call for practitioners: :func:`estimate_mi`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ._checks import (
    as_samples,
    check_choice,
    check_fraction,
    check_paired,
    check_positive_int,
)
from .critics import JointCritic, SeparableCritic, minee_critics, seeded
from .preprocess import KINDS, Normalizer
from .trainers import MINEETrainer, MINETrainer, MITrainer

#: The methods :func:`estimate_mi` accepts.
METHODS = ("mine", "minee", "dv", "nwj", "smile", "infonce")


@dataclass
class MIEstimate:
    """The result of :func:`estimate_mi`.

    Attributes
    ----------
    value : float
        The estimate of :math:`I(X;Y)` in nats, on the evaluation samples.
    method : str
        The estimator that produced it.
    history : list of (iteration, estimate)
        The estimate on the evaluation samples after every ``eval_every`` epochs.
    n_train, n_eval : int
        Sizes of the training split and of the evaluation samples.
    evaluated_on : str
        ``"held-out"`` (the default), or ``"training"`` when ``test_size=0``:
        then the estimate can overshoot the truth, because the critic has
        fitted those very samples.
    trainer : object
        The trainer, to continue with ``trainer.step(epochs)`` or plot its critic.
    """

    value: float
    method: str
    history: list = field(repr=False)
    n_train: int
    n_eval: int
    evaluated_on: str
    trainer: object = field(repr=False)

    def __float__(self) -> float:
        return self.value

    def __str__(self) -> str:
        return (
            f"I(X;Y) ~ {self.value:.4f} nats by {self.method} "
            f"({self.evaluated_on} samples: {self.n_eval}; trained on {self.n_train})"
        )


def estimate_mi(
    x,
    y,
    method: str = "mine",
    *,
    epochs: int = 200,
    batch_size: int = 100,
    lr: float = 1e-3,
    test_size: float = 0.3,
    normalize: str | None = "rank",
    eval_every: int = 10,
    ema: float | None = 0.9,
    seed: int = 0,
    device=None,
    log_dir: str | None = None,
    progress: bool = False,
    **trainer_kwargs,
) -> MIEstimate:
    r"""Estimate the mutual information :math:`I(X;Y)` in nats from paired samples.

    Splits the pairs at random into a training part and a held-out part of
    fraction ``test_size``, trains the critic(s) of ``method`` on the former
    for ``epochs`` epochs, and evaluates the bound on the latter. A bound
    evaluated on its own training samples overfits and can overshoot the truth
    far above it; ``test_size=0`` does that only when asked.

    Parameters
    ----------
    x, y : arrays or tensors of shape (n, d_x) and (n, d_y)
        Row ``i`` of ``x`` and row ``i`` of ``y`` form one joint sample.
    method : str
        ``"mine"`` (default), ``"minee"``, ``"dv"``, ``"nwj"``, ``"smile"`` or
        ``"infonce"`` (a lower bound capped at ``log(batch_size)``).
    epochs, batch_size, lr : training schedule (Adam).
    test_size : float in [0, 1)
        Fraction of pairs held out for the estimate.
    normalize : ``"rank"`` (default), ``"standard"`` or ``None``
        A per-coordinate map fitted on the training pairs and applied to all
        (see :mod:`mi_lib.preprocess`); being invertible, it leaves
        :math:`I(X;Y)` unchanged, and ``"rank"`` tames heavy tails.
    eval_every : int
        Epochs between the entries of the history.
    ema : float or None
        Estimate with a moving average of the critics' weights over roughly
        the last :math:`1/(1-\texttt{ema})` iterations (Polyak averaging),
        which smooths out the minibatch noise of the trained weights; ``None``
        estimates with the trained weights themselves.
    seed : int
        Seeds the split, the critic's initial weights and the minibatches.
    device : str, optional
        ``"cpu"``, ``"cuda"``, or ``None`` for the GPU when there is one.
    trainer_kwargs :
        Passed on to the trainer, e.g. ``critic=...`` (``critics=...`` for
        MI-NEE), ``beta=...``, ``reference="gaussian"`` for MI-NEE. The default
        critics are the seeds' architecture with PyTorch's initialisation
        (``sigma=None``), which skips the slow start of the seeds' small
        initial weights; InfoNCE scores every pair of a batch, so it gets the
        cheaper :class:`~mi_lib.critics.SeparableCritic`.

    Returns
    -------
    MIEstimate
        ``float(result)`` is the estimate; ``result.history`` the curve.
    """
    check_choice(method, "method", METHODS)
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_paired(x, y)
    test_size = check_fraction(test_size, "test_size")
    epochs = check_positive_int(epochs, "epochs")
    eval_every = check_positive_int(eval_every, "eval_every")
    n = x.shape[0]
    n_eval = int(round(test_size * n))
    if test_size > 0 and (n_eval < 2 or n - n_eval < 2):
        raise ValueError(
            f"{n} samples are too few to hold out test_size={test_size}: both parts "
            "need at least 2 samples. Pass more samples or test_size=0."
        )
    if normalize is not None:
        check_choice(normalize, "normalize", KINDS)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    train, held = perm[n_eval:], perm[:n_eval]
    if normalize is not None:
        fx, fy = (
            Normalizer(normalize).fit(x[train]),
            Normalizer(normalize).fit(y[train]),
        )
        x, y = fx.transform(x), fy.transform(y)
    if n_eval:
        data, eval_data = (x[train], y[train]), (x[held], y[held])
    else:
        data, eval_data = (x, y), None
    common = dict(
        batch_size=batch_size,
        lr=lr,
        ema=ema,
        eval_data=eval_data,
        seed=seed,
        device=device,
        log_dir=log_dir,
        progress=progress,
        **trainer_kwargs,
    )
    dx, dy = x.shape[1], y.shape[1]
    if method == "minee":
        common.setdefault("critics", minee_critics(dx, dy, seed=seed, sigma=None))
        trainer = MINEETrainer(*data, **common)
    else:
        default = SeparableCritic if method == "infonce" else JointCritic
        critic = common.pop("critic", None)
        if critic is None:
            critic = seeded(lambda: default(dx, dy, sigma=None), seed)
        if method == "mine":
            trainer = MINETrainer(*data, critic, **common)
        else:
            trainer = MITrainer(*data, critic, bound=method, **common)
    done = 0
    while done < epochs:
        chunk = min(eval_every, epochs - done)
        trainer.step(chunk)
        done += chunk
    trainer.close()
    return MIEstimate(
        value=trainer.history[-1][1],
        method=method,
        history=list(trainer.history),
        n_train=data[0].shape[0],
        n_eval=(eval_data or data)[0].shape[0],
        evaluated_on="held-out" if n_eval else "training",
        trainer=trainer,
    )
