"""Wrappers that run the inner transformation only at the steps a condition of the step count
selects: `conditionally_transform` passes the updates through at the other steps,
`conditionally_mask` zeros them."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, GradientTransformationExtraArgs, takes_extra_args


class ConditionFn(Protocol):
    """`should_transform_fn(step, **extra_args) -> bool scalar`: whether the inner transformation
    runs at this step (step: an int32 scalar counting previous calls)."""

    def __call__(self, step: jax.Array, **extra_args: Any) -> jax.typing.ArrayLike: ...


class ConditionallyTransformState(NamedTuple):
    """State of `conditionally_transform` (Optax's fields and order)."""

    inner_state: Any  # the wrapped transformation's state
    step: jax.Array  # shape (), int32: calls so far, t


class ConditionallyMaskState(NamedTuple):
    """State of `conditionally_mask` (Optax's fields and order)."""

    step: jax.Array  # shape (), int32: calls so far, t
    inner_state: Any  # the wrapped transformation's state


def _check(where: str, inner: Any, should_transform_fn: Any, forward_extra_args: Any) -> None:
    _validate.check_transformation(where, "inner", inner)
    if not callable(should_transform_fn):
        _validate.fail_type(
            where, "should_transform_fn", should_transform_fn, "a function of the step count"
        )
    if not isinstance(forward_extra_args, bool):
        _validate.fail_type(where, "forward_extra_args", forward_extra_args, "a bool")


def _conditional_update(inner, should_transform_fn, forward_extra_args, otherwise):
    """(updates, inner_state, step) -> (updates, inner_state): `inner.update` where the
    condition holds at `step`, `otherwise(updates, inner_state)` elsewhere, under `lax.cond`."""
    inner_takes_extra = takes_extra_args(inner)

    def update(updates, inner_state, step, params, extra_args):
        condition = should_transform_fn(step, **(extra_args if forward_extra_args else {}))
        inner_args = extra_args if inner_takes_extra else {}
        return jax.lax.cond(
            jnp.asarray(condition),
            lambda u, s: inner.update(u, s, params, **inner_args),
            otherwise,
            updates,
            inner_state,
        )

    return update


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Run `inner` only at the steps where a condition of the step count holds; pass the
    updates through unchanged (and leave the inner state alone) at the others.

    $$(u_t, s_t) = \text{inner}(g_t, s_{t-1}) \text{ if } c(t) \text{ else } (g_t, s_{t-1}),
    \qquad t = 0, 1, \dots$$

    Args:
        inner: the transformation to run conditionally.
        should_transform_fn: $c$, a function of the step count $t$ (an int32 scalar, the
            number of previous calls) returning a bool scalar; it may be traced.
        forward_extra_args: also pass the update's extra keyword arguments to $c$.

    Returns:
        A `GradientTransformationExtraArgs` with state `ConditionallyTransformState(inner_state,
        step=t)`. Extra arguments reach `inner` when it takes them.

    References:
        Optax 0.2.8, `optax.conditionally_transform` (same API, state and rule).

    Example:
        >>> import gradtx
        >>> tx = gradtx.conditionally_transform(gradtx.clip(1.0), lambda step: step >= 100)
    """
    _check("conditionally_transform", inner, should_transform_fn, forward_extra_args)
    conditional = _conditional_update(
        inner, should_transform_fn, forward_extra_args, lambda updates, s: (updates, s)
    )

    def init(params):
        return ConditionallyTransformState(inner_state=inner.init(params), step=_tree.zero_count())

    def update(updates, state, params=None, **extra_args):
        _validate.check_state("conditionally_transform", state, ConditionallyTransformState)
        updates, inner_state = conditional(
            updates, state.inner_state, state.step, params, extra_args
        )
        return updates, ConditionallyTransformState(inner_state, _tree.safe_increment(state.step))

    return GradientTransformationExtraArgs(init, update)


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool = False,
) -> GradientTransformationExtraArgs:
    r"""Run `inner` only at the steps where a condition of the step count holds; return zero
    updates (and leave the inner state alone) at the others.

    $$(u_t, s_t) = \text{inner}(g_t, s_{t-1}) \text{ if } c(t) \text{ else } (0, s_{t-1}),
    \qquad t = 0, 1, \dots$$

    Args:
        inner: the transformation to run conditionally, usually the whole optimizer.
        should_transform_fn: $c$, a function of the step count $t$ (an int32 scalar, the
            number of previous calls) returning a bool scalar; it may be traced.
        forward_extra_args: also pass the update's extra keyword arguments to $c$.

    Returns:
        A `GradientTransformationExtraArgs` with state `ConditionallyMaskState(step=t,
        inner_state)`. Extra arguments reach `inner` when it takes them.

    References:
        Optax 0.2.8, `optax.conditionally_mask` (same API, state and rule).

    Example:
        >>> import gradtx
        >>> tx = gradtx.conditionally_mask(gradtx.adam(1e-3), lambda step: step % 2 == 0)
    """
    _check("conditionally_mask", inner, should_transform_fn, forward_extra_args)
    conditional = _conditional_update(
        inner,
        should_transform_fn,
        forward_extra_args,
        lambda updates, s: (_tree.zeros_like(updates), s),
    )

    def init(params):
        return ConditionallyMaskState(step=_tree.zero_count(), inner_state=inner.init(params))

    def update(updates, state, params=None, **extra_args):
        _validate.check_state("conditionally_mask", state, ConditionallyMaskState)
        updates, inner_state = conditional(
            updates, state.inner_state, state.step, params, extra_args
        )
        return updates, ConditionallyMaskState(_tree.safe_increment(state.step), inner_state)

    return GradientTransformationExtraArgs(init, update)
