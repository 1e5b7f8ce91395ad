r"""Hyperparameters held in the optimizer state, so they can be read, changed and vmapped.

`inject_hyperparams(factory)(**hyperparameters)` builds the same optimizer as
`factory(**hyperparameters)`, but its numeric hyperparameters are arrays in the state. Each update
rebuilds the inner transformation from the values found there, so a new value written into the
state takes effect at the next step without recompiling, and a batch of states (a sweep of learning
rates) runs in one `jax.vmap`.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import numbers
import typing
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _schedules, _tree
from gradtx._base import GradientTransformation, OptState, Schedule


class InjectHyperparamsState(NamedTuple):
    """State of a transformation built by `inject_hyperparams`."""

    count: jax.Array  # shape (), int32: the number of updates so far, t - 1
    hyperparams: dict[str, jax.Array]  # name -> the value used at the latest (or next) update
    inner_state: OptState  # the state of the wrapped transformation


class Injection(NamedTuple):
    """How a transformation was built by `inject_hyperparams`: what `to_config` needs."""

    factory: Callable[..., GradientTransformation]
    static_args: frozenset[str]
    hyperparam_dtype: Any
    arguments: dict[str, Any]  # every argument of the factory, defaults filled in


_INJECTIONS: weakref.WeakKeyDictionary[Callable, Injection] = weakref.WeakKeyDictionary()


def injection_of(transform: GradientTransformation) -> Injection | None:
    """The recipe of a transformation built by `inject_hyperparams`, else None."""
    return _INJECTIONS.get(transform.update)


_SCHEDULE_TYPES = tuple(_schedules.SCHEDULES.values())
_SCHEDULE_HINTS = (Schedule, _schedules.Schedule)


def _other_callable_arguments(factory: Callable) -> set[str]:
    """Arguments whose type hint declares a function that is not a schedule (a mask, say)."""
    try:
        hints = typing.get_type_hints(factory)
    except (NameError, TypeError):
        return set()

    def other_callable(hint: Any) -> bool:
        is_callable = typing.get_origin(hint) is collections.abc.Callable
        return is_callable and hint not in _SCHEDULE_HINTS

    return {
        name
        for name, hint in hints.items()
        if any(other_callable(h) for h in (hint, *typing.get_args(hint)))
    }


def is_dtype(value: Any) -> bool:
    """Whether `value` names a dtype: np.float32, jnp.bfloat16, np.dtype("int8") (callable, but
    never a schedule)."""
    return isinstance(value, (type, np.dtype))


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Real) or isinstance(value, (np.ndarray, np.generic, jax.Array))


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


def inject_hyperparams(
    factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformation]:
    r"""Wrap an optimizer factory so its numeric hyperparameters live in the optimizer state.

    `inject_hyperparams(factory)(**h)` takes the factory's arguments and sorts them:

    * numbers and arrays become entries of `state.hyperparams`, arrays of the hyperparameter
      dtype (integer arrays keep theirs);
    * schedules s become entries too: at the update following t - 1 earlier ones, h = s(t - 1) is
      computed, stored, and used, as `scale_by_schedule` would;
    * everything else (booleans, None, strings, dtypes, masks, and any argument named in
      `static_args`) is passed to the factory unchanged.

    Each update rebuilds `factory(**h_t)` from the values in the state and applies it, so writing
    a new array of the same dtype and shape into `state.hyperparams` (say a lower learning rate)
    takes effect at the next update without recompiling a jitted step, and `jax.vmap` over states
    whose hyperparameters differ runs a sweep in one compiled call. The factory is also called once
    with the given values when the optimizer is built, so its checks of Python numbers still run;
    values in the state are arrays and are not checked.

    As in Optax, a callable argument is a schedule unless named in `static_args`; here also
    unless the factory's type hint for it declares another kind of function, as `Mask` does, so
    `adamw`'s mask function stays static without being named.

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
        With constant hyperparameters the result equals `factory(**h)` bit for bit: the rules
        round each hyperparameter to their compute dtype once, and a stored value at least that
        wide rounds to the same number as the Python float. A `hyperparam_dtype` narrower than the
        compute dtype (float32 with float64 params) gives up that equality; so does `jax.jit` for
        a rule in which XLA can reassociate a product with a compile-time constant (the plain
        alias's Python floats), as in `b1 * m / y`, rewritten `m * (b1 * (1 / y))`; write
        `m * (b1 / y)`. Unlike Optax 0.2.8, the default dtype does not follow bfloat16 params.
        A factory that treats a schedule differently from a constant sees a constant here:
        `adabound` moves its band by eta_t / eta_0 for a schedule, not for injected values.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.inject_hyperparams(gradtx.adam)(learning_rate=1e-3)
        >>> state = tx.init(jnp.zeros(3))
        >>> state.hyperparams["learning_rate"] = jnp.asarray(1e-4, jnp.float32)
        >>> updates, state = tx.update(jnp.ones(3), state)
    """
    static = frozenset({static_args} if isinstance(static_args, str) else static_args)
    signature = inspect.signature(factory)
    unknown = static - set(signature.parameters)
    if unknown:
        raise ValueError(
            f"inject_hyperparams: static_args {sorted(unknown)} are not arguments of "
            f"{factory.__name__}; its arguments are {list(signature.parameters)}"
        )
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    unnamed = [p.name for p in signature.parameters.values() if p.kind not in kinds]
    if unnamed:
        raise TypeError(
            f"inject_hyperparams: every argument of {factory.__name__} must be passable by name; "
            f"{unnamed} are positional-only or variadic"
        )
    function_args = _other_callable_arguments(factory)

    def is_schedule(name: str, value: Any) -> bool:
        if isinstance(value, _SCHEDULE_TYPES):
            return True
        return callable(value) and not is_dtype(value) and name not in function_args

    @functools.wraps(factory)
    def injected(*args: Any, **kwargs: Any) -> GradientTransformation:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        factory(**arguments)  # checks the Python numbers now, with the factory's messages
        fixed, numeric, schedules = {}, {}, {}
        for name, value in arguments.items():
            if name in static:
                fixed[name] = value
            elif is_schedule(name, value):
                schedules[name] = value
            elif _is_numeric(value):
                numeric[name] = value
            else:
                fixed[name] = value

        def build(hyperparams: Mapping[str, jax.Array]) -> GradientTransformation:
            return factory(**fixed, **hyperparams)

        def init(params):
            dtype = _default_dtype(params) if hyperparam_dtype is None else hyperparam_dtype
            count = jnp.zeros([], jnp.int32)
            hyperparams = {k: _as_hyperparam(v, dtype) for k, v in numeric.items()}
            hyperparams.update({k: _as_hyperparam(s(count), dtype) for k, s in schedules.items()})
            return InjectHyperparamsState(count, hyperparams, build(hyperparams).init(params))

        def update(updates, state, params=None):
            hyperparams = dict(state.hyperparams)
            for name, schedule in schedules.items():
                dtype = jnp.result_type(state.hyperparams[name])
                hyperparams[name] = jnp.asarray(schedule(state.count), dtype)
            updates, inner_state = build(hyperparams).update(updates, state.inner_state, params)
            count = _tree.safe_increment(state.count)
            return updates, InjectHyperparamsState(count, hyperparams, inner_state)

        transform = GradientTransformation(init, update)
        _INJECTIONS[update] = Injection(factory, static, hyperparam_dtype, arguments)
        return transform

    return injected
