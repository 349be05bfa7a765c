"""Benchmarks behind the ``recsys-bench-*`` commands: processing, training, evaluation, re-ranking.

Each prints JSON with the machine and its load (:mod:`recsys.benchmarks.machine`) and writes it under
``outputs/benchmarks/`` unless ``--output`` names another file.
"""
