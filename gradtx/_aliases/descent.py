"""Gradient descent, stochastic and minibatch, with heavy-ball or Nesterov momentum.

The first chapter of the story: one learning rate for every parameter (Robbins & Monro 1951;
Polyak 1964; Nesterov 1983).
"""

from __future__ import annotations

import jax
from jax.typing import ArrayLike

from gradtx._base import GradientTransformation, ScalarOrSchedule, identity
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.momentum import trace
from gradtx._transforms.noise import add_noise
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


@register_alias(static=("key",))
@compiles
def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: ArrayLike = 0.01,
    gamma: ArrayLike = 0.55,
    key: int | jax.Array | None = None,
) -> GradientTransformation:
    r"""SGD on gradients with annealed Gaussian noise:
    $u_t = -\eta_t (g_t + N_t)$, $N_t \sim \mathcal{N}(0, \sigma_t^2 I)$,
    $\sigma_t^2 = \eta / (1 + t)^\gamma$ ($t = 0$ at the first update).

    The chain: `add_noise(eta, gamma, key)`, then `scale_by_learning_rate`. The `eta` here is the
    noise's initial variance, not the learning rate, as in Optax.

    References: Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens, "Adding Gradient
    Noise Improves Learning for Very Deep Networks", arXiv:1511.06807, 2015.

    Note: `key` is an int, a key from `jax.random.key` or a raw uint32 key; None means the key
    0, as in Optax 0.2.8 (which warns that a key will be required). Give each noisy optimizer
    in a program its own key, or they draw the same noise. Optax's deprecated `seed=` is not
    taken. With the same key, gradtx draws Optax's noise.

    Example:
        >>> import gradtx
        >>> tx = gradtx.noisy_sgd(0.01, key=0)
    """
    key = 0 if key is None else key
    return chain(add_noise(eta, gamma, key), scale_by_learning_rate(learning_rate))
