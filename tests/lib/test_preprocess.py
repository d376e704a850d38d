"""Normalizer: a scikit-learn-style transformer that keeps I(X;Y)."""

import numpy as np
import pytest
import torch

from mi_lib import TransformedGaussian
from mi_lib.preprocess import Normalizer, NotFittedError


def test_rank_normalisation_makes_heavy_tails_normal_and_keeps_the_ranks():
    x, _ = TransformedGaussian(0.9, transform="exp").sample(4000, seed=0)
    fitted = Normalizer("rank").fit(x[:3000])
    z = fitted.transform(x)
    assert isinstance(z, np.ndarray) and z.shape == x.shape  # NumPy in, NumPy out
    assert z.std() == pytest.approx(1.0, abs=0.05)
    assert np.abs(z).max() < 4
    order = np.argsort(x[:, 0])
    assert np.all(np.diff(z[order, 0]) >= 0)  # monotone: an invertible map
    assert fitted.n_features_in_ == 1 and fitted.sorted_.shape == (1, 3000)


def test_standard_normalisation_learns_mean_and_scale():
    z = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    fitted = Normalizer("standard").fit(z)
    assert fitted.mean_.tolist() == [2.0, 5.0]
    assert fitted.scale_.tolist() == [1.0, 1.0]  # a constant column keeps scale 1
    out = fitted.transform(z)
    assert isinstance(out, torch.Tensor)  # a tensor in, a tensor out
    assert out.tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    assert Normalizer("standard").fit_transform(z).tolist() == out.tolist()


def test_unfitted_use_wrong_dimension_and_kind_are_reported():
    with pytest.raises(NotFittedError, match=r"not fitted yet; call fit\(z\)"):
        Normalizer().transform(np.zeros((3, 1)))
    assert issubclass(NotFittedError, ValueError)  # as scikit-learn's
    fitted = Normalizer().fit(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match="z has 3 columns but the Normalizer was"):
        fitted.transform(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="kind must be one of 'rank', 'standard'"):
        Normalizer("minmax")
    with pytest.raises(ValueError, match="z is 1-D"):
        Normalizer().fit(np.zeros(5))
