"""Plain ``functools.partial`` from Hydra ``_partial_: true`` factories, so objects holding them pickle.

Hydra 1.4 returns a ``functools.partial`` subclass that re-checks its execution whitelist at call
time and refuses to be pickled before it is called. A factory stored on a LightningModule or a
datamodule (the optimizer, the top-K search class) must pickle: ``trainer=ddp_sim`` spawns its
processes by pickling both. The targets were already authorised when the config was instantiated.
"""

from __future__ import annotations

import functools
from typing import Any


def plain_partial(factory: Any) -> Any:
    """``factory`` as a plain ``functools.partial`` if it is one (Hydra's included); else unchanged."""
    if isinstance(factory, functools.partial):
        return functools.partial(factory.func, *factory.args, **(factory.keywords or {}))
    return factory
