r"""Product reference distributions :math:`P_{X'} \times P_{Y'}` for MI-NEE.

MI-NEE needs a product distribution it can sample i.i.d., fitted to the
data's marginals so that every divergence in

.. math::  I(X;Y) = D(P_{XY} \| P_{X'} \times P_{Y'})
   - D(P_X \| P_{X'}) - D(P_Y \| P_{Y'})

stays small. Two choices are offered: a Gaussian with each coordinate's mean
and standard deviation, and the uniform distribution on the data's bounding
box (widened by ``margin`` of its width on every side).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_choice

KINDS = ("gaussian", "uniform")


@dataclass
class ProductReference:
    """Independent coordinates, Gaussian or uniform, fitted to ``x`` and ``y``."""

    kind: str
    x_params: tuple[Tensor, Tensor]  # (mean, std) or (low, high)
    y_params: tuple[Tensor, Tensor]

    @classmethod
    def fit(
        cls, x: Tensor, y: Tensor, kind: str = "gaussian", margin: float = 0.05
    ) -> ProductReference:
        check_choice(kind, "reference", KINDS)

        def params(z: Tensor) -> tuple[Tensor, Tensor]:
            if kind == "gaussian":
                std = z.std(dim=0, unbiased=False) if z.shape[0] > 1 else None
                if std is None or not bool((std > 0).all()):
                    raise ValueError(
                        "a Gaussian reference needs every coordinate to vary; "
                        "remove constant columns from the samples."
                    )
                return z.mean(dim=0), std
            low, high = z.min(dim=0).values, z.max(dim=0).values
            width = (high - low).clamp_min(1e-6)
            return low - margin * width, high + margin * width

        return cls(kind, params(x), params(y))

    def _draw(self, params, n: int, generator) -> Tensor:
        a, b = params
        shape = (n, a.shape[0])
        if self.kind == "gaussian":
            noise = torch.randn(shape, generator=generator, device=a.device)
            return a + b * noise
        return a + (b - a) * torch.rand(shape, generator=generator, device=a.device)

    def sample(self, n: int, generator: torch.Generator | None = None):
        """``n`` i.i.d. pairs ``(x', y')`` of the product reference."""
        return self._draw(self.x_params, n, generator), self._draw(
            self.y_params, n, generator
        )
