import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mi_lib import CorrelatedGaussian, Critic, JointCritic
from mi_lib.plot import plot_critic, plot_history, plot_samples


def test_pair_plot_has_scatter_and_kde_panels():
    x, y = CorrelatedGaussian(0.8).sample(200, seed=0)
    grid = plot_samples(x, y)
    assert grid.axes.shape == (2, 2)
    assert len(grid.axes[1, 0].collections) == 1  # the scatter below the diagonal
    assert len(grid.diag_axes[0].lines) == 1  # a KDE curve on the diagonal
    plt.close("all")


def test_critic_heat_map_shows_the_critics_values():
    critic = JointCritic()
    ax = plot_critic(critic, grid=20)
    mesh = ax.collections[0]
    with torch.no_grad():
        corner = critic(torch.tensor([[-5.0]]), torch.tensor([[-5.0]])).item()
    assert mesh.get_array().size == 400
    assert np.asarray(mesh.get_array()).ravel()[0] == pytest.approx(corner, abs=1e-6)
    assert critic.training  # restored
    plot_critic(Critic(2), grid=5)  # a critic of z = (x, y) works too
    plt.close("all")


class Scaled(torch.nn.Module):
    """A critic that takes any number of inputs: its call cannot be inferred."""

    def __init__(self):
        super().__init__()
        self.inner = Critic(2)

    def forward(self, *inputs):
        return self.inner(torch.cat(inputs, dim=1))


def test_the_way_to_call_the_critic_is_decided_not_guessed():
    with pytest.raises(ValueError, match=r"pass pair=True for critic\(x, y\)"):
        plot_critic(Scaled(), grid=5)
    for pair in (True, False):  # either call works once it is stated
        ax = plot_critic(Scaled(), grid=5, pair=pair)
        assert ax.collections[0].get_array().size == 25
    plt.close("all")


def test_a_type_error_inside_the_critic_is_not_swallowed():
    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x, y):
            raise TypeError("a bug in the critic")

    with pytest.raises(TypeError, match="a bug in the critic"):
        plot_critic(Broken(), grid=5)
    plt.close("all")


def test_history_plot_draws_each_curve_and_the_truth():
    ax = plot_history({"a": [(1, 0.1), (2, 0.2)], "b": [(1, 0.3)]}, ground_truth=0.5)
    assert len(ax.lines) == 3
    with pytest.raises(ValueError, match="history 'c' is empty"):
        plot_history({"c": []})
    plt.close("all")
