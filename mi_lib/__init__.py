"""mi_lib: neural estimation of mutual information, as taught in the course.

The modules, one job each:

- :mod:`mi_lib.data`: correlated Gaussians and other data with known MI;
- :mod:`mi_lib.critics`: the critic networks;
- :mod:`mi_lib.bounds`: DV, NWJ, InfoNCE, SMILE and MINE's loss;
- :mod:`mi_lib.resample`: samples of the product of marginals;
- :mod:`mi_lib.references`: product references for MI-NEE;
- :mod:`mi_lib.trainers`: DV, MINE, MI-NEE and other trainers;
- :mod:`mi_lib.estimate`: :func:`estimate_mi`, one call for practitioners;
- :mod:`mi_lib.heldout`: its cross-fitting folds, error bars and warnings;
- :mod:`mi_lib.regularizer`: MI as a term of another model's loss, adaptive
  gradient clipping;
- :mod:`mi_lib.modes`: the 2-D grid of Gaussians and its mode-collapse metrics;
- :mod:`mi_lib.plot`: the course's figures.
"""

from . import bounds
from .critics import Critic, JointCritic, SeparableCritic
from .data import (
    CorrelatedGaussian,
    TransformedGaussian,
    gaussian_mi,
    rho_for_mi,
    seed_task,
)
from .device import default_device
from .estimate import METHODS, MIEstimate, estimate_mi
from .heldout import MIEstimateWarning
from .modes import mode_metrics
from .references import ProductReference
from .regularizer import MIRegularizer, adaptive_clip
from .resample import product_indices, resample_product
from .trainers import DVTrainer, MINEETrainer, MINETrainer, MITrainer

__version__ = "0.1.0"

__all__ = [
    "bounds",
    "Critic",
    "JointCritic",
    "SeparableCritic",
    "CorrelatedGaussian",
    "TransformedGaussian",
    "gaussian_mi",
    "rho_for_mi",
    "seed_task",
    "default_device",
    "METHODS",
    "MIEstimate",
    "MIEstimateWarning",
    "estimate_mi",
    "ProductReference",
    "MIRegularizer",
    "adaptive_clip",
    "mode_metrics",
    "product_indices",
    "resample_product",
    "DVTrainer",
    "MITrainer",
    "MINETrainer",
    "MINEETrainer",
]
