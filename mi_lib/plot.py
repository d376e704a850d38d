"""Figures of the course: samples, critics and estimates against the truth."""

from __future__ import annotations

import inspect

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch


def plot_samples(x, y=None, names=("X", "Y"), **kwargs) -> sns.PairGrid:
    """Pair plot of samples: scatter below, KDE above and on the diagonal.

    ``x`` and ``y`` are arrays of shape ``(n, 1)`` (or ``x`` alone of shape
    ``(n, 2)``); ``names`` label the two axes.
    """
    xy = np.asarray(x if y is None else np.hstack([np.asarray(x), np.asarray(y)]))
    if xy.ndim != 2 or xy.shape[1] != len(names):
        raise ValueError(
            f"plot_samples draws {len(names)} coordinates, got samples of shape "
            f"{xy.shape}; pass x and y of shape (n, 1) or names for every column."
        )
    grid = sns.PairGrid(pd.DataFrame(xy, columns=list(names)), **kwargs)
    grid.map_lower(sns.scatterplot, s=2)
    grid.map_upper(sns.kdeplot)
    grid.map_diag(sns.kdeplot)
    return grid


def takes_pair(critic) -> bool:
    """Whether ``critic`` is called as ``critic(x, y)`` (a critic of pairs)
    rather than ``critic(z)``, from the positional parameters of its
    ``forward``; raise if that does not tell."""
    forward = getattr(critic, "forward", critic)
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        params = []
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.default is p.empty
    ]
    if len(positional) in (1, 2) and not any(
        p.kind == p.VAR_POSITIONAL for p in params
    ):
        return len(positional) == 2
    raise ValueError(
        f"cannot tell whether {type(critic).__name__} is called as critic(x, y) "
        "or critic(z) from its forward's parameters; pass pair=True for "
        "critic(x, y) or pair=False for critic(z)."
    )


@torch.no_grad()
def plot_critic(
    critic,
    xlim=(-5, 5),
    ylim=(-5, 5),
    grid: int = 50,
    ax=None,
    title=None,
    pair: bool | None = None,
):
    """Heat map of a critic of two scalars, ``critic(x, y)`` or ``critic(z)``.

    Evaluates the critic on a ``grid`` x ``grid`` mesh of the box
    ``xlim`` x ``ylim`` and draws it with a colour bar. ``pair`` says how to
    call it: ``critic(x, y)`` (``True``) or ``critic(z)`` with ``z = [x, y]``
    (``False``); by default, as many tensors as its ``forward`` takes.
    """
    if pair is None:
        pair = takes_pair(critic)
    gx, gy = np.meshgrid(
        np.linspace(*xlim, grid), np.linspace(*ylim, grid), indexing="ij"
    )
    param = next(critic.parameters(), torch.empty(0))
    xs, ys = (
        torch.as_tensor(a.reshape(-1, 1), dtype=param.dtype, device=param.device)
        for a in (gx, gy)
    )
    was_training = critic.training
    critic.eval()
    try:
        values = critic(xs, ys) if pair else critic(torch.cat([xs, ys], dim=1))
    finally:
        critic.train(was_training)
    values = values.reshape(gx.shape).cpu().numpy()
    ax = ax or plt.gca()
    mesh = ax.pcolormesh(gx, gy, values, cmap="RdBu_r", shading="auto")
    ax.figure.colorbar(mesh, ax=ax)
    ax.set(xlabel=r"$x$", ylabel=r"$y$", title=title or r"Critic $t(x, y)$")
    return ax


def plot_history(histories, ground_truth: float | None = None, ax=None):
    """Estimate against training iteration, with the ground truth dashed.

    ``histories`` is one list of ``(iteration, estimate)`` pairs (a trainer's
    ``history``) or a dict of such lists keyed by label.
    """
    if not isinstance(histories, dict):
        histories = {"estimate": histories}
    ax = ax or plt.gca()
    for label, history in histories.items():
        if len(history) == 0:
            raise ValueError(f"the history {label!r} is empty; train before plotting.")
        steps, values = zip(*history, strict=True)
        ax.plot(steps, values, label=label)
    if ground_truth is not None:
        ax.axhline(ground_truth, ls="--", c="k", label="ground truth")
    ax.set(xlabel="iteration", ylabel="estimate (nats)")
    ax.legend()
    return ax
