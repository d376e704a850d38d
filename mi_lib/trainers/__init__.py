"""Trainers: each trains critics by minibatch Adam and returns estimates."""

from .base import Trainer
from .divergence import DVTrainer
from .mine import MINETrainer
from .minee import MINEETrainer
from .variational import BOUNDS, MITrainer

__all__ = ["Trainer", "DVTrainer", "MITrainer", "MINETrainer", "MINEETrainer", "BOUNDS"]
