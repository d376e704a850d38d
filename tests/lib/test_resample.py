import numpy as np
import pytest
import torch

from mi_lib import CorrelatedGaussian, product_indices, resample_product


def test_without_replacement_draws_distinct_indices():
    g = torch.Generator().manual_seed(0)
    j, k = product_indices(100, 60, replace=False, generator=g)
    assert len(set(j.tolist())) == 60 and len(set(k.tolist())) == 60
    assert not torch.equal(j, k)


def test_without_replacement_keeps_each_marginal_exactly():
    x, y = CorrelatedGaussian(0.9).sample(500, seed=0)
    xt, yt = torch.tensor(x), torch.tensor(y)
    xr, yr = resample_product(xt, yt, generator=torch.Generator().manual_seed(1))
    assert torch.equal(xr.sort(0).values, xt.sort(0).values)
    assert torch.equal(yr.sort(0).values, yt.sort(0).values)


def test_resampled_pairs_are_uncorrelated_while_the_data_are_not():
    x, y = CorrelatedGaussian(0.9).sample(20_000, seed=0)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for replace in (False, True):
        g = torch.Generator().manual_seed(2)
        xr, yr = resample_product(xt, yt, replace=replace, generator=g)
        assert abs(np.corrcoef(xr[:, 0], yr[:, 0])[0, 1]) < 0.03
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] > 0.85


def test_with_replacement_allows_more_samples_than_data_and_repeats():
    g = torch.Generator().manual_seed(0)
    j, k = product_indices(10, 1000, replace=True, generator=g)
    assert j.shape == k.shape == (1000,)
    assert j.min() >= 0 and j.max() < 10
    counts = torch.bincount(j, minlength=10).float()
    assert (counts - 100).abs().max() < 40  # uniform indices


def test_without_replacement_refuses_more_than_n():
    with pytest.raises(ValueError, match="replace=True"):
        product_indices(10, 11, replace=False)


def test_seeded_generator_reproduces():
    a = product_indices(50, 20, True, torch.Generator().manual_seed(5))
    b = product_indices(50, 20, True, torch.Generator().manual_seed(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_mismatched_pairs_are_rejected():
    with pytest.raises(ValueError, match="x has 5 samples but y has 4"):
        resample_product(torch.zeros(5, 1), torch.zeros(4, 1))
