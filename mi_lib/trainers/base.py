"""What every trainer shares: construction, the epoch loop, history, logging.

A trainer is a :class:`Trainer` that supplies two pieces: :meth:`Trainer.batches`
(the minibatches of one epoch) and :meth:`Trainer.loss` (the loss of one
minibatch). The rest, from moving the data to the device to the moving
average of the weights and TensorBoard, is written once here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .._checks import (
    as_samples,
    check_paired,
    check_positive,
    check_positive_int,
    check_real,
    check_same_dim,
    check_seed,
)
from ..critics import seeded  # noqa: F401  (its former home; import from critics)
from ..device import resolve_device

#: Samples of the product distribution drawn once for an estimate, by default.
EVAL_PAIRS = 50_000


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices that split ``n`` permuted indices into batches.

    There are ``max(1, n // batch_size)`` batches of ``min(batch_size, n)``
    indices; the last ``n % batch_size`` indices of a permutation are skipped
    in that epoch, so that every batch has the same size.
    """
    size = min(batch_size, n)
    return [slice(k * size, (k + 1) * size) for k in range(n // size)]


def scores(critic: nn.Module, first: tuple, second: tuple) -> tuple[Tensor, Tensor]:
    """``critic(*first)`` and ``critic(*second)`` from one forward pass.

    The two batches are concatenated, which halves the number of operations
    launched per iteration (the arithmetic stays the same). It assumes, as
    every critic of :mod:`mi_lib.critics` does, that the critic scores each
    sample on its own (no batch normalisation).
    """
    n = first[0].shape[0]
    t = critic(*(torch.cat(pair) for pair in zip(first, second, strict=True)))
    return t[:n], t[n:]


def sample_pair(a, b, names: tuple[str, str], *, paired: bool):
    """The training samples ``(a, b)`` as checked float32 tensors.

    Paired samples (rows ``i`` of ``a`` and ``b`` form one joint sample) must
    have as many rows; unpaired ones (samples of two distributions) the same
    dimension.
    """
    a, b = as_samples(a, names[0]), as_samples(b, names[1])
    if paired:
        check_paired(a, b, names)
    else:
        check_same_dim(a, b, names)
    return a, b


def eval_samples(eval_data, default: tuple[Tensor, Tensor], device, paired: bool):
    """The samples an estimate is evaluated on: ``eval_data``, checked and moved
    to ``device``, or ``default`` (the training samples) when it is ``None``."""
    if eval_data is None:
        return default
    if not isinstance(eval_data, (tuple, list)) or len(eval_data) != 2:
        raise ValueError(
            "eval_data must be a pair (a, b) of sample arrays, like the training "
            f"data; got {type(eval_data).__name__}."
        )
    names = ("eval_data[0]", "eval_data[1]")
    a = as_samples(eval_data[0], names[0], device=device)
    b = as_samples(eval_data[1], names[1], device=device)
    if paired:
        check_paired(a, b, names)
    check_same_dim(default[0], a, ("the training data", names[0]))
    check_same_dim(default[1], b, ("the training data", names[1]))
    return a, b


def refuse_keyword(options: dict, name: str, advice: str) -> None:
    """Raise a ``TypeError`` with ``advice`` if ``name`` is among ``options``
    (for a keyword that another trainer takes, such as ``critic``)."""
    if name in options:
        raise TypeError(f"{name}= is not an argument here: {advice}")


def _can_fuse(params: list[Tensor]) -> bool:
    """Whether Adam's fused kernel (one kernel for all parameters) applies."""
    return bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64)
        for p in params
    )


class Trainer:
    r"""Base class: trains critics with Adam on minibatches, one epoch at a time.

    Every trainer takes its data and critic(s), then these keyword options,
    documented here once:

    Parameters
    ----------
    batch_size : int
        Training samples per minibatch (100, as in the seeds).
    lr : float
        Adam's learning rate (``1e-3``).
    eval_data : pair of arrays, optional
        Held-out samples ``(a, b)`` shaped like the training data, on which
        :meth:`estimate` evaluates the bound; the training samples by default.
        A bound evaluated on the samples its critic was trained on can
        overshoot the truth, because the critic fits their noise.
    seed : int
        Seeds the critics' default initial weights, the minibatches and any
        evaluation samples, without touching the global random state.
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, or ``None`` for the GPU when there is one.
    log_dir : str, optional
        A TensorBoard log directory for every iteration's loss and every
        estimate.
    progress : bool
        Show a progress bar over the epochs of each :meth:`step`.
    ema : float in (0, 1), optional
        Decay :math:`\lambda` of an exponential moving average (Polyak
        averaging) of the critics' weights,

        .. math::  \bar\theta_k = \lambda\, \bar\theta_{k-1}
           + (1 - \lambda)\, \theta_k, \qquad \bar\theta_0 = \theta_0,

        an average over the last :math:`\approx 1/(1-\lambda)` iterations, in
        which the initial weights weigh :math:`\lambda^k`. Minibatch noise
        makes the trained weights jitter about the optimum, and a jittering
        critic scores a bound below its maximum; the average sits closer to
        it. Between calls of :meth:`step` the critics hold the averaged
        weights, so that :meth:`estimate`, plots and the user see the averaged
        critic; training resumes from the trained weights. ``None`` (the
        default, as in the seeds) estimates with the trained weights.

    Writing a trainer
    -----------------
    ``Trainer(critics, (a, b), paired=..., **options)`` trains the list of
    networks ``critics`` on the samples ``a`` and ``b``: paired samples (row
    ``i`` of each forms one joint sample) or samples of two distributions
    (``paired=False``). A subclass supplies two methods:

    - :meth:`batches`: the minibatches of one epoch, as tuples of tensors,
      from the rows of a fresh permutation of the training samples;
    - :meth:`loss`: the loss to minimise on one such minibatch.

    :meth:`estimate` defaults to minus the loss of all evaluation samples taken
    as one batch, which is the bound itself when the loss is minus a bound;
    trainers whose estimate differs from their loss override it. Trainers
    with defaults of their own (a default critic needs the data's dimension)
    also override ``__init__``, check the data with :func:`sample_pair`, and
    pass the rest of the options on.

    Attributes
    ----------
    critics : list of nn.Module
        The networks being trained.
    data, eval_data : pair of tensors
        The training and evaluation samples, on :attr:`device`.
    history : list of (iteration, estimate)
        The estimate returned by every call of :meth:`step`.
    iteration, epoch : int
        Counts of optimiser steps and of epochs so far.
    """

    def __init__(
        self,
        critics: Sequence[nn.Module],
        data: tuple[Tensor, Tensor],
        *,
        paired: bool,
        batch_size: int = 100,
        lr: float = 1e-3,
        eval_data=None,
        seed: int = 0,
        device=None,
        log_dir: str | None = None,
        progress: bool = False,
        ema: float | None = None,
    ):
        lr = check_positive(lr, "lr", example="such as 1e-3")
        seed = check_seed(seed)
        if ema is not None:
            ema = check_real(ema, "ema", 0.0, 1.0, example="such as 0.9, or None")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.device = resolve_device(device)
        self.critics = [c.to(self.device) for c in critics]
        self.params = [p for c in self.critics for p in c.parameters()]
        self.optimizer = torch.optim.Adam(
            self.params, lr=lr, fused=_can_fuse(self.params)
        )
        self.ema = ema
        self._average = [p.detach().clone() for p in self.params] if ema else None
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            raise ValueError(
                "data must be a pair (a, b) of sample arrays, such as (x, y); "
                f"got {type(data).__name__}."
            )
        data = sample_pair(*data, ("data[0]", "data[1]"), paired=paired)
        self.data = tuple(d.to(self.device) for d in data)
        self.eval_data = eval_samples(eval_data, self.data, self.device, paired)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.seed = seed
        self.progress = progress
        self.history: list[tuple[int, float]] = []
        self.iteration = 0
        self.epoch = 0
        self.writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # slow import: lazy

            self.writer = SummaryWriter(log_dir=str(log_dir))

    # The two pieces a trainer supplies ------------------------------------

    def batches(self, rows: Tensor) -> Iterable[tuple[Tensor, ...]]:
        """The minibatches of one epoch, each a tuple of arguments of :meth:`loss`.

        ``rows`` has shape ``(batches, size)``: row ``b`` holds the indices of
        the training samples of batch ``b``, from a permutation of them drawn
        afresh every epoch (``size = min(batch_size, n)``; the last
        ``n % size`` samples of the permutation sit out the epoch). Draw any
        other randomness from :attr:`generator`.
        """
        raise NotImplementedError

    def loss(self, *batch: Tensor) -> Tensor:
        """The scalar loss whose gradient trains the critics on one minibatch;
        its value is what TensorBoard shows as ``loss/train``."""
        raise NotImplementedError

    @torch.no_grad()
    def estimate(self) -> float:
        """Minus the loss on all the evaluation samples as one batch."""
        return -self.loss(*self.eval_data).item()

    # The shared loop -------------------------------------------------------

    def _losses_of_epoch(self) -> Tensor:
        """Train one epoch; return the losses of its iterations as a tensor
        that stays on the device (no host synchronisation inside the loop)."""
        n = self.data[0].shape[0]
        size = min(self.batch_size, n)
        count = n // size
        perm = torch.randperm(n, generator=self.generator, device=self.device)
        rows = perm[: count * size].view(count, size)
        losses = torch.empty(count, device=self.device)
        done = 0
        for batch in self.batches(rows):
            loss = self.loss(*batch)
            self._descend(loss)
            losses[done] = loss.detach()
            done += 1
            self.iteration += 1
        return losses[:done]

    def _descend(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self._average is not None:
            with torch.no_grad():
                torch._foreach_lerp_(self._average, self.params, 1 - self.ema)

    def _eval_generator(self) -> torch.Generator:
        """A generator for samples drawn once for the estimate (``seed + 1``),
        apart from the training generator."""
        return torch.Generator(device=self.device).manual_seed(self.seed + 1)

    @contextmanager
    def _trained_weights(self):
        """Swap the trained weights in for training and the averaged ones back
        in afterwards (no-op without ``ema``)."""
        if self._average is not None:
            self._swap_average()
        try:
            yield
        finally:
            if self._average is not None:
                self._swap_average()

    def _swap_average(self) -> None:
        with torch.no_grad():
            for p, a in zip(self.params, self._average, strict=True):
                p.data, a.data = a.data, p.data

    def step(self, epochs: int = 1) -> float:
        """Train for ``epochs`` epochs, then return the estimate.

        The estimate is also appended to :attr:`history` and, with a
        ``log_dir``, written to TensorBoard with every iteration's loss.
        """
        epochs = check_positive_int(epochs, "epochs")
        for c in self.critics:
            c.train()
        losses = []
        loop = range(epochs)
        if self.progress:
            from tqdm.auto import tqdm

            loop = tqdm(loop, desc=type(self).__name__, leave=False)
        with self._trained_weights():
            for _ in loop:
                losses.append(self._losses_of_epoch())
                self.epoch += 1
        for c in self.critics:
            c.eval()
        estimate = self.estimate()
        self.history.append((self.iteration, estimate))
        if self.writer is not None:
            self._log(torch.cat(losses), estimate)
        return estimate

    def _log(self, losses: Tensor, estimate: float) -> None:
        first = self.iteration - losses.numel() + 1
        for i, value in enumerate(losses.cpu().tolist()):  # one transfer per step
            self.writer.add_scalar("loss/train", value, global_step=first + i)
        self.writer.add_scalar("estimate", estimate, global_step=self.iteration)
        self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
