"""Wrappers that decide when the inner transformation steps: skip non-finite gradients, or
accumulate several gradients into one step."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, OptState, Updates


def _zero_updates(inner: GradientTransformation, updates: Updates, inner_state: OptState, params):
    """Zeros shaped like what `inner.update` would return, found without running it."""
    shapes, _ = jax.eval_shape(inner.update, updates, inner_state, params)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def _skip(inner: GradientTransformation):
    """The branch that leaves the inner state alone: one function per wrapper, so that eager
    `lax.cond` calls find their compiled branches in the cache instead of compiling anew."""

    def skip(updates, inner_state, params):
        return _zero_updates(inner, updates, inner_state, params), inner_state

    return skip


class ApplyIfFiniteState(NamedTuple):
    """State of `apply_if_finite`."""

    notfinite_count: jax.Array  # shape (), int32: consecutive non-finite steps, n_t
    last_finite: jax.Array  # shape (), bool: whether the last gradients were all finite
    total_notfinite: jax.Array  # shape (), int32: non-finite steps so far
    inner_state: OptState  # the wrapped transformation's state


def apply_if_finite(
    inner: GradientTransformation, max_consecutive_errors: int | jax.Array
) -> GradientTransformation:
    r"""Skip steps whose gradients hold a NaN or an Inf, up to N in a row.

    $$f_t = \text{every element of } g_t \text{ is finite}, \qquad
    n_t = 0 \text{ if } f_t \text{ else } n_{t-1} + 1$$

    $$(u_t, s_t) = \text{inner}(g_t, s_{t-1}) \text{ if } f_t \text{ or } n_t > N,
    \text{ else } (0, s_{t-1})$$

    A skipped step returns zero updates and the inner state exactly as it was. After N
    consecutive skips the next non-finite step is applied anyway (and so is every one after it
    until a finite step resets $n_t$), so a persistent problem surfaces instead of silently
    stalling training. The branch is a `lax.cond`, so the wrapper jits.

    Args:
        inner: the transformation to protect, usually the whole optimizer.
        max_consecutive_errors: $N$, an int >= 0 or an integer array. $N = 0$ applies every step.

    Returns:
        A transformation with state
        `ApplyIfFiniteState(notfinite_count=n_t, last_finite=f_t, total_notfinite, inner_state)`.

    References:
        Micikevicius et al., "Mixed Precision Training", ICLR 2018 (with loss scaling, a step
        whose gradients overflow is skipped).

    Note:
        Same rule and state fields as Optax's `apply_if_finite`.

    Example:
        >>> import gradtx
        >>> tx = gradtx.apply_if_finite(gradtx.adam(1e-3), max_consecutive_errors=5)
    """
    _validate.check_transformation("apply_if_finite", "inner", inner)
    _validate.check_int("apply_if_finite", 0, max_consecutive_errors=max_consecutive_errors)

    skip = _skip(inner)

    def init(params):
        return ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.asarray(True),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None):
        _validate.check_state("apply_if_finite", state, ApplyIfFiniteState)
        finite = _tree.all_finite(updates)
        notfinite_count = jnp.where(finite, 0, _tree.safe_increment(state.notfinite_count))
        total = jnp.where(
            finite, state.total_notfinite, _tree.safe_increment(state.total_notfinite)
        )
        updates, inner_state = jax.lax.cond(
            finite | (notfinite_count > max_consecutive_errors),
            inner.update,
            skip,
            updates,
            state.inner_state,
            params,
        )
        return updates, ApplyIfFiniteState(notfinite_count, finite, total, inner_state)

    return GradientTransformation(init, update)


class AccumulateState(NamedTuple):
    """State of `accumulate`."""

    mini_step: jax.Array  # shape (), int32: gradients averaged since the last inner step, j
    gradient_step: jax.Array  # shape (), int32: inner steps taken so far
    acc_grads: Updates  # the running mean \bar g of those j gradients, at least float32
    inner_state: OptState  # the wrapped transformation's state


def accumulate(inner: GradientTransformation, every_k: int | jax.Array) -> GradientTransformation:
    r"""Average k successive gradients and step the inner transformation once per k calls.

    $$\bar g_j = \bar g_{j-1} + (g_t - \bar g_{j-1}) / j, \quad j = 1, \dots, k$$

    $$u_t = 0 \text{ for } j < k, \qquad
    (u_t, s) = \text{inner}(\bar g_k, s) \text{ at } j = k, \text{ then } j \leftarrow 0$$

    With a loss that is a mean over examples, $k$ minibatches of size $b$ give the gradient of
    one batch of size $k b$: a large batch that does not fit in memory. Between inner steps the
    updates are zero and the inner state does not change; a schedule inside `inner` therefore
    counts inner steps, not calls. The inner step runs under `lax.cond`, so it costs nothing on
    the other $k - 1$ calls, and the wrapper jits.

    Args:
        inner: the transformation to step with the mean gradient, usually the whole optimizer.
        every_k: $k$, an int >= 1 or an integer array ($k = 1$ is `inner` itself).

    Returns:
        A transformation with state `AccumulateState(mini_step=j, gradient_step, acc_grads,
        inner_state)`. The running mean is kept in each gradient's dtype promoted to at least
        float32, and handed to `inner` cast back to the gradient's dtype.

    References:
        Ott, Edunov, Grangier & Auli, "Scaling Neural Machine Translation", WMT 2018
        (accumulating gradients over several minibatches before each update).

    Note:
        Like Optax's `MultiSteps` with `use_grad_mean=True` and a constant k; the mean is the
        same running (Welford) mean.

    Example:
        >>> import gradtx
        >>> tx = gradtx.accumulate(gradtx.adam(1e-3), every_k=4)
    """
    _validate.check_transformation("accumulate", "inner", inner)
    _validate.check_int("accumulate", 1, every_k=every_k)

    skip = _skip(inner)

    def init(params):
        return AccumulateState(
            mini_step=jnp.zeros([], jnp.int32),
            gradient_step=jnp.zeros([], jnp.int32),
            acc_grads=jax.tree.map(
                lambda p: jnp.zeros(jnp.shape(p), _tree.compute_dtype(jnp.asarray(p))), params
            ),
            inner_state=inner.init(params),
        )

    def update(updates, state, params=None):
        j = _tree.safe_increment(state.mini_step)
        emit = j >= jnp.asarray(every_k).astype(jnp.int32)

        def mean_rule(g, acc):
            dt = _tree.compute_dtype(g, acc)
            mean = acc.astype(dt) + (g.astype(dt) - acc.astype(dt)) / j.astype(dt)
            return _tree.cast_like(mean, acc)

        acc = _tree.map_leaves(
            mean_rule, updates, state.acc_grads, where="accumulate", names=("acc_grads",)
        )
        mean = jax.tree.map(lambda a, g: a.astype(jnp.result_type(g)), acc, updates)
        updates, inner_state = jax.lax.cond(
            emit, inner.update, skip, mean, state.inner_state, params
        )
        return updates, AccumulateState(
            mini_step=jnp.where(emit, 0, j),
            gradient_step=jnp.where(
                emit, _tree.safe_increment(state.gradient_step), state.gradient_step
            ),
            acc_grads=jax.tree.map(lambda a: jnp.where(emit, jnp.zeros_like(a), a), acc),
            inner_state=inner_state,
        )

    return GradientTransformation(init, update)
