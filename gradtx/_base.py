"""The contract: a gradient transformation is a pair of pure functions.

`init(params) -> state` builds the state; `update(updates, state, params=None) -> (updates, state)`
transforms a tree of updates (at first, gradients). The NamedTuple has the same two fields as
Optax's, so gradtx transformations and Optax transformations can be mixed in either library's
`chain`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate

Params = Any  # a pytree of arrays
Updates = Any  # a pytree shaped like Params
OptState = Any  # a pytree of arrays
Schedule = Callable[[jax.Array], jax.Array]  # step count -> value
ScalarOrSchedule = jax.typing.ArrayLike | Schedule
Mask = Any | Callable[[Any], Any]  # a tree of booleans, or a function of the params giving one


class TransformInitFn(Protocol):
    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    def __call__(
        self, updates: Updates, state: OptState, params: Params | None = None
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions `(init, update)`; see the module docstring."""

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A transformation whose `update` also takes keyword arguments beyond `params`.

    `update(updates, state, params=None, **extra_args)`: e.g. `value=loss` for
    `reduce_on_plateau` or `polyak_sgd`. `chain` hands a call's extra keyword arguments to the
    links of this type and to no other, so a chain that contains one is called with them. Still a
    two-field NamedTuple, so Optax (which has a class of the same name) unpacks it as
    `(init, update)`.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> def update(updates, state, params=None, *, value):
        ...     return updates, value
        >>> tx = gradtx.GradientTransformationExtraArgs(lambda params: jnp.zeros(()), update)
        >>> gradtx.chain(gradtx.scale(2.0), tx).update(jnp.ones(2), ((), 0.0), value=3.0)
        (Array([2., 2.], dtype=float32), ((), 3.0))
    """

    __slots__ = ()


def takes_extra_args(transform: Any) -> bool:
    """Whether `transform.update` accepts extra keyword arguments: a gradtx or Optax
    `GradientTransformationExtraArgs` (recognised by class name, so Optax is never imported)."""
    return any(t.__name__ == "GradientTransformationExtraArgs" for t in type(transform).__mro__)


class EmptyState(NamedTuple):
    """State of a stateless transformation."""


def init_empty_state(params: Params) -> EmptyState:
    """The `init` of a stateless transformation: an `EmptyState`, whatever the params."""
    del params
    return EmptyState()


def transformation(
    init: TransformInitFn,
    update: Callable[..., Any],
    *,
    extra_args: bool = False,
    where: str | None = None,
) -> GradientTransformation:
    """`GradientTransformation(init, update)` (or `GradientTransformationExtraArgs`) for one of
    gradtx's transformations, whose `update` refuses a state that its `init` cannot have made.

    Every state gradtx's `init`s make is a tuple (a NamedTuple, `EmptyState()`; a stateless
    transformation also takes None, as Optax's do); a state that is not one is most often the
    updates or the params, passed first as in `update(state, grads)`. Unchecked, that failed
    deep inside the rule ("'dict' object has no attribute 'count'") or, without state, returned
    a wrong result silently. The message names the factory (`where`, by default the function
    `update` is defined in) and the argument order. The check is Python, so it costs nothing
    inside `jit`.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_rms()
        >>> tx.update(tx.init({"w": jnp.ones(2)}), {"w": jnp.ones(2)})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: scale_by_rms: the state must be the tuple its `init` makes, got a dict: ...
    """
    where = where or update.__qualname__.partition(".")[0]
    # A stateless transformation also takes None, as Optax's do (`clip(1.0).update(g, None)`).
    stateless = init is init_empty_state

    @functools.wraps(update)
    def checked_update(updates, state, params=None, **extra):
        if not isinstance(state, tuple) and not (stateless and state is None):
            raise ValueError(
                f"{where}: the state must be the tuple its `init` makes, got "
                f"{_validate.a_type_name(state)}: {_validate.ARGUMENT_ORDER}"
            )
        return update(updates, state, params, **extra)

    kind = GradientTransformationExtraArgs if extra_args else GradientTransformation
    return kind(init, checked_update)


def stateless(
    update_fn: Callable[[Updates, Params | None], Updates],
) -> GradientTransformation:
    """A transformation without state from `update_fn(updates, params) -> updates`.

    Its `init` is `init_empty_state`, and its `update` hands the state back unchanged (and
    refuses one that is not a state, as `transformation`'s do, named after the function
    `update_fn` is defined in).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> from gradtx._base import stateless
        >>> double = stateless(lambda updates, params: 2 * updates)
        >>> double.update(jnp.ones(2), double.init(jnp.ones(2)))
        (Array([2., 2.], dtype=float32), EmptyState())
    """

    def update(updates, state, params=None):
        return update_fn(updates, params), state

    return transformation(init_empty_state, update, where=update_fn.__qualname__.partition(".")[0])


def identity() -> GradientTransformation:
    """Leave updates unchanged: $u_t = g_t$.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.identity()
        >>> tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))[0]
        Array([1., 1.], dtype=float32)
    """
    return stateless(lambda updates, params: updates)


def compiled(transform: GradientTransformation) -> GradientTransformation:
    """The same transformation with its update compiled by `jax.jit` (once per tree structure).

    Called eagerly, as in a notebook, the update then runs as one compiled program instead of
    one dispatch per operation; inside a caller's `jax.jit`, `vmap` or `scan` it is inlined and
    costs nothing. Every ready-made optimizer comes compiled. Its `init` refuses integer and
    boolean leaves with their tree path, as `apply_updates` does.
    """

    def init(params: Params) -> OptState:
        _tree.check_inexact(jax.tree.leaves(params), tree=params, name="params", where="init")
        return transform.init(params)

    return type(transform)(init, jax.jit(transform.update, inline=True))


@functools.partial(jax.jit, inline=True)
def _apply_updates_compiled(params: Params, updates: Updates) -> Params:
    return jax.tree.map(_add_leaf, params, updates)


def apply_updates(params: Params, updates: Updates) -> Params:
    r"""Return params + updates, each leaf keeping its parameter's dtype.

    $$\theta_t = \theta_{t-1} + u_t$$

    The sum is computed in the promoted dtype and cast back once, so float16 or bfloat16
    parameters are not rounded twice. `None` leaves stay `None`. Integer and boolean leaves, in
    either tree, raise a TypeError naming their path: adding a float update to them would round
    it away silently.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> gradtx.apply_updates({"w": jnp.ones(2)}, {"w": jnp.full(2, -0.5)})
        {'w': Array([0.5, 0.5], dtype=float32)}
    """
    where = "apply_updates"
    _tree.check_same_structure(params, updates, name_a="params", name_b="updates", where=where)
    for name, tree in (("params", params), ("updates", updates)):
        _tree.check_inexact(jax.tree.leaves(tree), tree=tree, name=name, where=where)
    _tree.check_same_shapes(
        jax.tree.leaves(params),
        jax.tree.leaves(updates),
        tree=params,
        name="params",
        other="updates",
        where=where,
    )
    return _apply_updates_compiled(params, updates)


@functools.partial(jax.jit, inline=True)
def _add_leaf(p, u):
    """p + u in the promoted dtype, cast back to p's: traced once per leaf shape and dtype."""
    p, u = jnp.asarray(p), jnp.asarray(u)
    dtype = _tree.compute_dtype(p, u)
    return (p.astype(dtype) + u.astype(dtype)).astype(p.dtype)
