r"""Hyperparameters held in the optimizer state, so they can be read, changed and vmapped.

`inject_hyperparams(factory)(**hyperparameters)` builds the same optimizer as
`factory(**hyperparameters)`, but its numeric hyperparameters are arrays in the state. Each update
rebuilds the inner transformation from the values found there, so a new value written into the
state takes effect at the next step without recompiling, and a batch of states (a sweep of learning
rates) runs in one `jax.vmap`.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _registry, _tree, _validate
from gradtx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    OptState,
    compiled,
    takes_extra_args,
)


class InjectHyperparamsState(NamedTuple):
    """State of a transformation built by `inject_hyperparams`."""

    count: jax.Array  # shape (), int32: the number of updates so far, t - 1
    hyperparams: dict[str, jax.Array]  # name -> the value used at the latest (or next) update
    inner_state: OptState  # the state of the wrapped transformation


def is_dtype(value: Any) -> bool:
    """Whether `value` names a dtype: np.float32, jnp.bfloat16, np.dtype("int8") (callable, but
    never a schedule)."""
    return isinstance(value, (type, np.dtype))


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Real) or isinstance(value, (np.ndarray, np.generic, jax.Array))


def _sort(
    arguments: Mapping[str, Any], static: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Callable]]:
    """Split arguments into those passed unchanged, numbers, and schedules."""
    fixed, numeric, schedules = {}, {}, {}
    for name, value in arguments.items():
        if name in static or is_dtype(value):
            fixed[name] = value
        elif callable(value):
            schedules[name] = value
        elif _is_numeric(value):
            numeric[name] = value
        else:
            fixed[name] = value
    return fixed, numeric, schedules


def _as_hyperparam(value: Any, dtype: Any) -> jax.Array:
    """Numbers and floating arrays in `dtype`; integer and boolean arrays keep their dtype."""
    value = jnp.asarray(value) if hasattr(value, "dtype") else value
    if isinstance(value, numbers.Real) or jnp.issubdtype(value.dtype, jnp.floating):
        return jnp.asarray(value, dtype)
    return value


def _default_dtype(params: Any) -> Any:
    """The real dtype the update rules compute in for these params: float32, or wider."""
    leaves = jax.tree.leaves(params)
    return jnp.finfo(_tree.compute_dtype(*leaves) if leaves else jnp.float32).dtype


def _hyperparams_at(state: InjectHyperparamsState, schedules: Mapping[str, Callable]) -> dict:
    """The hyperparameters of the update at `state`: those stored, schedules evaluated at
    `state.count` in their stored dtype."""
    hyperparams = dict(state.hyperparams)
    for name, schedule in schedules.items():
        dtype = jnp.result_type(state.hyperparams[name])
        hyperparams[name] = jnp.asarray(schedule(state.count), dtype)
    return hyperparams


def inner_arguments(recipe: _registry.Recipe, state: InjectHyperparamsState) -> dict[str, Any]:
    """The arguments from which the update at `state` rebuilds the inner transformation of an
    optimizer `inject_hyperparams` built from `recipe` (the fused step reads them)."""
    alias = _registry.alias_of(recipe.factory)
    static = recipe.injection.static_args | (alias.static if alias is not None else frozenset())
    fixed, _, schedules = _sort(recipe.arguments, static)
    return {**fixed, **_hyperparams_at(state, schedules)}


@_registry.register_wrapper
def inject_hyperparams(
    factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformation]:
    r"""Wrap an optimizer factory so its numeric hyperparameters live in the optimizer state.

    `inject_hyperparams(factory)(**h)` takes the factory's arguments and sorts them:

    * numbers and arrays become entries of `state.hyperparams`, arrays of the hyperparameter
      dtype (integer arrays keep theirs);
    * schedules $s$ become entries too: at the update following $t - 1$ earlier ones,
      $h = s(t - 1)$ is computed, stored, and used, as `scale_by_schedule` would;
    * everything else (booleans, None, strings, dtypes, the arguments a registered alias declares
      static, such as `adamw`'s mask, and any argument named in `static_args`) is passed to the
      factory unchanged.

    The factory is called once when the optimizer is built, with the given numbers and each
    schedule's first value: that call checks the Python numbers (a registered alias's errors name
    it and the argument) and its `init` builds the inner state. Each update then rebuilds
    `factory(**h_t)` from the values in the state and applies it, so writing a new array of the
    same dtype and shape into `state.hyperparams` (say a lower learning rate) takes effect at the
    next update without recompiling a jitted step, and `jax.vmap` over states whose
    hyperparameters differ runs a sweep in one compiled call. Values in the state are arrays and
    are not checked.

    As in Optax, a callable argument is a schedule unless it is static.

    Args:
        factory: a function returning a `GradientTransformation`, e.g. `gradtx.adam`.
        static_args: names of arguments to pass through unchanged even if numeric or callable.
        hyperparam_dtype: dtype of the floating hyperparameters. By default the dtype the update
            rules compute in: float32, or float64 where a parameter is float64. Never the dtype of
            bfloat16 or float16 parameters, in which b2 = 0.999 would round to 1.

    Returns:
        A function with the factory's signature returning a transformation with state
        `InjectHyperparamsState(count, hyperparams, inner_state)`.

    Note:
        The update comes compiled (`jax.jit`, inlined inside a caller's jit, vmap or scan): an
        eager training loop compiles it once, not the rebuilt transformation at every step. With
        constant hyperparameters the result equals `factory(**h)` bit for bit: the rules round
        each hyperparameter to their compute dtype once, and a stored value at least that wide
        rounds to the same number as the Python float. A `hyperparam_dtype` narrower than the
        compute dtype (float32 with float64 params) gives up that equality; so does a rule in
        which XLA can reassociate a product with a compile-time constant (the plain alias's
        Python floats) but not with the injected array, as in `b1 * m / y`, rewritten
        `m * (b1 * (1 / y))`; write `m * (b1 / y)`. Across links, `scale` and
        `scale_by_learning_rate` pass their factor through `jax.lax.optimization_barrier`, so a
        later link's scalar product is not folded into a constant learning rate. Unlike Optax
        0.2.8, the default dtype does not follow bfloat16 params.
        A factory that treats a schedule differently from a constant sees a constant here:
        `adabound` moves its band by $\eta_t / \eta_0$ for a schedule, not for injected values.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-3)
        >>> state = tx.init(jnp.zeros(3))
        >>> state.hyperparams["learning_rate"] = jnp.asarray(1e-4, jnp.float32)
        >>> updates, state = tx.update(jnp.ones(3), state)
    """
    static_args = frozenset({static_args} if isinstance(static_args, str) else static_args)
    _validate.check_dtype("inject_hyperparams", "hyperparam_dtype", hyperparam_dtype)
    alias = _registry.alias_of(factory)
    if alias is None:
        signature = _registry.named_signature("inject_hyperparams", factory)
        static = static_args
    else:
        signature, static = alias.signature, static_args | alias.static
    unknown = static_args - set(signature.parameters)
    if unknown:
        raise ValueError(
            f"inject_hyperparams: static_args {sorted(unknown)} are not arguments of "
            f"{factory.__name__}; its arguments are {list(signature.parameters)}"
        )
    injection = _registry.Injection(static_args, hyperparam_dtype)

    @functools.wraps(factory)
    def injected(*args: Any, **kwargs: Any) -> GradientTransformation:
        arguments = _registry.bind(
            signature, args, kwargs, f"inject_hyperparams({factory.__name__})"
        )
        fixed, numeric, schedules = _sort(arguments, static)
        first = {k: s(jnp.zeros([], jnp.int32)) for k, s in schedules.items()}
        first_transform = factory(**fixed, **numeric, **first)  # checks numbers, gives the state

        def build(hyperparams: Mapping[str, jax.Array]) -> GradientTransformation:
            return factory(**fixed, **hyperparams)

        def init(params):
            dtype = _default_dtype(params) if hyperparam_dtype is None else hyperparam_dtype
            count = jnp.zeros([], jnp.int32)
            hyperparams = {k: _as_hyperparam(v, dtype) for k, v in numeric.items()}
            hyperparams.update({k: _as_hyperparam(s(count), dtype) for k, s in schedules.items()})
            return InjectHyperparamsState(count, hyperparams, first_transform.init(params))

        def update(updates, state, params=None, **extra_args):
            _validate.check_state("inject_hyperparams", state, InjectHyperparamsState)
            hyperparams = _hyperparams_at(state, schedules)
            inner = build(hyperparams).update
            updates, inner_state = inner(updates, state.inner_state, params, **extra_args)
            count = _tree.safe_increment(state.count)
            return updates, InjectHyperparamsState(count, hyperparams, inner_state)

        # The inner transformation's extra arguments (a loss as `value=`) pass through.
        extra = takes_extra_args(first_transform)
        transform = compiled(
            (GradientTransformationExtraArgs if extra else GradientTransformation)(init, update)
        )
        _registry.record(transform, _registry.Recipe(factory, arguments, injection))
        return transform

    return injected
