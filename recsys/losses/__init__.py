"""Two-tower losses (plain ``torch.nn``) and negative samplers."""

from __future__ import annotations

from recsys.losses.bpr import BPRLoss
from recsys.losses.combined import CombinedLoss
from recsys.losses.mse import MSELoss
from recsys.losses.negatives import PopularityNegativeSampler, UniformNegativeSampler
from recsys.losses.outputs import TowerLoss, TowerOutputs, float32, negative_scores
from recsys.losses.sampled import SampledNegativesLoss
from recsys.losses.softmax import FullSoftmaxLoss, InBatchSoftmaxLoss, SampledSoftmaxLoss

__all__ = [
    "BPRLoss",
    "CombinedLoss",
    "FullSoftmaxLoss",
    "InBatchSoftmaxLoss",
    "MSELoss",
    "PopularityNegativeSampler",
    "SampledNegativesLoss",
    "SampledSoftmaxLoss",
    "TowerLoss",
    "TowerOutputs",
    "UniformNegativeSampler",
    "float32",
    "negative_scores",
]
