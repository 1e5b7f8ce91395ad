"""Eager checks of arguments, run when a transformation is built.

Every message reads `<function>: <argument> must be <allowed>, got <value>`, with the reason or
the fix after it where one helps. Only concrete Python numbers are checked against their range;
arrays and traced values (a sweep under `jax.vmap`, a hyperparameter changed inside `jax.jit`)
are accepted as they are. Schedules are checked for being callable, not evaluated.

While `calling(where, arguments)` is active, as it is around the body of every ready-made
optimizer, a failed check names the function the user called and the argument under which the
failing value was passed, not the inner link that checked it:
`gradtx.sgd(0.1, momentum=1.0)` raises "sgd: momentum must be in [0, 1), got 1.0", not
"trace: decay must be ...".
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# The outermost active `calling`: (the function the user called, the arguments they passed).
_CALLING: contextvars.ContextVar[tuple[str, Mapping[str, Any]] | None] = contextvars.ContextVar(
    "gradtx_calling", default=None
)


@contextlib.contextmanager
def calling(where: str, arguments: Mapping[str, Any]) -> Iterator[None]:
    """Report failed checks made inside this block in the words of the call `where(**arguments)`.

    A check that fails on a value passed (the same object, `is`) as one of `arguments` names
    `where` and that argument, preferring an argument of the checked name; a value not found
    among them is reported as `where: <inner function>: <inner argument> ...`. Nested blocks
    keep the outermost call: it is the one the user typed.

    Example:
        >>> from gradtx import _validate
        >>> def my_sgd(learning_rate, momentum=0.0):
        ...     with _validate.calling("my_sgd", {"learning_rate": learning_rate,
        ...                                       "momentum": momentum}):
        ...         _validate.check_interval("trace", decay=momentum)
        >>> my_sgd(0.1, momentum=1.0)
        Traceback (most recent call last):
        ...
        ValueError: my_sgd: momentum must be in [0, 1), got 1.0
    """
    if _CALLING.get() is not None:
        yield
        return
    token = _CALLING.set((where, arguments))
    try:
        yield
    finally:
        _CALLING.reset(token)


def _subject(where: str, name: str, value: Any) -> str:
    """`where: name`, or the outer call's function and argument while `calling` is active."""
    outer = _CALLING.get()
    if outer is None:
        return f"{where}: {name}"
    function, arguments = outer
    if name in arguments and arguments[name] is value:
        return f"{function}: {name}"
    for argument, given in arguments.items():
        if given is value:
            return f"{function}: {argument}"
    if function == where:
        return f"{where}: {name}"
    return f"{function}: {where}: {name}"


def _fail(where: str, name: str, value: Any, allowed: str) -> None:
    """Raise `<where>: <name> must be <allowed>, got <value>` (a ValueError)."""
    raise ValueError(f"{_subject(where, name, value)} must be {allowed}, got {value!r}")


def fail_type(where: str, name: str, value: Any, allowed: str, *, got: str | None = None) -> None:
    """Raise `<where>: <name> must be <allowed>, got <type> <value>` (a TypeError); `got`
    replaces the description of the value where a fix helps more."""
    got = got or f"{type(value).__name__} {value!r}"
    raise TypeError(f"{_subject(where, name, value)} must be {allowed}, got {got}")


def is_number(value: Any) -> bool:
    """A Python int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _concrete(value: Any) -> np.ndarray | None:
    """`value` as a NumPy array when it is a concrete real number or array: a Python number, a
    NumPy scalar (`np.float32(-1)` is not a Python float) or array, or a jax array that is not
    traced; None for traced values, schedules and anything else, which the checks leave alone."""
    if isinstance(value, (bool, np.bool_, jax.core.Tracer)):
        return None
    if not (is_number(value) or isinstance(value, (np.ndarray, np.generic, jax.Array))):
        return None
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - e.g. an array not addressable from this process
        return None
    return array if array.dtype.kind in "fiu" else None


def _violates(value: Any, holds: Any) -> bool:
    """Whether a concrete `value` has an element for which `holds` (a NumPy predicate) fails."""
    if is_number(value):  # the common case, without building an array
        return not holds(value)
    array = _concrete(value)
    return array is not None and not bool(np.all(holds(array)))


def _check_type(where: str, values: Mapping[str, Any]) -> None:
    """A bool or a string is not a number (arrays, traced values and the schedules that
    `inject_hyperparams` passes through are left alone)."""
    for name, value in values.items():
        if isinstance(value, (bool, str)) or not (
            value is None or is_number(value) or hasattr(value, "dtype") or callable(value)
        ):
            fail_type(where, name, value, "a number or an array")


def check_transformation(where: str, name: str, value: Any) -> None:
    """A gradient transformation: anything with callable `init` and `update`."""
    if callable(getattr(value, "init", None)) and callable(getattr(value, "update", None)):
        return
    got = None
    if callable(value) and hasattr(value, "__name__"):
        got = f"function {value.__name__}; call it first, e.g. {value.__name__}(...)"
    fail_type(
        where,
        name,
        value,
        "a gradient transformation (an object with `init` and `update`)",
        got=got,
    )


def check_transformations(where: str, name: str, value: Any) -> None:
    """A non-empty dict label -> gradient transformation."""
    if not isinstance(value, Mapping) or not value:
        fail_type(where, name, value, "a non-empty dict label -> transformation")
    for label, transform in value.items():
        check_transformation(where, f"{name}[{label!r}]", transform)


def check_interval(where: str, low: float = 0.0, high: float = 1.0, **values: Any) -> None:
    """Each value must lie in [low, high): e.g. b1, b2, decay, rho, momentum."""
    _check_type(where, values)
    for name, value in values.items():
        if _violates(value, lambda a: (low <= a) & (a < high)):
            _fail(where, name, value, f"in [{low:g}, {high:g})")


def check_non_negative(where: str, **values: Any) -> None:
    """Each value must be >= 0 (learning rates, eps, weight decay), finite, and not NaN."""
    _check_type(where, values)
    for name, value in values.items():
        if _violates(value, lambda a: np.isfinite(a) & (a >= 0)):
            _fail(where, name, value, ">= 0 and finite")


def check_positive(where: str, **values: Any) -> None:
    """Each value must be > 0 and finite (e.g. AdaBound's final_lr and gamma)."""
    _check_type(where, values)
    for name, value in values.items():
        if _violates(value, lambda a: np.isfinite(a) & (a > 0)):
            _fail(where, name, value, "> 0 and finite")


def check_finite(where: str, **values: Any) -> None:
    """Each value must be finite, of any sign (e.g. a constant step size)."""
    _check_type(where, values)
    for name, value in values.items():
        if _violates(value, np.isfinite):
            _fail(where, name, value, "finite")


def check_int(where: str, low: int = 0, **values: Any) -> None:
    """Each value must be an int >= low; integer arrays (traced ones too) are accepted as is."""
    for name, value in values.items():
        if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jnp.integer):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            _fail(where, name, value, f"an int >= {low}")


def check_schedule(where: str, name: str, value: Any) -> None:
    """A schedule: a callable of the step count."""
    if not callable(value):
        fail_type(where, name, value, "a callable of the step count")


def check_seed(where: str, name: str, value: Any) -> None:
    """A random seed: an int, a typed key from `jax.random.key`, or a raw uint32 key."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return
    if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
        return
    if hasattr(value, "dtype") and jnp.asarray(value).dtype == jnp.uint32:
        return
    fail_type(
        where,
        name,
        value,
        "an int, a key from jax.random.key, or a raw uint32 key from jax.random.PRNGKey",
    )


def check_scalar_or_schedule(where: str, name: str, value: Any) -> None:
    """A learning-rate-like argument: a number, an array, or a callable schedule; concrete
    numbers and arrays >= 0."""
    if callable(value):
        return
    if not (is_number(value) or hasattr(value, "dtype")):
        fail_type(
            where, name, value, "a number, an array or a schedule (a callable of the step count)"
        )
    check_non_negative(where, **{name: value})


MASK = "a bool, a tree of bools or a function of the params returning one"


def check_mask(where: str, name: str, value: Any) -> None:
    """A mask: a Python bool, a tree of them, or a function (checked when it is called). A string
    or a number would otherwise be read by its truth and mask every leaf in or out silently."""
    if callable(value):
        return
    for leaf in jax.tree.leaves(value):
        if isinstance(leaf, jax.core.Tracer):
            fail_type(
                where,
                name,
                leaf,
                MASK,
                got="a traced value: a mask decides which leaves are transformed when the "
                "program is built, so compute it from the params' names or shapes, not values",
            )
        if not (isinstance(leaf, (bool, np.bool_)) or _is_bool_scalar(leaf)):
            fail_type(where, name, value if leaf is value else leaf, MASK)


def _is_bool_scalar(value: Any) -> bool:
    """A concrete 0-d boolean array (`jnp.array(True)`), which Optax's masks accept too."""
    return isinstance(value, (np.ndarray, jax.Array)) and value.dtype == bool and value.shape == ()


ARGUMENT_ORDER = "the arguments are update(updates, state, params), in that order"


def state_hint(state: Any, made_by: str) -> str:
    """What to say after "got <state>": a state that is not even a tuple (every state is one) is
    most often the params, passed first as in `update(state, params)`."""
    if isinstance(state, tuple):
        return f". Was it made by {made_by}'s `init`?"
    return f": {ARGUMENT_ORDER}"


def check_state(where: str, state: Any, kind: type) -> None:
    """`update` got the state its `init` makes: a `kind`.

    Example:
        >>> import jax.numpy as jnp
        >>> from gradtx import _validate
        >>> from gradtx._base import EmptyState
        >>> _validate.check_state("my_update", {"w": jnp.ones(2)}, EmptyState)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: my_update: the state must be an EmptyState, got a dict: the arguments are ...
    """
    if isinstance(state, kind):
        return
    raise ValueError(
        f"{where}: the state must be {_a(kind.__name__)}, got {a_type_name(state)}"
        + state_hint(state, "this optimizer")
    )


def check_loss(where: str, value: Any) -> None:
    """The loss given as `update(..., value=loss)`: one number (a scalar or a shape-() array).

    Example:
        >>> import jax.numpy as jnp
        >>> from gradtx import _validate
        >>> _validate.check_loss("polyak_sgd", jnp.ones(3))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: polyak_sgd: value (the loss) must be a scalar, got an array of shape (3,); ...
    """
    shape = jnp.shape(value)
    if shape != ():
        raise ValueError(
            f"{where}: value (the loss) must be a scalar, got an array of shape {shape}; pass "
            "the mean loss, e.g. value=jnp.mean(losses)"
        )


def a_type_name(value: Any) -> str:
    """The type of `value` with its article, for messages: "a dict", "an EmptyState"."""
    return _a(type(value).__name__)


def _a(name: str) -> str:
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name}"


def check_dtype(where: str, name: str, value: Any) -> None:
    """A state dtype: None (the params' dtype) or a floating-point dtype, as a dtype or its name."""
    if value is None:
        return
    try:
        dtype = jnp.dtype(value)
    except TypeError:
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        # `jnp.int8` is a class: name the dtype it stands for, not its metaclass and repr.
        got = None if dtype is None or isinstance(value, str) else f"dtype {dtype.name}"
        fail_type(where, name, value, "a floating-point dtype", got=got)
