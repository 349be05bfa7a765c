"""Multi-layer perceptron used on top of every tower."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
}


class MLP(nn.Module):
    """``Linear -> BatchNorm -> activation -> Dropout`` per hidden layer; the last layer is plain Linear.

    ``MLP(128, [256, 128])`` is ``Linear(128, 256) -> BN -> ReLU -> Dropout -> Linear(256, 128)``.
    With ``hidden_dims=[]`` the MLP is the identity and ``output_dim == in_dim``.

    Args:
        in_dim: Size of the input features.
        hidden_dims: Output size of each Linear layer; the last entry is the output size.
        dropout: Dropout probability after each non-final layer (0 disables it).
        batch_norm: Whether to add ``BatchNorm1d`` after each non-final Linear layer.
        activation: One of ``relu``, ``gelu``, ``silu``, ``tanh``, ``leaky_relu``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        dropout: float = 0.2,
        batch_norm: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}")
        dims = [int(in_dim), *(int(d) for d in hidden_dims)]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if i < len(dims) - 2:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(d_out))
                layers.append(_ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*layers)
        self.in_dim = int(in_dim)
        self.output_dim = dims[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP.

        Args:
            x: Tensor of shape (B, in_dim).

        Returns:
            Tensor of shape (B, output_dim).
        """
        return self.net(x)
