r"""Per-coordinate normalisation, which leaves mutual information unchanged.

An invertible map applied to each coordinate of :math:`X` (and of :math:`Y`)
is an invertible map of :math:`X`, so :math:`I(X;Y)` does not change. The
critics, however, train much better on data of unit scale and light tails:

- ``"standard"``: :math:`z \mapsto (z - \mu)/\sigma` per coordinate;
- ``"rank"``: the empirical copula transform
  :math:`z \mapsto \Phi^{-1}(\hat F(z))` per coordinate, with :math:`\hat F` the
  empirical distribution function of the fitting sample. It makes every
  marginal approximately standard normal whatever its tails.

Both are fitted on the training samples only and then applied to held-out
samples, so that no information about the held-out samples leaks into training.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._checks import check_choice

KINDS = ("rank", "standard")


class Normalizer:
    """Fit a per-coordinate normalisation on samples, then apply it to any."""

    def __init__(self, kind: str = "rank"):
        self.kind = check_choice(kind, "normalize", KINDS)
        self.sorted: Tensor | None = None

    def fit(self, z: Tensor) -> Normalizer:
        if self.kind == "rank":
            self.sorted = z.sort(dim=0).values.T.contiguous()  # (dim, n)
        else:
            std = z.std(dim=0, unbiased=False)
            self.mean, self.std = z.mean(dim=0), torch.where(std > 0, std, 1.0)
        return self

    def __call__(self, z: Tensor) -> Tensor:
        if self.kind == "standard":
            return (z - self.mean) / self.std
        n = self.sorted.shape[1]
        cols = z.T.contiguous()
        below = torch.searchsorted(self.sorted, cols, right=False)
        upto = torch.searchsorted(self.sorted, cols, right=True)
        u = ((below + upto) / (2.0 * n)).clamp(0.5 / n, 1 - 0.5 / n)
        return (math.sqrt(2.0) * torch.erfinv(2 * u - 1)).T.to(z.dtype)
