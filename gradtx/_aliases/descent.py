"""Gradient descent, stochastic and minibatch, with heavy-ball or Nesterov momentum.

The first chapter of the story: one learning rate for every parameter (Robbins & Monro 1951;
Qian 1999; Nesterov 1983).
"""

from __future__ import annotations

from gradtx._base import GradientTransformation, ScalarOrSchedule, identity
from gradtx._combine import chain
from gradtx._config import register_alias
from gradtx._transforms.momentum import trace
from gradtx._transforms.scaling import scale_by_learning_rate


def momentum_or_identity(momentum: float | None, nesterov: bool) -> GradientTransformation:
    """`trace(momentum, nesterov)`, or nothing when momentum is None."""
    return identity() if momentum is None else trace(momentum, nesterov)


@register_alias
def sgd(
    learning_rate: ScalarOrSchedule, momentum: float | None = None, nesterov: bool = False
) -> GradientTransformation:
    """Stochastic gradient descent, with optional heavy-ball or Nesterov momentum: `trace`, then
    `scale_by_learning_rate`. Robbins & Monro 1951; Qian 1999; Nesterov 1983."""
    return chain(momentum_or_identity(momentum, nesterov), scale_by_learning_rate(learning_rate))
