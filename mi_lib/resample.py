r"""Samples of the product of marginals from joint samples (the resampling trick).

Given joint samples :math:`(X_i, Y_i)_{i\in[n]}`, the pairs
:math:`(X_{J_k}, Y_{K_k})_{k\in[n']}` with independent uniform indices
:math:`J` and :math:`K` have :math:`P_X \times P_Y` as each pair's distribution,
though the pairs are not independent of one another (they share the data).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_paired, check_positive_int


def product_indices(
    n: int,
    size: int,
    replace: bool = False,
    generator: torch.Generator | None = None,
    device=None,
) -> tuple[Tensor, Tensor]:
    """Two independent index vectors of length ``size`` into ``range(n)``.

    Without replacement each vector is the start of a random permutation, so
    ``size <= n``; with replacement the indices are i.i.d. uniform.
    """
    n, size = check_positive_int(n, "n"), check_positive_int(size, "size")
    if replace:
        return tuple(
            torch.randint(n, (size,), generator=generator, device=device)
            for _ in range(2)
        )
    if size > n:
        raise ValueError(
            f"size={size} exceeds the {n} samples; without replacement at most n "
            "indices can be drawn. Pass replace=True to draw more."
        )
    return tuple(
        torch.randperm(n, generator=generator, device=device)[:size] for _ in range(2)
    )


def resample_product(
    x: Tensor,
    y: Tensor,
    size: int | None = None,
    replace: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Pairs ``(x[J], y[K])`` approximating samples of :math:`P_X \\times P_Y`.

    ``size`` defaults to ``len(x)``.
    """
    check_paired(x, y)
    n = x.shape[0]
    size = n if size is None else size
    j, k = product_indices(n, size, replace, generator, x.device)
    return x[j], y[k]


def offdiagonal_pairs(
    m: int, count: int, generator: torch.Generator | None = None, device=None
) -> tuple[Tensor, Tensor]:
    r"""Index pairs :math:`(i, j)` with :math:`i \ne j`, for evaluating a bound.

    All :math:`m(m-1)` of them when ``count`` reaches that number, else
    ``count`` pairs drawn uniformly from them. Unlike two shufflings, these
    never pair :math:`X_i` with its own :math:`Y_i`: a joint pair among the
    product pairs has a large :math:`e^{t}` and drags the DV estimate down.
    """
    m, count = check_positive_int(m, "m"), check_positive_int(count, "count")
    if m < 2:
        raise ValueError("at least 2 samples are needed to pair x_i with y_j, j != i.")
    if count >= m * (m - 1):
        i = torch.arange(m, device=device).repeat_interleave(m - 1)
        shift = torch.arange(1, m, device=device).repeat(m)
    else:
        i = torch.randint(m, (count,), generator=generator, device=device)
        shift = torch.randint(1, m, (count,), generator=generator, device=device)
    return i, (i + shift) % m
