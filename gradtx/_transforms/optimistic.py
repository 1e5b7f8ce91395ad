"""Optimistic gradients: the last gradient, extrapolated against the one before (OGD)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, ScalarOrSchedule, Updates, transformation
from gradtx._transforms.scaling import learning_rate_at


class ScaleByOptimisticGradientState(NamedTuple):
    """State of `scale_by_optimistic_gradient`."""

    count: jax.Array  # shape (), int32: the step t - 1 (0 before the first step)
    previous_gradient: Updates  # g_{t-1}


def scale_by_optimistic_gradient(
    alpha: ScalarOrSchedule = 1.0, beta: ScalarOrSchedule = 1.0
) -> GradientTransformation:
    r"""Extrapolate the gradient against the previous one (optimistic gradient descent).

    $$u_t = (\alpha_t + \beta_t)\, g_t - \beta_t\, g_{t-1}, \qquad g_0 = g_1,$$

    so the first step is $\alpha_1 g_1$. With $\alpha = \beta = 1$ this is $2 g_t - g_{t-1}$,
    Popov's past extra-gradient; OGD's step is then $-\eta u_t$ (`scale_by_learning_rate`).

    Args:
        alpha: $\alpha \ge 0$, the weight of the gradient; a number or a schedule of the count.
        beta: $\beta \ge 0$, the weight of the correction $g_t - g_{t-1}$ (the "negative
            momentum"); a number or a schedule of the count.

    Returns:
        A transformation with state `ScaleByOptimisticGradientState(count, previous_gradient)`.

    References:
        Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018, Eq. (4).
        Mokhtari, Ozdaglar & Pattathil, "A Unified Analysis of Extra-gradient and Optimistic
        Gradient Methods for Saddle Point Problems: Proximal Point Approach", AISTATS 2020,
        Eq. (7).

    Note:
        $g_0 = g_1$ as in Optax (its issue 1082): the papers' first step has no past gradient.
        Optax's state holds a boolean `is_initial_step`; gradtx's holds the count, with which
        $\alpha$ and $\beta$ may be schedules: Optax's alias types them `ScalarOrSchedule` but
        fails on a schedule.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_optimistic_gradient()
        >>> state = tx.init(jnp.zeros(2))
        >>> u, state = tx.update(jnp.array([1.0, 2.0]), state)
        >>> tx.update(jnp.array([2.0, 2.0]), state)[0]
        Array([3., 2.], dtype=float32)
    """
    where = "scale_by_optimistic_gradient"
    _validate.check_scalar_or_schedule(where, "alpha", alpha)
    _validate.check_scalar_or_schedule(where, "beta", beta)

    def init(params):
        return ScaleByOptimisticGradientState(_tree.zero_count(), _tree.zeros_like(params))

    def direction(g, s, h):
        previous = jnp.where(h.first, g, s.previous_gradient)
        return (h.alpha + h.beta) * g - h.beta * previous, s._replace(previous_gradient=g)

    def update(updates, state, params=None):
        del params
        hyperparams = dict(
            first=state.count == 0,
            alpha=learning_rate_at(alpha, state.count),
            beta=learning_rate_at(beta, state.count),
        )
        updates, state = _tree.lift(where, (direction,), updates, state, **hyperparams)
        return updates, state._replace(count=_tree.safe_increment(state.count))

    return transformation(init, update)
