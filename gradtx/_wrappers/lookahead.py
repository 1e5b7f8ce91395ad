"""Lookahead: k steps forward with a fast optimizer, then one step back towards slow weights."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, OptState, Params


class LookaheadParams(NamedTuple):
    """The fast weights $\\phi$ (take gradients here) and the slow weights $\\theta$ (evaluate
    these): the params `lookahead` updates, as in Optax."""

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """Fast and slow weights both equal to `params`."""
        return cls(slow=params, fast=params)


class LookaheadState(NamedTuple):
    """State of `lookahead`."""

    fast_state: OptState  # the fast optimizer's state
    steps_since_sync: jax.Array  # shape (), int32: fast steps since the last synchronization


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: ArrayLike,
    slow_step_size: ArrayLike,
    reset_state: bool = False,
) -> GradientTransformation:
    r"""Take $k$ steps with `fast_optimizer`, then move the slow weights a fraction towards them.

    With fast weights $\phi$ and slow weights $\theta$ (`LookaheadParams(fast, slow)`), each call
    takes one fast step $\phi' = \phi + u$ ($u$ from `fast_optimizer` at $\phi$); every $k$-th
    call also synchronizes:

    $$\theta \leftarrow \theta + \alpha(\phi' - \theta), \qquad \phi \leftarrow \theta.$$

    As updates to `LookaheadParams`, with $d = \phi + u - \theta$ and $\sigma = 1$ on a
    synchronizing call, 0 otherwise:

    $$u_{slow} = \sigma \alpha d, \qquad u_{fast} = u - \sigma (1 - \alpha) d.$$

    Args:
        fast_optimizer: the inner optimizer, called on the fast weights.
        sync_period: $k \ge 1$, fast steps per synchronization.
        slow_step_size: $\alpha$, in [0, 1]: how far the slow weights move towards the fast.
        reset_state: reset the fast optimizer's state (to its `init` at the fast weights) at
            every synchronization. Positional, as in Optax.

    Returns:
        A transformation that takes and returns `LookaheadParams` (gradients are taken at
        `params.fast`; `init` also accepts plain params, as the fast ones), with state
        `LookaheadState(fast_state, steps_since_sync)`.

    References:
        Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back", NeurIPS
        2019, Algorithm 1.

    Note:
        Optax blends where gradtx selects: it resets the state as $(1 - \sigma)\,s + \sigma\,
        s_0$, which keeps a NaN or an infinity of the old state through the reset
        ($0 \cdot \infty$ is NaN), and adds $\sigma(\dots) d$ on every step, so an infinite
        $d$ makes a step without synchronization NaN. The update is computed in float32 or wider
        and rounded once per leaf.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.lookahead(gradtx.sgd(0.1), sync_period=2, slow_step_size=0.5)
        >>> params = gradtx.LookaheadParams.init_synced(jnp.ones(2))
        >>> state = tx.init(params)
        >>> for _ in range(2):
        ...     updates, state = tx.update(2 * params.fast, state, params)
        ...     params = gradtx.apply_updates(params, updates)
        >>> params.slow
        Array([0.82, 0.82], dtype=float32)
    """
    where = "lookahead"
    _validate.check_transformation(where, "fast_optimizer", fast_optimizer)
    _validate.check_int(where, 1, sync_period=sync_period)
    _validate.check_non_negative(where, slow_step_size=slow_step_size)
    if isinstance(slow_step_size, (int, float)) and slow_step_size > 1:
        raise ValueError(f"{where}: slow_step_size must be in [0, 1], got {slow_step_size!r}")

    def init(params):
        fast = getattr(params, "fast", params)  # plain params are the fast ones, as in Optax
        return LookaheadState(fast_optimizer.init(fast), _tree.zero_count())

    def step(u, f, s, sync):
        """The fast and slow updates of one leaf, computed wide and rounded once."""
        u, f, s = jnp.asarray(u), jnp.asarray(f), jnp.asarray(s)
        wide = _tree.compute_dtype(u, f, s)
        alpha = jnp.asarray(slow_step_size, wide)
        d = f.astype(wide) + u.astype(wide) - s.astype(wide)
        fast = jnp.where(sync, u.astype(wide) - (1 - alpha) * d, u.astype(wide))
        return fast.astype(u.dtype), jnp.where(sync, alpha * d, 0).astype(u.dtype)

    def update(updates, state, params=None):
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise ValueError(
                f"{where}: update needs params=LookaheadParams(fast, slow), got "
                f"{type(params).__name__}; start from gradtx.LookaheadParams.init_synced(params) "
                "and take gradients at params.fast"
            )
        updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast)
        sync_next = state.steps_since_sync == jnp.asarray(sync_period, jnp.int32) - 1
        fast, slow = _tree.map_leaves(
            lambda u, f, s: step(u, f, s, sync_next),
            updates,
            params.fast,
            params.slow,
            where=where,
            names=("params.fast", "params.slow"),
            outputs=2,
        )
        if reset_state:
            initial = fast_optimizer.init(params.fast)
            reset = lambda s0, s: jnp.where(sync_next, s0, s)  # noqa: E731
            fast_state = jax.tree.map(reset, initial, fast_state)
        steps = (state.steps_since_sync + 1) % jnp.asarray(sync_period, jnp.int32)
        return type(params)(fast=fast, slow=slow), LookaheadState(fast_state, steps)

    return GradientTransformation(init, update)
