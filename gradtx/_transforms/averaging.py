"""Iterate averaging: a running mean of the parameters, kept beside the optimizer (Polyak and
Ruppert's averaged SGD, torch.optim.ASGD's `ax`)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, OptState, Params, Updates, transformation


class AverageParamsState(NamedTuple):
    """State of `average_params`."""

    count: jax.Array  # shape (), int32: the steps taken, t
    average: Updates  # bar theta_t, the averaged params (torch.optim.ASGD's `ax`)


def averaged_params(state: OptState) -> Params:
    r"""The averaged parameters $\bar\theta_t$ kept by `average_params`.

    Args:
        state: a state holding one `AverageParamsState` (that of `average_params`, or of a
            chain or wrapper around it).

    Returns:
        $\bar\theta_t$, shaped and typed like the params; the params themselves before the first
        step.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.chain(gradtx.sgd(0.5), gradtx.average_params())
        >>> params = jnp.ones(2)
        >>> state = tx.init(params)
        >>> for _ in range(2):
        ...     updates, state = tx.update(params, state, params)
        ...     params = gradtx.apply_updates(params, updates)
        >>> gradtx.averaged_params(state)  # the mean of 0.5 and 0.25
        Array([0.375, 0.375], dtype=float32)
    """
    return _tree.only_state(
        "averaged_params",
        "the state",
        state,
        AverageParamsState,
        "pass the state of a chain that ends in `average_params`",
    ).average


def average_params(start: ArrayLike = 1) -> GradientTransformation:
    r"""Keep the running mean of the parameters from step `start` on; pass updates unchanged.

    With $\theta_t = \theta_{t-1} + u_t$ the parameters after step $t = 1, 2, \dots$:

    $$\mu_t = \frac{1}{\max(1,\ t - s + 1)}, \qquad \bar\theta_t = \begin{cases}
    \theta_t & \mu_t = 1 \\ \bar\theta_{t-1} + \mu_t (\theta_t - \bar\theta_{t-1})
    & \text{otherwise} \end{cases}$$

    For an integer $s$, $\bar\theta_t = \theta_t$ up to step $s$, and then the mean of
    $\theta_s, \dots, \theta_t$. The average damps the noise of stochastic iterates: with a step
    size that decays more slowly than $1/t$, it converges at the optimal rate (Polyak & Juditsky).
    Read it with `averaged_params(state)`.

    The link must come last in its chain, after the learning rate: it needs the params and the
    final updates, and computes $\theta_t$ as `apply_updates` does (rounded to the params' dtype).

    Args:
        start: $s$, the step from which the mean runs, >= 1 (1 averages every iterate).
            torch.optim.ASGD's `t0` is $s = t_0 + 2$.

    Returns:
        A transformation with state `AverageParamsState(count, average)`; it needs `params`.

    References:
        Polyak & Juditsky, "Acceleration of Stochastic Approximation by Averaging", SIAM Journal
        on Control and Optimization 30(4), 1992. Bottou, "Stochastic Gradient Descent Tricks",
        Neural Networks: Tricks of the Trade, 2012 (averaged SGD).

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.sgd(0.1), gradtx.average_params(start=100))
    """
    _validate.check_interval("average_params", low=1.0, high=float("inf"), start=start)

    def init(params):
        copy = jax.tree.map(lambda p: jnp.array(p, jnp.result_type(p)), params)
        return AverageParamsState(_tree.zero_count(), copy)  # bar theta_0 = theta_0

    def rule(count, u, average, p):
        """theta_t = p + u as `apply_updates` rounds it, then the running mean; u unchanged."""
        dtype = _tree.compute_dtype(u, average, p)
        t, s = _tree.as_dtype(dtype, count, start)
        theta = (p.astype(dtype) + u.astype(dtype)).astype(p.dtype).astype(dtype)
        mu = 1 / jnp.maximum(1, t - s + 1)
        bar = average.astype(dtype)
        return u, jnp.where(mu == 1, theta, bar + (theta - bar) * mu).astype(average.dtype)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "average_params: update needs the params to average; call "
                "update(updates, state, params)"
            )
        count = _tree.safe_increment(state.count)
        updates, average = _tree.map_leaves(
            lambda u, average, p: rule(count, u, average, p),
            updates,
            state.average,
            params,
            where="average_params",
            names=("average", "params"),
            outputs=2,
        )
        return updates, AverageParamsState(count, average)

    return transformation(init, update)
