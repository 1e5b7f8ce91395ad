"""Momentum: the heavy ball (Qian 1999) and Nesterov's accelerated gradient (Nesterov 1983)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, transformation


class TraceState(NamedTuple):
    """State of `trace`."""

    count: jax.Array  # shape (), int32: the step t (torch's first step is undamped)
    trace: Updates  # the velocity v_t


def trace(
    decay: ArrayLike | jax.Array,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
    *,
    dampening: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Accumulate a trace of past updates (momentum).

    $$v_t = (1 - d) g_t + \mu v_{t-1} \ (v_1 = g_1), \qquad
    u_t = v_t \text{ (heavy ball)} \quad\text{or}\quad u_t = g_t + \mu v_t \text{ (Nesterov)}$$

    Args:
        decay: the momentum coefficient $\mu$, in [0, 1).
        nesterov: use Nesterov's look-ahead form, $u_t = g_t + \mu v_t$. Positional, as in
            Optax's `trace`.
        accumulator_dtype: dtype of $v_t$; the params' dtype by default.
        dampening: $d$, in [0, 1): torch.optim.SGD's dampening. As in torch, the first step is
            not damped ($v_1 = g_1$). With d = 0 (the default) this is Optax's `trace`.

    Returns:
        A transformation with state `TraceState(count, trace=v)`.

    References:
        Qian, "On the momentum term in gradient descent learning algorithms", Neural Networks
        12(1), 1999. Nesterov, "A method for unconstrained convex minimization problem with the
        rate of convergence O(1/k^2)", Doklady AN SSSR 269, 1983; in the form of Sutskever et al.,
        "On the importance of initialization and momentum in deep learning", ICML 2013.

    Note:
        The gradient enters undamped ($v_t = g_t + \mu v_{t-1}$), as in Optax and torch.optim with
        dampening 0; Qian's form $(1 - \mu) g_t$ differs by a constant factor of the learning rate.

    Example:
        >>> import gradtx
        >>> nesterov = gradtx.trace(0.9, nesterov=True)
        >>> nag = gradtx.chain(nesterov, gradtx.scale_by_learning_rate(0.01))
    """
    _validate.check_interval("trace", decay=decay, dampening=dampening)
    _validate.check_dtype("trace", "accumulator_dtype", accumulator_dtype)

    def init(params):
        return TraceState(_tree.zero_count(), _tree.zeros_like(params, accumulator_dtype))

    def accumulate(g, s, h):
        if isinstance(dampening, (int, float)) and dampening == 0:
            return s._replace(trace=g + h.decay * s.trace)
        damped = (1 - h.dampening) * g + h.decay * s.trace
        return s._replace(trace=jnp.where(h.first, g, damped))

    def direction(g, s, h):
        return g + h.decay * s.trace if nesterov else s.trace

    def update(updates, state, params=None):
        del params
        hyperparams = dict(first=state.count == 0, decay=decay, dampening=dampening)
        phases = (accumulate, direction)
        updates, state = _tree.lift("trace", phases, updates, state, **hyperparams)
        return updates, state._replace(count=_tree.safe_increment(state.count))

    return transformation(init, update)
