"""Optax's `MultiSteps`: accumulate gradients over k calls (k may follow a schedule), step the
inner optimizer once, and optionally reject some mini-steps as if they never happened."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    Params,
    Updates,
    takes_extra_args,
)
from gradtx._wrappers.stepping import _zero_updates


class ShouldSkipUpdateFunction(Protocol):
    """`should_skip(updates, gradient_step, params) -> (skip, skip_state)`: `skip` a bool scalar
    array (True rejects this mini-step), `skip_state` any tree of arrays, kept in
    `MultiStepsState.skip_state` for monitoring."""

    def __call__(
        self, updates: Updates, gradient_step: jax.Array, params: Params | None
    ) -> tuple[jax.Array, Any]: ...


def skip_not_finite(
    updates: Updates, gradient_step: jax.Array, params: Params | None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""Reject a mini-step whose updates hold a NaN or an infinity (for `MultiSteps`).

    $$n = \#\{(\ell, i): g_{\ell,i} \text{ not finite}\}, \qquad \text{skip} = n > 0$$

    Returns:
        `(skip, {"should_skip": skip, "num_not_finite": n})`, `n` an int32 scalar.

    Example:
        >>> import gradtx
        >>> skip = gradtx.skip_not_finite
        >>> tx = gradtx.MultiSteps(gradtx.adam(1e-3), 4, should_skip_update_fn=skip)
    """
    del gradient_step, params
    num_not_finite = jnp.zeros([], jnp.int32)
    for leaf in jax.tree.leaves(updates):
        num_not_finite += jnp.sum(~jnp.isfinite(leaf), dtype=jnp.int32)
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Updates,
    gradient_step: jax.Array,
    params: Params | None,
    max_squared_norm: jax.typing.ArrayLike,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""Reject a mini-step whose squared global norm is not below `max_squared_norm` (a NaN norm
    is rejected too). Bind the bound with `functools.partial` (for `MultiSteps`).

    $$\|g\|^2 = \textstyle\sum_\ell \sum_i |g_{\ell,i}|^2, \qquad
    \text{skip} = \lnot (\|g\|^2 < c)$$

    Returns:
        `(skip, {"should_skip": skip, "norm_squared": ||g||^2})`; the norm is summed in at
        least float32 (`gradtx.tree_utils.tree_norm`).

    Example:
        >>> import functools, gradtx
        >>> skip = functools.partial(gradtx.skip_large_updates, max_squared_norm=100.0)
        >>> tx = gradtx.MultiSteps(gradtx.adam(1e-3), 4, should_skip_update_fn=skip)
    """
    del gradient_step, params
    norm_squared = _tree.squared_norm(updates)
    should_skip = ~(norm_squared < jnp.asarray(max_squared_norm, norm_squared.dtype))
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_squared}


def _never_skip(updates, gradient_step, params):
    del updates, gradient_step, params
    return jnp.asarray(False), ()


class MultiStepsState(NamedTuple):
    """State of `MultiSteps` (Optax's field names and order)."""

    mini_step: jax.Array  # shape (), int32: mini-steps accumulated since the last inner step, j
    gradient_step: jax.Array  # shape (), int32: inner steps taken so far, s
    inner_opt_state: OptState  # the wrapped optimizer's state
    acc_grads: Updates  # the running mean (or sum) \bar g of the j accepted mini-steps
    skip_state: Any = ()  # what `should_skip_update_fn` returned last (() without one)


class MultiSteps:
    r"""Accumulate gradients over $k_s$ mini-steps, then step the wrapped optimizer once.

    With $j$ mini-steps accumulated since the last inner step and $s$ inner steps so far:

    $$\bar g \leftarrow \bar g + (g_t - \bar g) / (j + 1) \;\text{(use\_grad\_mean)}
    \quad\text{or}\quad \bar g \leftarrow \bar g + g_t$$

    $$u_t = 0 \text{ for } j + 1 < k_s, \qquad
    (u_t, s_{opt}) = \text{opt}(\bar g, s_{opt}) \text{ at } j + 1 = k_s,
    \text{ then } \bar g \leftarrow 0,\ s \leftarrow s + 1$$

    and $j \leftarrow (j + 1) \bmod k_s$ with $k_s$ = `every_k_schedule(s)`. A mini-step for
    which `should_skip_update_fn` returns True returns zeros and changes nothing but
    `skip_state`: as if it never happened. The branches are `lax.cond`, so it jits, scans and
    vmaps; the inner optimizer only runs on the mini-step that emits.

    Args:
        opt: the wrapped optimizer (any gradient transformation).
        every_k_schedule: $k$, an int >= 1, or a function of the inner step count $s$ giving
            it (a growing effective batch size).
        use_grad_mean: average the accumulated gradients (True, a running Welford mean) or sum
            them (False).
        should_skip_update_fn: None, or `f(updates, gradient_step, params) -> (skip,
            skip_state)` (`skip_not_finite`, `skip_large_updates` with a bound), `skip` a bool
            scalar array.
        accumulator_dtype: the dtype of `acc_grads`. None (gradtx's default) keeps each leaf's
            dtype promoted to at least float32; a dtype stores every leaf in it.

    Attributes:
        inner_opt: the wrapped optimizer.

    Methods `init(params)` and `update(updates, state, params=None, **extra_args)` make a
    `MultiSteps` usable as a transformation; `gradient_transformation()` returns them as one;
    `has_updated(state)` says whether the last call stepped the inner optimizer. Extra keyword
    arguments (e.g. `value=` for `polyak_sgd`) go to an inner optimizer that takes them; one
    that does not ignores them, as in Optax.

    References:
        Optax 0.2.8, `optax.MultiSteps` (same API, state and rule); Ott, Edunov, Grangier & Auli,
        "Scaling Neural Machine Translation", WMT 2018 (gradient accumulation).

    Note:
        Optax's `accumulator_dtype` defaults to float32, which rounds the running mean of
        float64 gradients to float32; gradtx's None keeps float64 (and is float32 for float32,
        bfloat16 and float16 gradients, as Optax's). Pass `accumulator_dtype=jnp.float32` for
        Optax's float64 behaviour. Optax runs the inner update on every mini-step and keeps its
        result only on the emitting one; gradtx runs it only then: the same values, and the
        zeros between inner steps are exact zeros even if the inner update of a partial mean
        would be NaN. For a constant k without skipping, `accumulate` is the same mean.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> opt = gradtx.MultiSteps(gradtx.sgd(0.1), every_k_schedule=2)
        >>> state = opt.init(jnp.zeros(1))
        >>> updates, state = opt.update(jnp.ones(1), state)
        >>> updates, bool(opt.has_updated(state))
        (Array([0.], dtype=float32), False)
        >>> updates, state = opt.update(jnp.full(1, 3.0), state)
        >>> updates, bool(opt.has_updated(state))
        (Array([-0.2], dtype=float32), True)
    """

    def __init__(
        self,
        opt: GradientTransformation,
        every_k_schedule: int | Callable[[jax.Array], jax.typing.ArrayLike],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFunction | None = None,
        accumulator_dtype: jax.typing.DTypeLike | None = None,
    ):
        where = "MultiSteps"
        _validate.check_transformation(where, "opt", opt)
        if not callable(every_k_schedule):
            _validate.check_int(where, 1, every_k_schedule=every_k_schedule)
        if not isinstance(use_grad_mean, bool):
            _validate.fail_type(where, "use_grad_mean", use_grad_mean, "a bool")
        if should_skip_update_fn is not None and not callable(should_skip_update_fn):
            _validate.fail_type(
                where,
                "should_skip_update_fn",
                should_skip_update_fn,
                "None or a function (updates, gradient_step, params) -> (skip, skip_state)",
            )
        _validate.check_dtype(where, "accumulator_dtype", accumulator_dtype)
        self._opt = opt
        self._every_k = (
            every_k_schedule if callable(every_k_schedule) else lambda s: every_k_schedule
        )
        self._use_grad_mean = use_grad_mean
        self._should_skip = should_skip_update_fn or _never_skip
        self._accumulator_dtype = accumulator_dtype

    @property
    def inner_opt(self) -> GradientTransformation:
        return self._opt

    def _acc_dtype(self, leaf: Any) -> Any:
        if self._accumulator_dtype is not None:
            return jnp.dtype(self._accumulator_dtype)
        return _tree.compute_dtype(jnp.asarray(leaf))

    def init(self, params: Params) -> MultiStepsState:
        gradient_step = jnp.zeros([], jnp.int32)
        zeros = _tree.zeros_like(params)
        _, skip_state = self._should_skip(zeros, gradient_step, params)
        return MultiStepsState(
            mini_step=jnp.zeros([], jnp.int32),
            gradient_step=gradient_step,
            inner_opt_state=self._opt.init(params),
            acc_grads=jax.tree.map(lambda p: _tree.zeros_like(p, self._acc_dtype(p)), params),
            skip_state=skip_state,
        )

    def _accumulate(self, updates: Updates, acc_grads: Updates, j: jax.Array) -> Updates:
        """The running mean (or sum) with this mini-step's gradients, in the promoted dtype of
        gradient and accumulator (the accumulator's dtype is restored when stored)."""

        def rule(g, acc):
            with jax.numpy_dtype_promotion("standard"):  # a float32 accumulator, float64 g
                dt = jnp.promote_types(g.dtype, acc.dtype)
            g, acc = g.astype(dt), acc.astype(dt)
            return acc + (g - acc) / (j + 1).astype(dt) if self._use_grad_mean else g + acc

        return _tree.map_leaves(rule, updates, acc_grads, where="MultiSteps", names=("acc_grads",))

    def update(
        self,
        updates: Updates,
        state: MultiStepsState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, MultiStepsState]:
        if not takes_extra_args(self._opt):  # ignored, as Optax's MultiSteps does
            extra_args = {}
        _validate.check_state("MultiSteps", state, MultiStepsState)
        k = jnp.asarray(self._every_k(state.gradient_step)).astype(jnp.int32)
        skip, skip_state = self._should_skip(updates, state.gradient_step, params)
        skip = jnp.asarray(skip)
        if (skip.dtype, skip.shape) != (jnp.bool_, ()):
            raise ValueError(
                "MultiSteps: should_skip_update_fn must return a bool scalar array first, got "
                f"dtype {skip.dtype} and shape {skip.shape}"
            )

        inner = GradientTransformation(
            self._opt.init, functools.partial(self._opt.update, **extra_args)
        )

        def inner_skip(mean, inner_state, params):
            return _zero_updates(inner, mean, inner_state, params), inner_state

        def accept(updates, state, params):
            acc = self._accumulate(updates, state.acc_grads, state.mini_step)
            emit = state.mini_step == k - 1
            mean = jax.tree.map(lambda a, g: a.astype(jnp.result_type(g)), acc, updates)
            new_updates, inner_state = jax.lax.cond(
                emit, inner.update, inner_skip, mean, state.inner_opt_state, params
            )
            return new_updates, MultiStepsState(
                mini_step=_tree.safe_increment(state.mini_step) % k,
                gradient_step=jnp.where(
                    emit, _tree.safe_increment(state.gradient_step), state.gradient_step
                ),
                inner_opt_state=inner_state,
                acc_grads=jax.tree.map(
                    lambda a, old: jnp.where(emit, jnp.zeros_like(a), a).astype(old.dtype),
                    acc,
                    state.acc_grads,
                ),
                skip_state=skip_state,
            )

        def reject(updates, state, params):
            mean = jax.tree.map(lambda a, g: a.astype(jnp.result_type(g)), state.acc_grads, updates)
            zeros = _zero_updates(inner, mean, state.inner_opt_state, params)
            return zeros, state._replace(skip_state=skip_state)

        if self._should_skip is _never_skip:
            return accept(updates, state, params)
        return jax.lax.cond(skip, reject, accept, updates, state, params)

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last `update` stepped the inner optimizer: $j = 0$ and $s > 0$."""
        return (state.mini_step == 0) & (state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """`(init, update)` as a transformation (one that takes extra arguments when `opt` does)."""
        kind = (
            GradientTransformationExtraArgs
            if takes_extra_args(self._opt)
            else GradientTransformation
        )
        return kind(self.init, self.update)
