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

from ._checks import as_samples, check_choice

KINDS = ("rank", "standard")


class NotFittedError(ValueError, AttributeError):
    """A :class:`Normalizer` was used before :meth:`~Normalizer.fit`, as in
    scikit-learn (which raises its own ``NotFittedError`` in that case)."""


class Normalizer:
    """A per-coordinate normalisation, fitted on samples and applied to any.

    It follows scikit-learn's transformers: :meth:`fit` learns from the
    samples and returns the normaliser, :meth:`transform` applies it, and the
    attributes learnt by :meth:`fit` end in an underscore.

    Parameters
    ----------
    kind : ``"rank"`` (default) or ``"standard"``
        See the module's docstring.

    Attributes
    ----------
    n_features_in_ : int
        The dimension of the fitting samples.
    sorted_ : Tensor of shape (dim, n)
        ``"rank"``: each coordinate of the fitting samples, sorted.
    mean_, scale_ : Tensors of shape (dim,)
        ``"standard"``: each coordinate's mean and standard deviation (1
        where the coordinate is constant).
    """

    def __init__(self, kind: str = "rank"):
        self.kind = check_choice(kind, "kind", KINDS)

    def fit(self, z) -> Normalizer:
        """Learn the normalisation from samples ``z`` of shape ``(n, dim)``
        (an array or a tensor); return ``self``."""
        z = as_samples(z, "z")
        self.n_features_in_ = z.shape[1]
        if self.kind == "rank":
            self.sorted_ = z.sort(dim=0).values.T.contiguous()  # (dim, n)
        else:
            std = z.std(dim=0, unbiased=False)
            self.mean_, self.scale_ = z.mean(dim=0), torch.where(std > 0, std, 1.0)
        return self

    def transform(self, z):
        """Normalise samples ``z`` of shape ``(m, dim)``: a tensor for a tensor,
        a NumPy array for anything else (an array, nested lists)."""
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(
                "This Normalizer is not fitted yet; call fit(z) on the training "
                "samples before transform (or use fit_transform)."
            )
        as_tensor = isinstance(z, Tensor)
        z = as_samples(z, "z")
        if z.shape[1] != self.n_features_in_:
            raise ValueError(
                f"z has {z.shape[1]} columns but the Normalizer was fitted on "
                f"{self.n_features_in_}; pass samples of the same dimension."
            )
        out = self._standard(z) if self.kind == "standard" else self._rank(z)
        return out if as_tensor else out.cpu().numpy()

    def fit_transform(self, z):
        """``fit(z)``, then ``transform(z)``."""
        return self.fit(z).transform(z)

    def _standard(self, z: Tensor) -> Tensor:
        return (z - self.mean_.to(z.device)) / self.scale_.to(z.device)

    def _rank(self, z: Tensor) -> Tensor:
        sorted_ = self.sorted_.to(z.device)
        n = sorted_.shape[1]
        cols = z.T.contiguous()
        below = torch.searchsorted(sorted_, cols, right=False)
        upto = torch.searchsorted(sorted_, cols, right=True)
        u = ((below + upto) / (2.0 * n)).clamp(0.5 / n, 1 - 0.5 / n)
        return (math.sqrt(2.0) * torch.erfinv(2 * u - 1)).T.to(z.dtype)
