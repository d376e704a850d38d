r"""The 2-D grid of Gaussians and the mode metrics of VEEGAN and PacGAN.

The data of the mode-collapse benchmark (Srivastava et al., 2017; Lin et al.,
2018) is a mixture of 25 Gaussians with equal weights, means on the grid
:math:`\{-4,-2,0,2,4\}^2` and standard deviation :math:`\sigma = 0.05`. A
generator is judged on its samples :math:`x_1,\dots,x_m` (``m = 2500`` in the
papers): each sample is assigned to its nearest mode :math:`\mu_{k(i)}` and
counts as *high quality* when it lies within 3 standard deviations of it,
:math:`\lVert x_i - \mu_{k(i)}\rVert < 3\sigma`. With :math:`c_k` the number of
high-quality samples of mode :math:`k`,

- *modes captured*: the number of modes with :math:`c_k \ge` ``min_count``
  (PacGAN's evaluation code counts a mode with a single such sample, the
  default);
- *high-quality share*: :math:`\sum_k c_k / m`;
- *KL from uniform*: :math:`\sum_k p_k \log(K p_k)` with
  :math:`p_k = c_k / \sum_j c_j`, the divergence of the histogram of the
  high-quality samples over the :math:`K` modes from the uniform one (0 when
  every mode gets its share, :math:`\log K` when one mode gets all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import as_samples, check_positive_int

#: The standard deviation of every mode of the grid.
GRID_STD = 0.05


def grid_means(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """The ``side**2`` means of the grid, centred on 0, of shape ``(side**2, 2)``;
    the default is :math:`\\{-4,-2,0,2,4\\}^2`."""
    check_positive_int(side, "side")
    axis = (np.arange(side) - (side - 1) / 2) * spacing
    return np.array([[a, b] for a in axis for b in axis], dtype=float)


def sample_grid(
    n: int, generator: torch.Generator | None = None, std: float = GRID_STD
) -> torch.Tensor:
    """``n`` samples of the mixture: a uniform mode, plus Gaussian noise of ``std``."""
    check_positive_int(n, "n")
    means = torch.as_tensor(grid_means(), dtype=torch.float32)
    device = generator.device if generator is not None else "cpu"
    k = torch.randint(len(means), (n,), generator=generator, device=device)
    noise = torch.randn(n, 2, generator=generator, device=device)
    return means.to(device)[k] + std * noise


@dataclass
class ModeMetrics:
    """The metrics of :func:`mode_metrics`; ``counts[k]`` is :math:`c_k`."""

    modes: int
    high_quality: float
    kl: float
    counts: np.ndarray

    def as_dict(self) -> dict:
        return {
            "modes": self.modes,
            "high_quality": self.high_quality,
            "kl": self.kl,
        }


def mode_metrics(
    samples, means=None, std: float = GRID_STD, min_count: int = 1
) -> ModeMetrics:
    """Modes captured, high-quality share and KL from uniform (module docstring).

    ``samples`` has shape ``(m, d)``, ``means`` shape ``(K, d)`` (default:
    :func:`grid_means`). With no high-quality sample at all, the histogram is
    undefined and ``kl`` is ``inf``.
    """
    x = as_samples(samples, "samples").double()
    mu = as_samples(grid_means() if means is None else means, "means").double()
    if x.shape[1] != mu.shape[1]:
        raise ValueError(
            f"samples have dimension {x.shape[1]} but means have {mu.shape[1]}; "
            "pass means of the same space as the samples."
        )
    if not (std > 0 and math.isfinite(std)):
        raise ValueError(f"std must be a positive number, got {std!r}.")
    check_positive_int(min_count, "min_count")
    dist, nearest = torch.cdist(x, mu).min(dim=1)
    good = dist < 3 * std
    counts = torch.bincount(nearest[good], minlength=len(mu)).numpy()
    total = counts.sum()
    if total == 0:
        kl = math.inf
    else:
        p = counts[counts > 0] / total
        kl = float(np.sum(p * np.log(len(mu) * p)))
    return ModeMetrics(
        modes=int((counts >= min_count).sum()),
        high_quality=float(total / len(x)),
        kl=kl,
        counts=counts,
    )
