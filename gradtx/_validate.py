"""Eager checks of hyperparameters, run when an optimizer is built.

Only concrete Python numbers are checked; arrays and traced values (a sweep under `jax.vmap`, a
hyperparameter changed inside `jax.jit`) are accepted as they are. Schedules are checked for being
callable, not evaluated.
"""

from __future__ import annotations

import math
from typing import Any


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(where: str, values: dict[str, Any]) -> None:
    """A bool or a string is not a number (arrays, traced values and the schedules that
    `inject_hyperparams` passes through are left alone)."""
    for name, value in values.items():
        if isinstance(value, (bool, str)):
            raise TypeError(
                f"{where}: {name} must be a number or an array, got {type(value).__name__} "
                f"{value!r}"
            )


def check_transformation(where: str, name: str, value: Any) -> None:
    """A gradient transformation: anything with callable `init` and `update`."""
    if callable(getattr(value, "init", None)) and callable(getattr(value, "update", None)):
        return
    got = f"{type(value).__name__} {value!r}"
    if callable(value) and hasattr(value, "__name__"):
        got = f"function {value.__name__}; call it first, e.g. {value.__name__}(...)"
    raise TypeError(
        f"{where}: {name} must be a gradient transformation (an object with `init` and "
        f"`update`), got {got}"
    )


def _fail(where: str, name: str, value: Any, allowed: str) -> None:
    raise ValueError(f"{where}: {name} must be {allowed}, got {value!r}")


def check_interval(where: str, low: float = 0.0, high: float = 1.0, **values: Any) -> None:
    """Each value must lie in [low, high): e.g. b1, b2, decay, rho, momentum."""
    _check_type(where, values)
    for name, value in values.items():
        if _is_number(value) and not low <= value < high:
            _fail(where, name, value, f"in [{low:g}, {high:g})")


def check_non_negative(where: str, **values: Any) -> None:
    """Each value must be >= 0 (learning rates, eps, weight decay), finite, and not NaN."""
    _check_type(where, values)
    for name, value in values.items():
        if _is_number(value) and not (math.isfinite(value) and value >= 0):
            _fail(where, name, value, ">= 0 and finite")


def check_positive(where: str, **values: Any) -> None:
    """Each value must be > 0 and finite (e.g. AdaBound's final_lr and gamma)."""
    _check_type(where, values)
    for name, value in values.items():
        if _is_number(value) and not (math.isfinite(value) and value > 0):
            _fail(where, name, value, "> 0 and finite")


def check_scalar_or_schedule(where: str, name: str, value: Any) -> None:
    """A learning-rate-like argument: a number, an array, or a callable schedule; numbers >= 0."""
    if callable(value):
        return
    if _is_number(value):
        check_non_negative(where, **{name: value})
        return
    if not hasattr(value, "dtype"):
        raise TypeError(
            f"{where}: {name} must be a number, an array or a schedule (a callable of the step "
            f"count), got {type(value).__name__} {value!r}"
        )
