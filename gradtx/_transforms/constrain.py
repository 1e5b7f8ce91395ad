"""Constraints on the updates: NaNs replaced by zeros, and parameters kept non-negative."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx._base import GradientTransformation, stateless, transformation


class ZeroNansState(NamedTuple):
    """State of `zero_nans`."""

    found_nan: Any  # a tree shaped like the params: per leaf, a bool scalar, NaN at the last step


def zero_nans() -> GradientTransformation:
    r"""Replace every NaN of the updates by zero, and record which leaves held one.

    $$u_{t,i} = 0 \text{ if } g_{t,i} \text{ is NaN, else } g_{t,i}, \qquad
    \text{found\_nan}_\ell = \exists i: g_{t,\ell,i} \text{ is NaN}$$

    Infinities pass through unchanged. The state is not read by the update; it tells the user,
    leaf by leaf, whether the last step repaired a NaN (a silent repair would hide a bug).

    Returns:
        A transformation with state `ZeroNansState(found_nan)`: a tree shaped like the params
        holding one bool scalar per leaf, False after `init`.

    References:
        Optax 0.2.8, `optax.zero_nans` (same rule, same state).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.zero_nans()
        >>> state = tx.init({"w": jnp.zeros(2)})
        >>> updates, state = tx.update({"w": jnp.asarray([1.0, jnp.nan])}, state)
        >>> updates["w"], state.found_nan["w"]
        (Array([1., 0.], dtype=float32), Array(True, dtype=bool))
    """

    def init(params):
        return ZeroNansState(found_nan=jax.tree.map(lambda p: jnp.asarray(False), params))

    def rule(g):
        nan = jnp.isnan(g)
        return jnp.where(nan, jnp.zeros_like(g), g), jnp.any(nan)

    def update(updates, state, params=None):
        del state, params
        updates, found_nan = _tree.map_leaves(rule, updates, where="zero_nans", outputs=2)
        return updates, ZeroNansState(found_nan=found_nan)

    return transformation(init, update)


def keep_params_nonnegative() -> GradientTransformation:
    r"""Shorten the updates that would make a parameter negative, so that it lands on 0.

    $$u_{t,i} = -\theta_{t-1,i} \text{ if } \theta_{t-1,i} + g_{t,i} < 0,
    \text{ else } g_{t,i}$$

    Place it last in a chain: it reads the final updates. Params must start non-negative; a
    negative parameter is moved to 0 by the next update that would keep it negative.

    Returns:
        A stateless transformation (`EmptyState`); its update needs the params.

    References:
        Optax 0.2.8, `optax.keep_params_nonnegative` (same rule); a projection onto the
        non-negative orthant, as in projected gradient descent.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.chain(gradtx.sgd(1.0), gradtx.keep_params_nonnegative())
        >>> params = jnp.asarray([1.0, 0.5])
        >>> tx.update(jnp.asarray([0.5, 2.0]), tx.init(params), params)[0]
        Array([-0.5, -0.5], dtype=float32)
    """

    def rule(u, p):
        dt = _tree.compute_dtype(u, p)
        u_, p_ = u.astype(dt), p.astype(dt)
        return jnp.where(p_ + u_ < 0, -p_, u_).astype(u.dtype)

    def update(updates, params):
        if params is None:
            raise ValueError(
                "keep_params_nonnegative: update needs the params to keep them >= 0; call "
                "update(updates, state, params)"
            )
        return _tree.map_leaves(
            rule, updates, params, where="keep_params_nonnegative", names=("params",)
        )

    return stateless(update)
