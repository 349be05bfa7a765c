"""Non-neural baselines implementing the `recsys.models.base.Recommender` protocol."""

from __future__ import annotations

from recsys.models.baselines.als import ALSRecommender
from recsys.models.baselines.ease import EASERecommender
from recsys.models.baselines.itemknn import ItemKNNRecommender
from recsys.models.baselines.popularity import PopularityRecommender
from recsys.models.baselines.random import RandomRecommender

__all__ = [
    "ALSRecommender",
    "EASERecommender",
    "ItemKNNRecommender",
    "PopularityRecommender",
    "RandomRecommender",
]
