r"""Data with known mutual information.

The correlated Gaussian is the course's running example. For
:math:`d` independent pairs :math:`(X_k, Y_k)`, each standard normal with
correlation :math:`\rho`,

.. math::  I(X; Y) = -\tfrac{d}{2} \log(1 - \rho^2).

Applying an invertible map to each marginal leaves the mutual information
unchanged, which gives non-Gaussian data with the same known value.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_choice, check_positive_int

#: Invertible maps applied to each coordinate by :class:`TransformedGaussian`.
MARGINAL_TRANSFORMS = {
    "cubic": lambda v: v**3,
    "exp": np.exp,
    "sinh": np.sinh,
}


def gaussian_mi(rho: float, dim: int = 1) -> float:
    r"""Mutual information in nats of ``dim`` independent correlated pairs.

    :math:`I = -\frac{d}{2}\log(1-\rho^2)`.
    """
    _check_rho(rho)
    return -0.5 * check_positive_int(dim, "dim") * math.log1p(-rho * rho)


def rho_for_mi(mi: float, dim: int = 1) -> float:
    r"""The correlation that gives mutual information ``mi`` nats in ``dim`` pairs.

    Inverts :func:`gaussian_mi`: :math:`\rho = \sqrt{1 - e^{-2I/d}}`.
    """
    if not (isinstance(mi, numbers.Real) and math.isfinite(mi) and mi >= 0):
        raise ValueError(f"mi must be a finite number >= 0 nats, got {mi!r}.")
    return math.sqrt(-math.expm1(-2.0 * mi / check_positive_int(dim, "dim")))


def _check_rho(rho) -> None:
    if not (isinstance(rho, numbers.Real) and -1 < rho < 1):
        raise ValueError(f"rho must be a correlation in (-1, 1), got {rho!r}.")


def _rng(seed):
    return (
        seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    )


@dataclass(frozen=True)
class CorrelatedGaussian:
    r"""``dim`` independent pairs :math:`(X_k, Y_k)` of standard normals.

    Each pair has correlation ``rho``; ``x`` and ``y`` are ``(n, dim)`` arrays.
    """

    rho: float
    dim: int = 1

    def __post_init__(self):
        _check_rho(self.rho)
        check_positive_int(self.dim, "dim")

    @classmethod
    def with_mi(cls, mi: float, dim: int = 1) -> CorrelatedGaussian:
        """The distribution with mutual information ``mi`` nats in ``dim`` pairs."""
        return cls(rho_for_mi(mi, dim), dim)

    @property
    def mi(self) -> float:
        """The ground truth :math:`I(X;Y)` in nats."""
        return gaussian_mi(self.rho, self.dim)

    def sample(self, n: int, seed=None) -> tuple[np.ndarray, np.ndarray]:
        r"""Draw ``n`` joint samples: :math:`Y = \rho X + \sqrt{1-\rho^2} N`."""
        rng = _rng(seed)
        n = check_positive_int(n, "n")
        x = rng.standard_normal((n, self.dim))
        noise = rng.standard_normal((n, self.dim))
        y = self.rho * x + math.sqrt(1 - self.rho**2) * noise
        return x, y

    def log_density_ratio(self, x, y) -> np.ndarray:
        r"""The optimal critic :math:`\log \frac{p(x,y)}{p(x)p(y)}`, summed over pairs.

        .. math::  i(x, y) = -\tfrac12\log(1-\rho^2)
           - \frac{\rho^2 (x^2 + y^2) - 2\rho x y}{2(1-\rho^2)}.
        """
        x, y = np.asarray(x, float), np.asarray(y, float)
        r2 = self.rho**2
        quad = (r2 * (x**2 + y**2) - 2 * self.rho * x * y) / (2 * (1 - r2))
        return (-0.5 * np.log1p(-r2) - quad).sum(axis=-1)


@dataclass(frozen=True)
class TransformedGaussian(CorrelatedGaussian):
    """A :class:`CorrelatedGaussian` with an invertible map on every coordinate.

    The map (``"cubic"``, ``"exp"`` or ``"sinh"``) is applied to ``x`` and to
    ``y``; being invertible, it changes neither :math:`I(X;Y)` nor :attr:`mi`,
    but makes the data heavy-tailed or skewed.
    """

    transform: str = "cubic"

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.transform, "transform", tuple(MARGINAL_TRANSFORMS))

    def sample(self, n: int, seed=None) -> tuple[np.ndarray, np.ndarray]:
        x, y = super().sample(n, seed)
        f = MARGINAL_TRANSFORMS[self.transform]
        return f(x), f(y)

    def log_density_ratio(self, x, y):
        raise NotImplementedError(
            "The density ratio of transformed data is that of the Gaussian at the "
            "inverse-transformed points; use CorrelatedGaussian on those."
        )


@dataclass(frozen=True)
class SeedTask:
    r"""The running example of the course: the data of its original notebooks.

    ``xy`` holds ``n`` joint samples of a correlated Gaussian pair, ``xy_ref``
    ``n`` independent samples of the reference :math:`\mathcal{N}(0, I)`, and
    ``ground_truth`` both :math:`I(X;Y)` and
    :math:`D(P_{X,Y}\,\|\,\mathcal{N}(0, I)) = -\frac12\log(1-\rho^2)`.
    """

    seed: int
    rho: float
    xy: np.ndarray = field(repr=False)
    xy_ref: np.ndarray = field(repr=False)

    @property
    def ground_truth(self) -> float:
        return gaussian_mi(self.rho)

    @property
    def x(self) -> np.ndarray:
        return self.xy[:, [0]]

    @property
    def y(self) -> np.ndarray:
        return self.xy[:, [1]]


def seed_task(seed: int = 0, n: int = 1000, rho: float | None = None) -> SeedTask:
    r"""The course's running example: ``rho = 1 - 0.19 * u``, ``n`` samples.

    ``rng = np.random.default_rng(seed)`` draws ``u`` uniform on [0, 1), so that
    ``rho`` lies in (0.81, 1], and then the ``n`` joint samples, exactly as the
    original notebooks of the course did. The ``n`` reference samples of
    :math:`\mathcal{N}(0, I)` come from an independent stream, the child
    ``np.random.SeedSequence(seed).spawn(1)[0]``, so that they are independent of
    the data. (The original notebooks drew them from a second ``default_rng(seed)``,
    which repeats the data's normal draws: their reference correlated with the
    data at about -0.95 to -0.996.)

    Passing ``rho`` keeps every draw but replaces the correlation, so that
    ``seed_task(s, rho=seed_task(0).rho)`` gives fresh samples of the same
    distribution for every ``s``.
    """
    rng = np.random.default_rng(seed)
    drawn = 1 - 0.19 * rng.random()
    rho = drawn if rho is None else rho
    _check_rho(rho)
    n = check_positive_int(n, "n")
    xy = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], n)
    reference_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    xy_ref = reference_rng.standard_normal((n, 2))
    return SeedTask(seed, float(rho), xy, xy_ref)
