"""Validation of user input: clear errors before anything reaches torch."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def as_samples(
    a, name: str, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Return the samples ``a`` as a float32 tensor of shape ``(n, d)``.

    ``a`` may be a NumPy array, a torch tensor or a nested list. A clear
    ``TypeError`` or ``ValueError`` naming ``name`` and the fix is raised for
    non-numeric data, 1-D or 3-D arrays, empty samples and NaN or inf.
    """
    if a is None:
        raise TypeError(f"{name} is None; pass an array of shape (n_samples, dim).")
    if isinstance(a, torch.Tensor):
        if a.is_complex() or a.dtype == torch.bool:
            raise TypeError(
                f"{name} has dtype {a.dtype}; pass real-valued samples, "
                f"e.g. {name}.float()."
            )
        t = a.detach()
    else:
        try:
            arr = np.asarray(a)
        except ValueError as err:  # ragged nested lists
            raise ValueError(
                f"{name} could not be read as an array ({err}); pass a "
                "rectangular array of shape (n_samples, dim)."
            ) from None
        if arr.dtype.kind not in "iuf":
            raise TypeError(
                f"{name} has dtype {arr.dtype}; pass real-valued numeric samples, "
                f"e.g. {name}.astype(float)."
            )
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.ndim == 1:
        raise ValueError(
            f"{name} is 1-D with shape ({t.shape[0]},); pass a 2-D array of shape "
            f"(n_samples, dim), e.g. {name}.reshape(-1, 1) for scalar samples."
        )
    if t.ndim != 2:
        raise ValueError(
            f"{name} has shape {tuple(t.shape)}; pass a 2-D array of shape "
            f"(n_samples, dim), e.g. {name}.reshape(len({name}), -1)."
        )
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples); pass at least one sample.")
    if t.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns; each sample needs at least one value.")
    t = t.to(dtype=torch.float32)
    finite = torch.isfinite(t).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        count = int((~finite).sum())
        raise ValueError(
            f"{name} contains NaN or inf in {count} sample(s), first at row {bad}; "
            "remove or impute those samples first."
        )
    return t.to(device) if device is not None else t


def check_paired(x: torch.Tensor, y: torch.Tensor, names=("x", "y")) -> None:
    """Raise if the paired samples ``x`` and ``y`` differ in their counts."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} has {x.shape[0]} samples but {names[1]} has {y.shape[0]}; "
            f"the i-th row of {names[0]} and of {names[1]} must form one joint "
            "sample, so pass the same number of rows."
        )


def check_same_dim(p: torch.Tensor, q: torch.Tensor, names=("p", "q")) -> None:
    """Raise if samples ``p`` and ``q`` live in spaces of different dimension."""
    if p.shape[1] != q.shape[1]:
        raise ValueError(
            f"{names[0]} has dimension {p.shape[1]} but {names[1]} has "
            f"{q.shape[1]}; both samples must come from the same space."
        )


def _is_real(value) -> bool:
    """Whether ``value`` is a real number: Python's or NumPy's, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_positive_int(value, name: str) -> int:
    """Return ``value`` if it is a positive integer (NumPy's too), else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be a positive integer, got {value!r} "
            f"({type(value).__name__}); pass a whole number such as 100."
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_seed(value, name: str = "seed") -> int:
    """Return ``value`` as an ``int`` if it is an integer >= 0 (NumPy's too)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or value < 0
    ):
        raise ValueError(f"{name} must be an integer >= 0, such as 0; got {value!r}.")
    return int(value)


def check_real(
    value,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    closed: str = "neither",
    example: str = "",
) -> float:
    """Return ``value`` as a ``float`` if it is a finite real number in the
    interval from ``low`` to ``high``, else raise a ``ValueError`` that names
    ``name``, the interval and ``example`` (e.g. ``"such as 1e-3"``), the fix.

    ``closed`` says which ends belong to the interval: ``"neither"``,
    ``"low"``, ``"high"`` or ``"both"``. Python and NumPy scalars
    (``np.float32(0.5)``) are accepted; bools, strings, arrays, NaN and inf
    are not.
    """
    check_choice(closed, "closed", ("neither", "low", "high", "both"))
    hint = f", {example}" if example else ""
    if not _is_real(value):
        raise ValueError(
            f"{name} must be a real number{hint}; got {value!r} "
            f"({type(value).__name__})."
        )
    low_in, high_in = closed in ("low", "both"), closed in ("high", "both")
    above = value >= low if low_in else value > low
    below = value <= high if high_in else value < high
    if not (math.isfinite(value) and above and below):
        if high == math.inf:
            what = f"be a number {'>=' if low_in else '>'} {low:g}"
            if low == 0 and not low_in:
                what = "be a positive number"
        else:
            what = f"be a number in {'[' if low_in else '('}{low:g}, {high:g}"
            what += "]" if high_in else ")"
        raise ValueError(f"{name} must {what}{hint}; got {value!r}.")
    return float(value)


def check_positive(value, name: str, *, example: str = "") -> float:
    """Return ``value`` as a ``float`` if it is a finite number ``> 0``."""
    return check_real(value, name, 0.0, math.inf, example=example)


def check_fraction(value, name: str, *, low_open=False) -> float:
    """Return ``value`` as a ``float`` if it lies in [0, 1) (or (0, 1) when
    ``low_open``)."""
    return check_real(value, name, 0.0, 1.0, closed="neither" if low_open else "low")


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}.")
    return value
