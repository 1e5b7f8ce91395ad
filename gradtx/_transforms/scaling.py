"""Scaling by a constant, a schedule, or the learning rate (with the descent sign)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    stateless,
    transformation,
)


def _scale_leaf(factor, g):
    # The factor goes through an optimization barrier, free at run time: XLA folds a constant
    # factor (a Python float) into a later link's product with a scalar, s * (g * lr) ->
    # g * (s * lr), but not an array one (`inject_hyperparams`), and the two would differ by an
    # ulp (Schedule-Free's interpolation after its base step, Adafactor's parameter scale).
    dtype = _tree.compute_dtype(g)
    factor = jax.lax.optimization_barrier(jnp.asarray(factor, dtype))
    return (factor * g.astype(dtype)).astype(g.dtype)


def scale(step_size: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Multiply updates by a constant: $u_t = \alpha g_t$.

    Args:
        step_size: the factor $\alpha$, of any sign but finite.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale(-0.1)
        >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
        Array([-0.1, -0.1], dtype=float32)
    """
    if not (_validate.is_number(step_size) or hasattr(step_size, "dtype")):
        _validate.fail_type("scale", "step_size", step_size, "a number or an array")
    _validate.check_finite("scale", step_size=step_size)
    return stateless(
        lambda updates, params: _tree.map_leaves(
            lambda g: _scale_leaf(step_size, g), updates, where="scale"
        )
    )


class ScaleByScheduleState(NamedTuple):
    """State of `scale_by_schedule`."""

    count: jax.Array  # shape (), int32: the number of updates so far, t - 1


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    r"""Multiply updates by a scheduled factor: $u_t = \alpha(t - 1) \, g_t$.

    The schedule sees the number of updates made before this one (0 at the first step), as in
    Optax.

    Args:
        step_size_fn: $\alpha$, a schedule: step count -> factor.

    Example:
        >>> import gradtx
        >>> tx = gradtx.scale_by_schedule(gradtx.exponential_decay(1.0, 10, 0.5))
    """
    _validate.check_schedule("scale_by_schedule", "step_size_fn", step_size_fn)

    def init(params):
        del params
        return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        del params
        factor = step_size_fn(state.count)
        updates = _tree.map_leaves(
            lambda g: _scale_leaf(factor, g), updates, where="scale_by_schedule"
        )
        return updates, ScaleByScheduleState(count=_tree.safe_increment(state.count))

    return transformation(init, update)


def learning_rate_at(learning_rate: ScalarOrSchedule, count: jax.Array) -> jax.Array:
    """The learning rate used at the update that follows `count` earlier updates."""
    return learning_rate(count) if callable(learning_rate) else jnp.asarray(learning_rate)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Multiply updates by the negative learning rate: $u_t = -\eta_t g_t$.

    Args:
        learning_rate: $\eta$, a non-negative number, an array, or a schedule of the step count.
        flip_sign: multiply by $-\eta$ (descent, the default) or by $+\eta$.

    Example:
        >>> import gradtx
        >>> sgd = gradtx.chain(gradtx.identity(), gradtx.scale_by_learning_rate(0.1))
    """
    _validate.check_scalar_or_schedule("scale_by_learning_rate", "learning_rate", learning_rate)
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)
