"""What every trainer shares: optimiser, epochs, history, logging, seeding."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .._checks import as_samples, check_paired, check_positive_int, check_same_dim
from ..device import resolve_device


def seeded(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build ``factory()`` under ``torch.manual_seed(seed)`` without touching
    the global random state, so that a critic's initial weights depend on
    ``seed`` alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


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


def eval_samples(eval_data, default: tuple[Tensor, Tensor], device, paired: bool):
    """The samples an estimate is evaluated on: ``eval_data``, checked and moved
    to ``device``, or ``default`` (the training samples) when it is ``None``."""
    if eval_data is None:
        return default
    if not isinstance(eval_data, (tuple, list)) or len(eval_data) != 2:
        raise ValueError("eval_data must be a pair (a, b) of sample arrays.")
    names = ("eval_data[0]", "eval_data[1]")
    a = as_samples(eval_data[0], names[0], device=device)
    b = as_samples(eval_data[1], names[1], device=device)
    if paired:
        check_paired(a, b, names)
    check_same_dim(default[0], a, ("the training data", names[0]))
    check_same_dim(default[1], b, ("the training data", names[1]))
    return a, b


def _can_fuse(params: list[Tensor]) -> bool:
    """Whether Adam's fused kernel (one kernel for all parameters) applies."""
    return bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64)
        for p in params
    )


class Trainer:
    r"""Base class: trains ``self.modules`` with Adam, one epoch at a time.

    Subclasses implement :meth:`_losses_of_epoch`, which runs one epoch and
    returns the per-iteration losses as a tensor that stays on the device
    (no host synchronisation inside the loop), and :meth:`estimate`.

    With ``ema`` set, the trainer also keeps an exponential moving average
    (Polyak averaging) of the critics' weights,

    .. math::  \bar\theta_k = \lambda\, \bar\theta_{k-1}
       + (1 - \lambda)\, \theta_k, \qquad \bar\theta_0 = \theta_0,
       \quad \lambda = \texttt{ema},

    an average over the last :math:`\approx 1/(1-\lambda)` iterations, in
    which the initial weights weigh :math:`\lambda^k`. Minibatch noise makes
    the trained weights jitter about the optimum, and a jittering critic
    scores a bound below its maximum; the average sits closer to it. Between
    calls of :meth:`step` the critics hold the averaged weights, so that
    :meth:`estimate`, plots and the user see the averaged critic; training
    resumes from the trained weights.

    Attributes
    ----------
    history : list of (iteration, estimate)
        The estimate returned by every call of :meth:`step`.
    iteration, epoch : int
        Counts of optimiser steps and of epochs so far.
    """

    def __init__(
        self,
        modules: list[nn.Module],
        *,
        lr: float,
        seed: int,
        device,
        log_dir: str | None,
        progress: bool,
        ema: float | None = None,
    ):
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a positive number, got {lr!r}.")
        real = isinstance(ema, numbers.Real) and not isinstance(ema, bool)
        if ema is not None and not (real and 0 < ema < 1):
            raise ValueError(
                f"ema must be a number in (0, 1), such as 0.9, or None; got {ema!r}."
            )
        self.device = resolve_device(device)
        self.modules = [m.to(self.device) for m in modules]
        self.params = [p for m in self.modules for p in m.parameters()]
        self.optimizer = torch.optim.Adam(
            self.params, lr=lr, fused=_can_fuse(self.params)
        )
        self.ema = None if ema is None else float(ema)
        self._average = [p.detach().clone() for p in self.params] if ema else None
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

    def _losses_of_epoch(self) -> Tensor:
        raise NotImplementedError

    def estimate(self) -> float:
        raise NotImplementedError

    def _descend(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self._average is not None:
            with torch.no_grad():
                torch._foreach_lerp_(self._average, self.params, 1 - self.ema)

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
        for m in self.modules:
            m.train()
        losses = []
        loop = range(epochs)
        if self.progress:
            from tqdm.auto import tqdm

            loop = tqdm(loop, desc=type(self).__name__, leave=False)
        with self._trained_weights():
            for _ in loop:
                losses.append(self._losses_of_epoch())
                self.epoch += 1
        for m in self.modules:
            m.eval()
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
