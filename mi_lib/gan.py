r"""A small GAN on the 2-D grid of Gaussians, with and without an MI term.

The experiment of MINE's section 5.1 (Belghazi et al., 2018), measured with
the protocol of VEEGAN and PacGAN (:mod:`mi_lib.modes`). The discriminator
:math:`D_\psi` and the generator :math:`G_\phi` play the non-saturating GAN:

.. math::
   L_D(\psi) = \operatorname{E}\,\operatorname{softplus}(-D_\psi(X))
      + \operatorname{E}\,\operatorname{softplus}(D_\psi(G_\phi(Z))),\qquad
   L_G(\phi) = \operatorname{E}\,\operatorname{softplus}(-D_\psi(G_\phi(Z))),

(the logistic losses of "real" for data and "fake" for generated samples,
and "real" for the generator's own), with :math:`Z\sim\mathcal N(0, I)`.
The regularised generator minimises :math:`L_G(\phi) - \beta\,\hat
I(G_\phi(Z); Z)`, the estimate given by :class:`mi_lib.MIRegularizer`,
whose critic is updated on every batch; with adaptive clipping, the MI
gradient is first scaled by :math:`s = \min(\lVert g_L\rVert, \lVert
g_I\rVert) / \lVert g_I\rVert` (:func:`mi_lib.adaptive_clip`).

Each method below gets the same networks, batches, noise and number of steps.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_choice
from .modes import mode_metrics, sample_grid
from .regularizer import MIRegularizer, adaptive_clip

#: The three methods compared in chapter 8.
METHODS = ("GAN", "GAN + MI", "GAN + MI, clipped")


@dataclass(frozen=True)
class GANConfig:
    """Architecture and budget, the same for every method.

    The 15 runs of chapter 8 (three methods, five seeds) with these defaults
    take about 14 minutes of two free CPU cores; ``iterations`` is the knob
    for shorter or longer training. What the defaults rest on, measured on
    seeds 0 and 1 of the clipped GAN: the discriminator steps four times as
    far as the generator (with equal steps, 3,000 steps leave the samples a
    blur over the square, a few percent of high quality); a weak gradient
    penalty (``r1=0.1`` keeps the samples blurred, ``r1=0`` lets the plain GAN
    collapse onto about 11 modes); 6,000 steps (the high-quality share still
    climbs at the end).
    """

    iterations: int = 6000
    batch_size: int = 256
    z_dim: int = 2
    hidden: int = 128  # width of every hidden layer
    g_depth: int = 3  # hidden layers of the generator
    d_depth: int = 3  # hidden layers of the discriminator
    lr: float = 2e-3  # Adam, for the generator and the MI critic
    #: Adam for the discriminator; a larger step than the generator's (the
    #: two time-scale rule of Heusel et al., 2017) lets it resolve modes of
    #: standard deviation 0.05 within the budget, so samples sharpen onto them
    d_lr: float = 8e-3
    adam_beta1: float = 0.5
    decay: bool = True  # step sizes decay linearly to 0 over the iterations
    beta: float = 1.0  # weight of the MI term
    bound: str = "mine"
    ema: float = 0.99  # MINE's moving average
    critic_hidden: int = 64
    n_eval: int = 2500  # generated samples for the metrics
    eval_every: int = 500  # metrics recorded during training
    r1: float = 0.003  # weight of the discriminator's gradient penalty on data

    def as_dict(self) -> dict:
        return asdict(self)


def mlp(in_dim: int, out_dim: int, hidden: int, depth: int) -> nn.Sequential:
    """A ReLU perceptron with ``depth`` hidden layers of ``hidden`` units."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


def discriminator_loss(
    discriminator: nn.Module, real: Tensor, fake: Tensor, r1: float = 0.0
) -> Tensor:
    r""":math:`L_D`: the logistic loss of "real" on data and "fake" on samples.

    With ``r1 > 0``, plus the penalty :math:`\frac{r_1}{2}\operatorname{E}\lVert\nabla_x
    D_\psi(X)\rVert^2` on the data (Mescheder et al., 2018), which damps the
    oscillations of the discriminator around the data.
    """
    if r1 > 0:
        real = real.detach().requires_grad_(True)
    d_real = discriminator(real)
    loss = F.softplus(-d_real).mean() + F.softplus(discriminator(fake.detach())).mean()
    if r1 > 0:
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        loss = loss + r1 / 2 * grad.pow(2).sum(dim=1).mean()
    return loss


def generator_loss(discriminator: nn.Module, fake: Tensor) -> Tensor:
    """:math:`L_G`: the non-saturating loss, "real" on the generator's samples."""
    return F.softplus(-discriminator(fake)).mean()


def generator_step(
    generator: nn.Module,
    discriminator: nn.Module,
    regularizer: MIRegularizer | None,
    z: Tensor,
    optimizer: torch.optim.Optimizer,
    beta: float = 1.0,
    clip: bool = True,
) -> dict:
    r"""One step of the generator on :math:`L_G - \beta\,s\,\hat I(G(z); z)`.

    Without a regulariser, a plain step on :math:`L_G`. Only the generator's
    parameters (those of ``optimizer``) move. Returns the loss, the estimate,
    the scale :math:`s` and the norms :math:`\lVert g_L\rVert`,
    :math:`\lVert g_I\rVert` as floats (NaN for what a plain step lacks).
    """
    fake = generator(z)
    loss = generator_loss(discriminator, fake)
    optimizer.zero_grad(set_to_none=True)
    if regularizer is None:
        loss.backward()
        optimizer.step()
        nan = float("nan")
        return {"loss": loss.item(), "mi": nan, "scale": nan, "ratio": nan}
    mi = regularizer(fake, z)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    result = adaptive_clip(loss, mi, params, beta=beta, clip=clip)
    optimizer.step()
    return {
        "loss": loss.item(),
        "mi": mi.item(),
        "scale": result.scale,
        "ratio": result.mi_norm / max(result.loss_norm, 1e-30),
    }


@dataclass
class GANRun:
    """What :func:`train_gan` returns: final metrics, samples and a history."""

    method: str
    seed: int
    metrics: dict
    samples: np.ndarray = field(repr=False)
    history: list = field(repr=False)  # (iteration, modes, high_quality, kl)
    #: per evaluation: (iteration, mean MI estimate, mean ratio of the MI
    #: gradient's norm to the GAN loss's, over the steps since the last one)
    trace: list = field(default_factory=list, repr=False)
    seconds: float = 0.0
    generator: nn.Module | None = field(default=None, repr=False)


def _seeded(factory, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def train_gan(
    method: str,
    seed: int = 0,
    config: GANConfig | None = None,
    step=generator_step,
    stop_after: int | None = None,
) -> GANRun:
    """Train one method of :data:`METHODS` on the grid, seeded and on the CPU.

    The networks' initial weights, the data batches and the noise depend on
    ``seed`` only, so the three methods see the same ones. ``step`` is the
    generator step (the signature of :func:`generator_step`). ``stop_after``
    stops after that many steps of the schedule of ``config`` (to check the
    start of a long run quickly).
    """
    check_choice(method, "method", METHODS)
    config = config or GANConfig()
    start = time.perf_counter()
    c = config
    gen = _seeded(lambda: mlp(c.z_dim, 2, c.hidden, c.g_depth), seed)
    disc = _seeded(lambda: mlp(2, 1, c.hidden, c.d_depth), seed + 1)
    reg = None
    if method != "GAN":
        reg = MIRegularizer(
            2,
            c.z_dim,
            bound=c.bound,
            hidden=c.critic_hidden,
            lr=c.lr,
            ema=c.ema,
            seed=seed + 2,
        )
        reg.optimizer = torch.optim.Adam(
            reg.critic.parameters(), lr=c.lr, betas=(c.adam_beta1, 0.999)
        )
    betas = (c.adam_beta1, 0.999)
    opt_g = torch.optim.Adam(gen.parameters(), lr=c.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=c.d_lr, betas=betas)
    optimizers = [opt_g, opt_d] + ([reg.optimizer] if reg else [])
    rates = [c.lr, c.d_lr] + ([c.lr] if reg else [])
    data = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 10_000)
    eval_noise = torch.randn(
        c.n_eval, c.z_dim, generator=torch.Generator().manual_seed(seed + 20_000)
    )
    history, trace, window = [], [], []

    def evaluate(iteration):
        if window:
            mi, ratio = np.mean([[w["mi"], w["ratio"]] for w in window], axis=0)
            trace.append((iteration, float(mi), float(ratio)))
            window.clear()
        with torch.no_grad():
            samples = gen(eval_noise)
        m = mode_metrics(samples)
        history.append((iteration, m.modes, m.high_quality, m.kl))
        return samples, m

    total = c.iterations if stop_after is None else min(stop_after, c.iterations)
    for it in range(total):
        if c.decay:
            for opt, lr in zip(optimizers, rates, strict=True):
                for group in opt.param_groups:
                    group["lr"] = lr * (1 - it / c.iterations)
        real = sample_grid(c.batch_size, data)
        z = torch.randn(c.batch_size, c.z_dim, generator=noise)
        fake = gen(z)
        loss_d = discriminator_loss(disc, real, fake, c.r1)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if reg is not None:
            reg.update(fake, z)
        out = step(
            gen, disc, reg, z, opt_g, beta=c.beta, clip=method == "GAN + MI, clipped"
        )
        if reg is not None and "ratio" in out:
            window.append(out)
        if (it + 1) % c.eval_every == 0 and it + 1 < total:
            evaluate(it + 1)
    samples, m = evaluate(total)
    return GANRun(
        method=method,
        seed=seed,
        metrics=m.as_dict(),
        samples=samples.numpy(),
        history=history,
        trace=trace,
        seconds=time.perf_counter() - start,
        generator=gen,
    )
