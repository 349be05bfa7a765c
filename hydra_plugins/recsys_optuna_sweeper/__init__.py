"""Hydra plugin package of the recsys_optuna sweeper (see recsys_optuna_sweeper.py)."""
