"""Hyperparameter search: the resumable Optuna study behind ``hydra/sweeper=recsys_optuna``.

``study.py`` opens a study with heartbeats and counts its trials, ``sweeper.py`` runs the
ask-launch-tell loop through a Hydra launcher, ``best_experiment.py`` writes the best trial as
an experiment config, ``reports.py`` the plots and tables of a finished sweep and
``summary_run.py`` logs that summary to W&B. The Hydra plugin that exposes the sweeper lives in
``hydra_plugins/recsys_optuna_sweeper/`` (Hydra only loads plugins from that namespace).
"""
