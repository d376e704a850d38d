"""Each bound against a closed form: the optimal critic on Gaussians."""

import math

import pytest
import torch

from mi_lib import CorrelatedGaussian, bounds

RHO, N = 0.8, 20_000
TRUE_MI = -0.5 * math.log(1 - RHO**2)


@pytest.fixture(scope="module")
def optimal_scores():
    """t = log dP/dQ on joint samples and on independent product samples."""
    dist = CorrelatedGaussian(RHO)
    x, y = dist.sample(N, seed=0)
    x_ind, _ = dist.sample(N, seed=1)
    _, y_ind = dist.sample(N, seed=2)
    t_p = torch.tensor(dist.log_density_ratio(x, y), dtype=torch.float64)
    t_q = torch.tensor(dist.log_density_ratio(x_ind, y_ind), dtype=torch.float64)
    return t_p, t_q, dist, x, y


def test_dv_of_the_optimal_critic_is_the_kl(optimal_scores):
    t_p, t_q, *_ = optimal_scores
    assert bounds.dv(t_p, t_q).item() == pytest.approx(TRUE_MI, abs=0.04)


def test_dv_is_invariant_to_shifts_and_smaller_for_other_critics(optimal_scores):
    t_p, t_q, *_ = optimal_scores
    best = bounds.dv(t_p, t_q)
    assert bounds.dv(t_p + 7.0, t_q + 7.0).item() == pytest.approx(
        best.item(), abs=1e-9
    )
    for scale in (0.5, 1.5):
        assert bounds.dv(scale * t_p, scale * t_q) < best


def test_nwj_is_tight_at_the_optimal_critic_plus_one(optimal_scores):
    t_p, t_q, *_ = optimal_scores
    assert bounds.nwj(t_p + 1, t_q + 1).item() == pytest.approx(TRUE_MI, abs=0.05)
    # for the same critic values, NWJ never exceeds DV
    for shift in (-2.0, 0.0, 1.0, 3.0):
        assert bounds.nwj(t_p + shift, t_q + shift) <= bounds.dv(t_p, t_q) + 1e-12


def test_infonce_of_the_optimal_critic_and_its_cap(optimal_scores):
    *_, dist, x, y = optimal_scores
    n = 500
    xs, ys = x[:n], y[:n]
    scores = torch.tensor(
        dist.log_density_ratio(xs[:, None, :], ys[None, :, :]), dtype=torch.float64
    )
    value = bounds.infonce(scores).item()
    assert value <= math.log(n)
    assert value == pytest.approx(TRUE_MI, abs=0.1)
    # a critic that singles out the joint pairs hits the cap log n
    spike = torch.eye(n, dtype=torch.float64) * 1000.0
    assert bounds.infonce(spike).item() == pytest.approx(math.log(n), abs=1e-6)


def test_smile_equals_dv_when_nothing_is_clipped_and_trains_like_js(optimal_scores):
    t_p, t_q, *_ = optimal_scores
    clip = float(t_q.abs().max()) + 1
    assert bounds.smile(t_p, t_q, clip).item() == pytest.approx(
        bounds.dv(t_p, t_q).item()
    )
    a = t_p[:100].clone().requires_grad_()
    b = t_q[:100].clone().requires_grad_()
    bounds.smile(a, b, clip=1.0).backward()
    a2, b2 = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    bounds.js(a2, b2).backward()
    torch.testing.assert_close(a.grad, a2.grad)
    torch.testing.assert_close(b.grad, b2.grad)


def test_bounds_are_stable_for_critic_values_in_the_hundreds():
    t_p = torch.full((1000,), 300.0)
    t_q = torch.full((1000,), 300.0)
    t_q[0] = 400.0
    expected = 300.0 - (400.0 + math.log1p(999 * math.exp(-100.0)) - math.log(1000))
    assert bounds.dv(t_p, t_q).item() == pytest.approx(expected, abs=1e-3)
    # exp(400) overflows float32, and so does the naive .exp().mean().log()
    assert torch.isinf(t_q.exp().mean().log())
    assert math.isfinite(bounds.smile(t_p, t_q, clip=5.0).item())
    # NWJ's exp(t - 1) of values near 88 would overflow a naive sum
    near = torch.full((1000,), 88.0)
    assert math.isfinite(bounds.nwj(near, near).item())
    scores = torch.full((50, 50), 250.0) + 100.0 * torch.eye(50)
    assert bounds.infonce(scores).item() == pytest.approx(math.log(50), abs=1e-4)


def test_mine_loss_gradient_uses_the_moving_average():
    torch.manual_seed(0)
    t_p = torch.randn(64, requires_grad=True)
    t_q = torch.randn(64, requires_grad=True)
    log_prev = torch.tensor(0.3)
    beta = 0.9
    loss, log_avg = bounds.mine_loss(t_p, t_q, log_prev, beta)
    batch_avg = t_q.detach().exp().mean()
    avg = beta * math.exp(0.3) + (1 - beta) * batch_avg
    assert log_avg.item() == pytest.approx(math.log(avg), rel=1e-5)
    assert not log_avg.requires_grad
    loss.backward()
    # gradient of -mean(t_p) + mean(exp t_q) / avg
    torch.testing.assert_close(t_p.grad, torch.full((64,), -1 / 64))
    torch.testing.assert_close(t_q.grad, t_q.detach().exp() / 64 / avg)


def test_mine_loss_starts_its_average_at_the_first_batch():
    t_q = torch.tensor([0.0, math.log(3.0)])
    _, log_avg = bounds.mine_loss(torch.zeros(2), t_q, None, beta=0.9)
    assert log_avg.item() == pytest.approx(math.log(2.0))
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\)"):
        bounds.mine_loss(torch.zeros(2), t_q, None, beta=1.0)


@pytest.mark.parametrize("bad", [torch.zeros(4, 1), torch.zeros(0), [1.0, 2.0]])
def test_bad_critic_outputs_are_reported(bad):
    with pytest.raises((ValueError, TypeError), match="t_p|critic"):
        bounds.dv(bad, torch.zeros(4))
