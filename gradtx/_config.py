"""Configs: an optimizer as a plain JSON-serializable dict, and back.

`to_config(tx)` returns `{"name": "adam", "hyperparameters": {...}}` with every argument of the
alias that built `tx`, defaults filled in; `from_config(config)` calls that alias again. Schedules
are written `{"schedule": name, "args": {...}}` (a name of `SCHEDULES`, the dataclass's fields),
dtypes as their names ("bfloat16"). As in Keras' `get_config` / `from_config`, a config records how
to build an optimizer, not its state.

Both read the record that `register_alias` and `inject_hyperparams` keep of every transformation
they return (see `gradtx/_registry.py`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _registry, _schedules
from gradtx._base import GradientTransformation
from gradtx._registry import ALIASES as ALIASES
from gradtx._registry import register_alias as register_alias
from gradtx._wrappers.hyperparams import inject_hyperparams, is_dtype

_INJECT = inject_hyperparams.__name__
_SCHEDULE_NAMES = {cls: name for name, cls in _schedules.SCHEDULES.items()}


# Encoding: Python values -> JSON values.


def _unserializable(where: str, value: Any, why: str) -> ValueError:
    return ValueError(
        f"to_config: {where} is {value!r}, {why}. A config holds numbers, booleans, strings, None, "
        f"dtypes and gradtx's schedules ({', '.join(_schedules.SCHEDULES)})."
    )


def _encode(where: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if is_dtype(value):
        return jnp.dtype(value).name
    if type(value) in _SCHEDULE_NAMES:
        return {
            "schedule": _SCHEDULE_NAMES[type(value)],
            "args": {
                f.name: _encode(f"{where}.{f.name}", getattr(value, f.name))
                for f in dataclasses.fields(value)
            },
        }
    if isinstance(value, jax.core.Tracer):
        raise _unserializable(where, value, "a traced value (build the optimizer outside jit)")
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if np.ndim(value) == 0:
            return np.asarray(value).item()
        raise _unserializable(where, value, "an array that is not a scalar")
    if isinstance(value, (tuple, list)):  # a schedule's boundaries, or a pair such as betas
        return [_encode(f"{where}[{i}]", v) for i, v in enumerate(value)]
    if callable(value):
        raise _unserializable(
            where,
            value,
            "a function but not one of gradtx's schedules, and a config cannot hold code. Use a "
            "gradtx schedule, or build the optimizer in code where it needs a mask function",
        )
    raise _unserializable(where, value, f"a {type(value).__name__}, which has no config form")


def _encode_arguments(name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _encode(f"{name}'s argument {k}", v) for k, v in arguments.items()}


def _alias_name(recipe: _registry.Recipe) -> str:
    alias = _registry.alias_of(recipe.factory)
    if alias is None:
        how = "inject_hyperparams wraps" if recipe.injection else "it was built by"
        raise ValueError(
            f"to_config: {how} {getattr(recipe.factory, '__name__', recipe.factory)}, which is "
            f"not a registered alias; registered: {sorted(ALIASES)}. Decorate it with "
            "gradtx.register_alias."
        )
    return alias.name


def to_config(transform: GradientTransformation) -> dict[str, Any]:
    """Describe an optimizer built by a registered alias as a JSON-serializable dict.

    Args:
        transform: a transformation returned by a registered alias (every gradtx alias), or by
            `inject_hyperparams` around one.

    Returns:
        `{"name": alias, "hyperparameters": {argument: value}}` with every argument; for
        `inject_hyperparams` also "factory", "static_args" and "hyperparam_dtype". Schedules are
        `{"schedule": name, "args": {field: value}}`, dtypes their names. The values set in an
        `InjectHyperparamsState` later are state, not config.

    Raises:
        ValueError: for a transformation no registered alias returned, or an argument a config
            cannot hold (a function that is not a gradtx schedule, a mask function, a non-scalar
            array, a traced value); the message names the argument.

    Example:
        >>> import gradtx, json
        >>> config = gradtx.to_config(gradtx.adam(gradtx.exponential_decay(1e-3, 100, 0.5)))
        >>> config["hyperparameters"]["learning_rate"]["schedule"]
        'exponential_decay'
        >>> tx = gradtx.from_config(json.dumps(config))
    """
    recipe = _registry.recipe_of(transform)
    if recipe is None:
        raise ValueError(
            f"to_config: {type(transform).__name__} was not returned by a registered alias "
            f"({', '.join(sorted(ALIASES))}) nor by inject_hyperparams around one, so there is "
            "no record of how it was built. A chain built by hand has no config: write it as a "
            "factory decorated with gradtx.register_alias."
        )
    name = _alias_name(recipe)
    hyperparameters = _encode_arguments(name, recipe.arguments)
    if recipe.injection is None:
        return {"name": name, "hyperparameters": hyperparameters}
    dtype = recipe.injection.hyperparam_dtype
    return {
        "name": _INJECT,
        "factory": name,
        "static_args": sorted(recipe.injection.static_args),
        "hyperparam_dtype": None if dtype is None else jnp.dtype(dtype).name,
        "hyperparameters": hyperparameters,
    }


# Decoding: JSON values -> Python values.


def _check_keys(where: str, given: Mapping, required: set[str], optional: set[str]) -> None:
    if not isinstance(given, Mapping):
        raise ValueError(f"{where} must be a dict, got {type(given).__name__} {given!r}")
    missing, unknown = required - set(given), set(given) - required - optional
    problems = [f"has unknown keys {sorted(unknown)}"] if unknown else []
    problems += [f"lacks the required {sorted(missing)}"] if missing else []
    if problems:
        raise ValueError(
            f"{where} {' and '.join(problems)}; valid keys: {sorted(required | optional)}"
        )


def _decode_schedule(where: str, spec: Mapping) -> Callable:
    _check_keys(f"from_config: {where}", spec, {"schedule"}, {"args"})
    name = spec["schedule"]
    if name not in _schedules.SCHEDULES:
        raise ValueError(
            f"from_config: {where} names the unknown schedule {name!r}; valid schedules: "
            f"{sorted(_schedules.SCHEDULES)}"
        )
    factory = getattr(_schedules, name)  # its arguments are the fields of SCHEDULES[name]
    args = spec.get("args", {})
    names = _argument_names(inspect.signature(factory))
    _check_keys(f"from_config: the args of {name} in {where}", args, *names)
    return factory(**{k: _decode_schedule_arg(f"{where}.{k}", v) for k, v in args.items()})


def _decode_schedule_arg(where: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _decode_schedule(where, value)
    if isinstance(value, list):
        return [_decode_schedule_arg(f"{where}[{i}]", v) for i, v in enumerate(value)]
    return value


def _decode(where: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _decode_schedule(where, value)
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):  # a tuple of hyperparameters, such as betas
        return tuple(_decode(f"{where}[{i}]", v) for i, v in enumerate(value))
    raise ValueError(
        f"from_config: {where} is {value!r}; expected a number, boolean, string, null, a list "
        'of those or a schedule {"schedule": name, "args": {...}}'
    )


def _argument_names(signature: inspect.Signature) -> tuple[set[str], set[str]]:
    """The required and the optional argument names of a signature."""
    parameters = signature.parameters
    required = {k for k, p in parameters.items() if p.default is inspect.Parameter.empty}
    return required, set(parameters) - required


def _decode_arguments(alias: _registry.Alias, hyperparameters: Any) -> dict[str, Any]:
    where = f"from_config: {alias.name}'s hyperparameters"
    _check_keys(where, hyperparameters, *_argument_names(alias.signature))
    return {k: _decode(f"{alias.name}'s argument {k}", v) for k, v in hyperparameters.items()}


def _lookup(name: Any) -> _registry.Alias:
    alias = _registry.alias_named(name) if isinstance(name, str) else None
    if alias is None:
        raise ValueError(
            f"from_config: unknown optimizer {name!r}; valid names: {sorted([*ALIASES, _INJECT])}"
        )
    return alias


def from_config(config: Mapping[str, Any] | str) -> GradientTransformation:
    """Build the optimizer a config (from `to_config`, or written by hand) describes.

    Missing hyperparameters take the alias's defaults; unknown names raise a ValueError listing the
    valid ones. Nothing in the config is evaluated or unpickled: names are looked up in the alias
    and schedule registries.

    Args:
        config: the dict `to_config` returns, or the same as a JSON string.

    Example:
        >>> import gradtx
        >>> tx = gradtx.from_config({"name": "sgd", "hyperparameters": {"learning_rate": 0.1}})
        >>> tx = gradtx.from_config('{"name": "adam", "hyperparameters": {"learning_rate": 1e-3}}')
    """
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as error:
            raise ValueError(f"from_config: the string is not JSON ({error}): {config!r}") from None
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(
            'from_config: a config is a dict {"name": ..., "hyperparameters": {...}} or that '
            f"dict as a JSON string, got {config!r}"
        )
    name = config["name"]
    if name == _INJECT:
        optional = {"hyperparameters", "static_args", "hyperparam_dtype"}
        _check_keys(
            "from_config: the inject_hyperparams config", config, {"name", "factory"}, optional
        )
        alias = _lookup(config["factory"])
        arguments = _decode_arguments(alias, config.get("hyperparameters", {}))
        static_args = tuple(config.get("static_args", ()))
        injected = inject_hyperparams(alias.factory, static_args, config.get("hyperparam_dtype"))
        return injected(**arguments)
    alias = _lookup(name)
    _check_keys(f"from_config: the config of {name}", config, {"name"}, {"hyperparameters"})
    return alias.factory(**_decode_arguments(alias, config.get("hyperparameters", {})))
