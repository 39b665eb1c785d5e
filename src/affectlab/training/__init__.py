"""Multi-task training with Lightning: `train(config) -> run folder`."""

from __future__ import annotations

from affectlab.training.config import TrainConfig, load_config
from affectlab.training.run import TrainingInterrupted, train

__all__ = ["TrainConfig", "TrainingInterrupted", "load_config", "train"]
