"""Shared test settings: a non-interactive plotting backend, one torch thread."""

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)
