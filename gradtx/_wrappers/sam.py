"""Sharpness-aware minimization: step to the worst point nearby, descend with its gradient there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    apply_updates,
    stateless,
)


def normalize() -> GradientTransformation:
    r"""Divide the updates by their global norm: $u_t = g_t / \|g_t\|$ ($u_t = 0$ where $g_t = 0$).

    The norm runs over every leaf (`_tree.norm`, in float32 or wider); each leaf is rounded once.

    Returns:
        A stateless transformation (state `EmptyState()`).

    Note:
        Optax's `optax.contrib.normalize` divides a zero gradient by its zero norm: NaN, which
        in SAM's adversarial step turns every parameter NaN. gradtx leaves a zero gradient zero
        (no ascent direction, no perturbation); a non-finite gradient still gives NaN.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> gradtx.normalize().update(jnp.array([3.0, 4.0]), ())[0]
        Array([0.6, 0.8], dtype=float32)
    """

    def divide(updates, params):
        del params
        n = _tree.norm(updates)
        safe = jnp.where(n == 0, 1, n)

        def leaf(g):
            g = jnp.asarray(g)
            wide = _tree.compute_dtype(g, safe)
            return (g.astype(wide) / safe.astype(wide)).astype(g.dtype)

        return jax.tree.map(leaf, updates)

    return stateless(divide)


class SAMState(NamedTuple):
    """State of `sam`."""

    steps_since_sync: jax.Array  # shape (), int32: adversarial steps since the last outer step
    opt_state: OptState  # the outer optimizer's state
    adv_state: OptState  # the adversarial optimizer's state
    cache: Params | None  # the params of the last outer step (None in opaque mode)


def sam(
    optimizer: GradientTransformation,
    adv_optimizer: GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformation:
    r"""Sharpness-aware minimization: $k - 1$ ascent steps, then a descent step from the start.

    With $k$ = `sync_period`, starting from params $w$: the adversarial optimizer takes $k - 1$
    *ascent* steps ($w_{i+1} = w_i - \mathrm{adv}(g(w_i))$, $w_0 = w$), and the outer optimizer
    then steps from $w$ with the last gradient: $w \leftarrow w + \mathrm{opt}(g(w_{k-1}))$.
    With `adv_optimizer = chain(normalize(), sgd(rho))` and $k = 2$ this is the paper's SAM:

    $$\hat\epsilon = \rho\, g(w) / \|g(w)\|, \qquad
    w \leftarrow w + \mathrm{opt}(g(w + \hat\epsilon)).$$

    Transparent mode (the default) spreads this over $k$ calls of `update`: each adversarial
    call returns the ascent step, and the $k$-th call returns the step from the perturbed
    params back to $w$ plus the outer update. Opaque mode does all $k$ in one call, with
    `update(updates, state, params, grad_fn=grad_fn)` and `grad_fn(params, i)` the gradient at
    the $i$-th perturbed params, so only outer steps are visible (as BatchNorm statistics
    need).

    Args:
        optimizer: the outer optimizer.
        adv_optimizer: the adversarial optimizer, whose steps are taken uphill.
        sync_period: $k \ge 1$, calls (gradients) per outer step.
        reset_state: reset the adversarial optimizer's state after each outer step. Positional,
            as in Optax.
        opaque_mode: run the adversarial steps inside one call (needs `grad_fn`). Positional,
            as in Optax.
        batch_axis_name: in opaque mode, the mapped axis over which `grad_fn`'s gradients are
            averaged (`jax.lax.pmean`), if any.

    Returns:
        A `GradientTransformationExtraArgs` (its `update` takes `grad_fn=`) with state
        `SAMState(steps_since_sync, opt_state, adv_state, cache)`.

    References:
        Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for Efficiently
        Improving Generalization", ICLR 2021, Algorithm 1.

    Note:
        Optax picks between the outer and the adversarial branch as
        $c\,x + (1 - c)\,y$, so a non-finite value in the branch not taken (a zero gradient
        normalized to NaN, say) still makes the result NaN; gradtx selects (`jnp.where`).

    Example:
        >>> import gradtx
        >>> adv = gradtx.chain(gradtx.normalize(), gradtx.sgd(0.05))
        >>> tx = gradtx.sam(gradtx.sgd(0.1), adv)
    """
    where = "sam"
    _validate.check_transformation(where, "optimizer", optimizer)
    _validate.check_transformation(where, "adv_optimizer", adv_optimizer)
    _validate.check_int(where, 1, sync_period=sync_period)
    period = jnp.asarray(sync_period, jnp.int32)

    def init(params):
        cache = None if opaque_mode else jax.tree.map(lambda p: jnp.array(p, copy=True), params)
        return SAMState(
            _tree.zero_count(), optimizer.init(params), adv_optimizer.init(params), cache
        )

    def pick(condition, if_true, if_false):
        return jax.tree.map(lambda a, b: jnp.where(condition, a, b), if_true, if_false)

    def negate(updates):
        return jax.tree.map(jnp.negative, updates)

    def transparent_update(updates, state, params=None, *, grad_fn=None):
        del grad_fn
        first, last = state.steps_since_sync == 0, state.steps_since_sync == period - 1
        adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
        opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
        back = jax.tree.map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)
        if reset_state:
            adv_state = pick(last, adv_optimizer.init(params), adv_state)
        else:
            adv_state = pick(last, state.adv_state, adv_state)
        return pick(last, back, negate(adv_updates)), SAMState(
            steps_since_sync=(state.steps_since_sync + 1) % period,
            opt_state=pick(last, opt_state, state.opt_state),
            adv_state=adv_state,
            cache=pick(first, params, state.cache),
        )

    def opaque_update(updates, state, params=None, *, grad_fn=None):
        if grad_fn is None:
            raise ValueError(
                f"{where}: with opaque_mode=True, update needs grad_fn=, a function "
                "(params, i) -> gradient at the i-th adversarial params"
            )
        adv_params, adv_state = params, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv_optimizer.update(updates, adv_state, adv_params)
            adv_params = apply_updates(adv_params, negate(adv_updates))
            updates = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                updates = jax.lax.pmean(updates, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        updates, opt_state = optimizer.update(updates, state.opt_state, params)
        return updates, SAMState(_tree.zero_count(), opt_state, adv_state, None)

    update: Callable[..., Any] = opaque_update if opaque_mode else transparent_update
    return GradientTransformationExtraArgs(init, update)
