"""MI as a loss term: mi_lib.regularizer (and the grid metrics of mi_lib.modes)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import mi_lib
from mi_lib.modes import grid_means, mode_metrics, sample_grid
from mi_lib.regularizer import BOUNDS, MIRegularizer, adaptive_clip, clip_scale


def _upstream(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))


@pytest.mark.parametrize("bound", BOUNDS)
@pytest.mark.parametrize("critic", ["joint", "separable"])
def test_gradient_reaches_the_inputs_and_the_upstream_model(bound, critic):
    reg = MIRegularizer(2, 2, bound=bound, critic=critic, seed=1)
    net = _upstream()
    z = torch.randn(64, 2, requires_grad=True)
    reg.update(net(z), z)  # after one update too (MINE's average is then set)
    estimate = reg(net(z), z)
    assert estimate.ndim == 0 and torch.isfinite(estimate)
    estimate.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    for p in net.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize("bound", ["mine", "nwj", "infonce"])
def test_critic_update_leaves_the_upstream_model_untouched(bound):
    critic = "separable" if bound == "infonce" else "joint"
    reg = MIRegularizer(2, 2, bound=bound, critic=critic, seed=0)
    net = _upstream()
    before = [p.detach().clone() for p in net.parameters()]
    critic_before = [p.detach().clone() for p in reg.critic.parameters()]
    z = torch.randn(64, 2)
    for _ in range(5):
        reg.update(net(z), z)
    for p, q in zip(net.parameters(), before, strict=True):
        assert torch.equal(p, q)
        assert p.grad is None
    moved = [
        not torch.equal(p, q)
        for p, q in zip(reg.critic.parameters(), critic_before, strict=True)
    ]
    assert all(moved)
    if bound == "mine":
        assert reg.log_avg is not None and not reg.log_avg.requires_grad


def test_mine_forward_has_the_value_of_dv_and_the_moving_average_gradient():
    reg = MIRegularizer(1, 1, bound="mine", seed=0)
    x = torch.randn(32, 1)
    z = (x + 0.5 * torch.randn(32, 1)).requires_grad_(True)
    reg.update(x, z)
    g = torch.Generator().manual_seed(5)
    reg.generator = g
    value = reg(x, z)
    g.manual_seed(5)
    perm = torch.randperm(32, generator=g)
    t_p, t_q = reg.critic(x, z), reg.critic(x, z[perm])
    assert torch.isclose(value, mi_lib.bounds.dv(t_p, t_q))
    (grad,) = torch.autograd.grad(value, z)
    want = t_p.mean() - torch.exp(t_q).mean() / reg.log_avg.exp()
    (grad_want,) = torch.autograd.grad(want, z)
    assert torch.allclose(grad, grad_want, atol=1e-6)


def _gaussian_batch(rho, n, generator):
    x = torch.randn(n, 1, generator=generator)
    z = rho * x + math.sqrt(1 - rho**2) * torch.randn(n, 1, generator=generator)
    return x, z


@pytest.mark.slow  # trains for seconds: left out of make test-fast
@pytest.mark.parametrize("bound", ["mine", "smile"])
def test_estimate_approaches_the_gaussian_mi_when_the_critic_trains_alone(bound):
    rho = 0.9
    truth = mi_lib.gaussian_mi(rho)  # 0.830 nats
    reg = MIRegularizer(1, 1, bound=bound, hidden=64, lr=2e-3, ema=0.9, seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(800):
        reg.update(*_gaussian_batch(rho, 256, g))
    with torch.no_grad():
        x, z = _gaussian_batch(rho, 20000, g)
        estimate = reg(x, z).item()
    # A perfect critic on 20000 pairs has an error of about 0.02; the bound
    # stays below the truth and a short training leaves a small gap.
    assert truth - 0.15 < estimate < truth + 0.06, (estimate, truth)


def test_clip_scale_is_the_formula():
    assert clip_scale(1.0, 4.0) == 0.25
    assert clip_scale(4.0, 1.0) == 1.0
    assert clip_scale(3.0, 0.0) == 1.0
    with pytest.raises(ValueError, match="finite"):
        clip_scale(float("nan"), 1.0)


@pytest.mark.parametrize("weight", [1e-3, 1.0, 1e3])
def test_adaptive_clip_scale_and_norm(weight):
    torch.manual_seed(0)
    net = _upstream()
    z = torch.randn(32, 2)
    out = net(z)
    loss = out.pow(2).mean()
    mi = weight * out[:, 0].sin().mean()
    params = list(net.parameters())
    g_l = torch.autograd.grad(loss, params, retain_graph=True)
    g_i = torch.autograd.grad(mi, params, retain_graph=True)
    n_l = torch.sqrt(sum((g**2).sum() for g in g_l)).item()
    n_i = torch.sqrt(sum((g**2).sum() for g in g_i)).item()
    res = adaptive_clip(loss, mi, params, beta=0.5)
    assert res.scale == pytest.approx(min(n_l, n_i) / n_i, rel=1e-5)
    assert res.loss_norm == pytest.approx(n_l, rel=1e-5)
    assert res.mi_norm == pytest.approx(n_i, rel=1e-5)
    scaled = math.sqrt(sum(((res.scale * g) ** 2).sum().item() for g in g_i))
    assert scaled <= n_l * (1 + 1e-5)
    for p, gl, gi, g in zip(params, g_l, g_i, res.gradients, strict=True):
        assert torch.allclose(g, gl - 0.5 * res.scale * gi, atol=1e-6)
        assert torch.allclose(p.grad, g)  # assigned, ready for optimizer.step()


def test_adaptive_clip_without_clipping_uses_the_whole_mi_gradient():
    net = _upstream()
    z = torch.randn(16, 2)
    out = net(z)
    res = adaptive_clip(
        out.mean(), 1e3 * out.pow(2).mean(), net.parameters(), clip=False, assign=False
    )
    assert res.scale == 1.0
    assert all(p.grad is None for p in net.parameters())


def test_bad_input_gets_clear_errors():
    reg = MIRegularizer(2, 3, seed=0)
    with pytest.raises(ValueError, match="x has 4 rows but z has 5.*same batch"):
        reg(torch.randn(4, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"z has shape \(4, 2\).*\(batch, 3\)"):
        reg(torch.randn(4, 2), torch.randn(4, 2))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        reg(np.zeros((4, 2)), torch.randn(4, 3))
    with pytest.raises(ValueError, match="bound must be one of"):
        MIRegularizer(2, 2, bound="mime")
    with pytest.raises(ValueError, match="pairwise"):
        MIRegularizer(2, 2, bound="infonce", critic=nn.Bilinear(2, 2, 1))

    net, other = _upstream(), _upstream(1)
    z = torch.randn(8, 2)
    out = net(z)
    with pytest.raises(ValueError, match=r"loss has shape \(8, 2\).*\.mean\(\)"):
        adaptive_clip(out, out.mean(), net.parameters())
    with pytest.raises(ValueError, match=r"mi has shape \(8,\).*\.mean\(\)"):
        adaptive_clip(out.mean(), out[:, 0], net.parameters())
    with pytest.raises(TypeError, match="do not call .item"):
        adaptive_clip(out.mean(), out.mean().item(), net.parameters())
    with pytest.raises(ValueError, match="mi does not require grad.*detach"):
        adaptive_clip(out.mean(), out.detach().mean(), net.parameters())
    with pytest.raises(ValueError, match="parameters is empty"):
        adaptive_clip(out.mean(), out.sum(), [])
    with pytest.raises(ValueError, match="mi does not depend on any of parameters"):
        adaptive_clip(out.mean(), other(z).mean(), net.parameters())
    # each term reaches a parameter, but none reaches both
    first, second = nn.Linear(2, 2), nn.Linear(2, 2)
    with pytest.raises(ValueError, match="share no parameter"):
        adaptive_clip(
            first(z).mean(),
            second(z).mean(),
            [*first.parameters(), *second.parameters()],
        )


def test_mode_metrics_of_the_true_distribution_and_of_a_collapse():
    g = torch.Generator().manual_seed(0)
    m = mode_metrics(sample_grid(2500, g))
    assert m.modes == 25
    # P(|N(0, I_2)| < 3) = 1 - exp(-9/2) = 0.9889; its standard error on 2500
    p = 1 - math.exp(-4.5)
    assert abs(m.high_quality - p) < 4 * math.sqrt(p * (1 - p) / 2500)
    # KL of a multinomial histogram from uniform: about (K - 1) / (2 m)
    assert 0 < m.kl < 4 * 24 / (2 * 2500)
    collapsed = torch.as_tensor(grid_means()[[0, 0, 0, 7]], dtype=torch.float32)
    m = mode_metrics(collapsed + 0.01)
    assert m.modes == 2 and m.high_quality == 1.0
    want = 0.75 * math.log(25 * 0.75) + 0.25 * math.log(25 * 0.25)
    assert m.kl == pytest.approx(want)
    assert mode_metrics(collapsed + 1.0).kl == math.inf
    assert mode_metrics(collapsed + 0.01, min_count=2).modes == 1
