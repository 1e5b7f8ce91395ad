"""Gradient descent, stochastic and minibatch, with heavy-ball or Nesterov momentum.

The first chapter of the story: one learning rate for every parameter (Robbins & Monro 1951;
Polyak 1964; Nesterov 1983).
"""

from __future__ import annotations

from jax.typing import ArrayLike

from gradtx._base import GradientTransformation, ScalarOrSchedule, identity
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.momentum import trace
from gradtx._transforms.scaling import scale_by_learning_rate


def momentum_or_identity(momentum: ArrayLike | None, nesterov: bool) -> GradientTransformation:
    """`trace(momentum, nesterov=nesterov)`, or nothing when momentum is None."""
    return identity() if momentum is None else trace(momentum, nesterov=nesterov)


@register_alias
@compiles
def sgd(
    learning_rate: ScalarOrSchedule, momentum: ArrayLike | None = None, nesterov: bool = False
) -> GradientTransformation:
    r"""Stochastic gradient descent, with optional heavy-ball or Nesterov momentum.

    The chain: `trace(momentum, nesterov=nesterov)` (absent when `momentum` is None), then
    `scale_by_learning_rate`; without momentum, $x_{t+1} = x_t - \eta_t g_t$. `nesterov` stays
    positional, as in Optax 0.2.8's `sgd`.

    References: Robbins & Monro, "A Stochastic Approximation Method", Ann. Math. Statist. 1951;
    Polyak, "Some methods of speeding up the convergence of iteration methods", 1964 (heavy ball);
    Nesterov, "A method for solving the convex programming problem with convergence rate
    $O(1/k^2)$", 1983; Sutskever et al., "On the importance of initialization and momentum in deep
    learning", ICML 2013 (both momenta in this form).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.sgd(0.1, momentum=0.9, nesterov=True)
        >>> tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))[0]
        Array([-0.19, -0.19], dtype=float32)
    """
    return chain(momentum_or_identity(momentum, nesterov), scale_by_learning_rate(learning_rate))
