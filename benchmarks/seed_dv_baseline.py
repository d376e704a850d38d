# ruff: noqa: B006, B007, E501  (a faithful copy: its style is part of it)
"""A faithful copy of the seeds' DVTrainer, the baseline for MI-NEE's benchmark.

Copied from the seed notebook ``seed-002-training.md`` (section
"Encapsulation") with its behaviour intact: the minibatch is sliced with the
*epoch* index ``i`` and strided by the batch size (``idx[i : n : batch_size]``,
so an epoch repeats one batch of ``n / batch_size`` samples), a loss ``.item()``
and a TensorBoard scalar every iteration. Two things are made explicit because
the seed read them from the notebook's globals: ``DV`` (defined in the seed
just above the class) and the data of the final estimate, which the seed
took from the globals ``Z, Z_ref``; here it is the trainer's own ``self.Z,
self.Z_ref`` (in the seed notebook they are the same tensors), without which
the three runs of MI-NEE could not estimate ``D(P_X||P_X')`` at all. The
critic is the seeds' ``Net`` with ``input_size`` 2 (joint) or 1 (marginals).
Do not "fix" it: it is the reference point the library is measured against.
"""

import numpy as np
import torch
import torch.optim as optim
from torch import nn
from torch.nn import functional as F
from torch.utils.tensorboard import SummaryWriter


class Net(nn.Module):
    def __init__(self, input_size=2, hidden_size=100, sigma=0.02):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)  # fully-connected (fc) layer
        self.fc2 = nn.Linear(hidden_size, hidden_size)  # layer 2
        self.fc3 = nn.Linear(hidden_size, 1)  # layer 3
        nn.init.normal_(self.fc1.weight, std=sigma)  #
        nn.init.constant_(self.fc1.bias, 0)
        nn.init.normal_(self.fc2.weight, std=sigma)
        nn.init.constant_(self.fc2.bias, 0)
        nn.init.normal_(self.fc3.weight, std=sigma)
        nn.init.constant_(self.fc3.bias, 0)

    def forward(self, z):
        a1 = F.elu(self.fc1(z))
        a2 = F.elu(self.fc2(a1))
        t = self.fc3(a2)
        return t


def DV(Z, Z_ref, net):
    avg_tZ = net(Z).mean()  # (a)
    log_avg_etZ_ref = net(Z_ref).logsumexp(dim=0) - np.log(Z_ref.shape[0])  # (b) - (c)
    return avg_tZ - log_avg_etZ_ref


class DVTrainer:
    """
    Neural estimator for KL divergence based on the sample DV lower bound.

    Estimate D(P_Z||P_Z') using samples Z and Z' by training a network t to maximize
        avg(t(Z)) - log avg(e^t(Z'))
    """

    def __init__(self, Z, Z_ref, net, n_iters_per_epoch, writer_params={}, **kwargs):
        self.Z = Z
        self.Z_ref = Z_ref
        self.net = net
        self.optimizer = optim.Adam(net.parameters(), **kwargs)
        self.n_iters_per_epoch = n_iters_per_epoch
        self.batch_size = int((Z.shape[0] + 0.5) / n_iters_per_epoch)
        self.batch_size_ref = int((Z_ref.shape[0] + 0.5) / n_iters_per_epoch)
        self.writer = SummaryWriter(**writer_params)
        self.n_iter = self.n_epoch = 0

    def step(self, epochs=1):
        for i in range(epochs):
            self.n_epoch += 1
            idx = torch.randperm(self.Z.shape[0])
            idx_ref = torch.randperm(self.Z_ref.shape[0])
            for j in range(self.n_iters_per_epoch):
                self.n_iter += 1
                self.optimizer.zero_grad()
                batch_Z = self.Z[idx[i : self.Z.shape[0] : self.batch_size]]
                batch_Z_ref = self.Z_ref[
                    idx_ref[i : self.Z_ref.shape[0] : self.batch_size_ref]
                ]
                loss = -DV(batch_Z, batch_Z_ref, self.net)
                loss.backward()
                self.optimizer.step()
                self.writer.add_scalar("Loss/train", loss.item(), global_step=self.n_iter)
        with torch.no_grad():
            estimate = DV(self.Z, self.Z_ref, self.net).item()
            self.writer.add_scalar("Estimate", estimate, global_step=self.n_epoch)
            return estimate
