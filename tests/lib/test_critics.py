import pytest
import torch
from torch import nn

from mi_lib import Critic, JointCritic, SeparableCritic


def test_joint_critic_is_the_seeds_network():
    torch.manual_seed(0)
    critic = JointCritic()
    linears = [m for m in critic.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2, 100),
        (100, 100),
        (100, 1),
    ]
    assert sum(isinstance(m, nn.ELU) for m in critic.net) == 2
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert weights.std().item() == pytest.approx(0.02, rel=0.1)
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears)


def test_outputs_start_near_zero_with_one_value_per_sample():
    torch.manual_seed(0)
    x, y = torch.randn(300, 1), torch.randn(300, 1)
    out = JointCritic()(x, y)
    assert out.shape == (300,)
    assert out.abs().max() < 0.05


@pytest.mark.parametrize("hidden,depth", [(16, 1), (32, 3), (8, 0)])
def test_width_and_depth(hidden, depth):
    critic = Critic(3, hidden=hidden, depth=depth)
    linears = [m for m in critic.net if isinstance(m, nn.Linear)]
    assert len(linears) == depth + 1
    assert critic(torch.randn(5, 3)).shape == (5,)


@pytest.mark.parametrize("critic", [JointCritic(2, 3), SeparableCritic(2, 3, embed=4)])
def test_pairwise_matches_forward(critic):
    torch.manual_seed(1)
    for p in critic.parameters():
        nn.init.normal_(p, std=0.5)
    x, y = torch.randn(6, 2), torch.randn(7, 3)
    scores = critic.pairwise(x, y)
    assert scores.shape == (6, 7)
    torch.testing.assert_close(scores[2, 5], critic(x[[2]], y[[5]])[0])
    torch.testing.assert_close(scores[:6, :6].diagonal(), critic(x, y[:6]))


def test_separable_critic_is_an_inner_product():
    critic = SeparableCritic(1, 1, embed=3)
    x, y = torch.randn(4, 1), torch.randn(4, 1)
    torch.testing.assert_close(critic(x, y), (critic.f(x) * critic.g(y)).sum(1))


def test_wrong_input_shapes_are_reported_not_crashing_in_torch():
    with pytest.raises(ValueError, match=r"shape \(10,\).*\(n, 1\)"):
        JointCritic()(torch.zeros(10), torch.zeros(10, 1))
    with pytest.raises(ValueError, match="x has 10 rows but y has 9"):
        JointCritic()(torch.zeros(10, 1), torch.zeros(9, 1))
    with pytest.raises(ValueError, match="depth must be"):
        Critic(2, depth=-1)
