"""Configs: an optimizer as a plain JSON-serializable dict, and back.

`to_config(tx)` returns `{"name": "adam", "hyperparameters": {...}}` with every argument of the
alias that built `tx`, defaults filled in; `from_config(config)` calls that alias again. Schedules
are written `{"schedule": name, "args": {...}}` (a name of `SCHEDULES`, the dataclass's fields),
dtypes as their names ("bfloat16"). As in Keras' `get_config` / `from_config`, a config records how
to build an optimizer, not its state.

An alias takes part by being decorated with `register_alias`, which records the arguments of every
transformation it returns, in a table keyed weakly by the transformation's `update` function. The
returned value stays a plain `GradientTransformation`, usable by Optax.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
import types
import weakref
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _schedules
from gradtx._base import GradientTransformation, compiled
from gradtx._wrappers.hyperparams import inject_hyperparams, injection_of, is_dtype

AliasFactory = Callable[..., GradientTransformation]

_INJECT = "inject_hyperparams"
_ALIASES: dict[str, AliasFactory] = {}
ALIASES: Mapping[str, AliasFactory] = types.MappingProxyType(_ALIASES)  # name -> alias


class _Record(NamedTuple):
    name: str
    arguments: dict[str, Any]  # every argument, defaults filled in


_RECORDS: weakref.WeakKeyDictionary[Callable, _Record] = weakref.WeakKeyDictionary()
_SCHEDULE_NAMES = {cls: name for name, cls in _schedules.SCHEDULES.items()}


def _check_named_arguments(where: str, factory: Callable) -> inspect.Signature:
    signature = inspect.signature(factory)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    unnamed = [p.name for p in signature.parameters.values() if p.kind not in kinds]
    if unnamed:
        raise TypeError(
            f"{where}: every argument of {factory.__name__} must be passable by name, so that a "
            f"config can name it; {unnamed} are positional-only or variadic"
        )
    return signature


def register_alias(factory: AliasFactory) -> AliasFactory:
    """Decorate an optimizer factory so `to_config` can describe what it returns.

    The wrapped factory has the same name, signature and docstring; each transformation it returns
    comes `compiled` (its update jitted once, so eager calls are fast) and is recorded with all its
    arguments (defaults filled in) under the factory's `__name__`, which `from_config` looks up.

    Example:
        >>> import gradtx
        >>> @gradtx.register_alias
        ... def heavy_ball(learning_rate: float, momentum: float = 0.9):
        ...     return gradtx.sgd(learning_rate, momentum)
        >>> gradtx.to_config(heavy_ball(0.1))["name"]
        'heavy_ball'
    """
    name = factory.__name__
    signature = _check_named_arguments("register_alias", factory)

    @functools.wraps(factory)
    def alias(*args: Any, **kwargs: Any) -> GradientTransformation:
        transform = compiled(factory(*args, **kwargs))
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        _RECORDS[transform.update] = _Record(name, dict(bound.arguments))
        return transform

    existing = _ALIASES.get(name, inject_hyperparams if name == _INJECT else alias)
    if (existing.__module__, existing.__qualname__) != (alias.__module__, alias.__qualname__):
        raise ValueError(
            f"register_alias: the name {name!r} is taken by {existing.__module__}."
            f"{existing.__qualname__}; rename the factory"
        )
    _ALIASES[name] = alias  # a module reloaded registers its aliases again
    return alias


# Encoding: Python values -> JSON values.


def _unserializable(where: str, value: Any, why: str) -> ValueError:
    return ValueError(
        f"to_config: {where} is {value!r}, {why}. A config holds numbers, booleans, strings, None, "
        f"dtypes and gradtx's schedules ({', '.join(_schedules.SCHEDULES)})."
    )


def _encode(where: str, value: Any, *, inside_schedule: bool = False) -> Any:
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
                f.name: _encode(f"{where}.{f.name}", getattr(value, f.name), inside_schedule=True)
                for f in dataclasses.fields(value)
            },
        }
    if isinstance(value, jax.core.Tracer):
        raise _unserializable(where, value, "a traced value (build the optimizer outside jit)")
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if np.ndim(value) == 0:
            return np.asarray(value).item()
        raise _unserializable(where, value, "an array that is not a scalar")
    if inside_schedule and isinstance(value, (tuple, list)):
        return [_encode(f"{where}[{i}]", v, inside_schedule=True) for i, v in enumerate(value)]
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


def _alias_name(factory: Callable) -> str:
    name = getattr(factory, "__name__", repr(factory))
    if _ALIASES.get(name) is not factory:
        raise ValueError(
            f"to_config: inject_hyperparams wraps {name}, which is not a registered alias; "
            f"registered: {sorted(_ALIASES)}. Decorate it with gradtx.register_alias."
        )
    return name


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
        >>> tx = gradtx.from_config(json.loads(json.dumps(config)))
    """
    update = getattr(transform, "update", None)
    record = _RECORDS.get(update) if update is not None else None
    if record is not None:
        return {"name": record.name, "hyperparameters": _encode_arguments(*record)}
    injection = injection_of(transform) if update is not None else None
    if injection is not None:
        name = _alias_name(injection.factory)
        dtype = injection.hyperparam_dtype
        return {
            "name": _INJECT,
            "factory": name,
            "static_args": sorted(injection.static_args),
            "hyperparam_dtype": None if dtype is None else jnp.dtype(dtype).name,
            "hyperparameters": _encode_arguments(name, injection.arguments),
        }
    raise ValueError(
        f"to_config: {type(transform).__name__} was not returned by a registered alias "
        f"({', '.join(sorted(_ALIASES))}) nor by inject_hyperparams around one, so there is no "
        "record of how it was built. A chain built by hand has no config: write it as a factory "
        "decorated with gradtx.register_alias."
    )


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
    _check_keys(f"from_config: the args of {name} in {where}", args, *_argument_names(factory))
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
    raise ValueError(
        f"from_config: {where} is {value!r}; expected a number, boolean, string, null or a "
        'schedule {"schedule": name, "args": {...}}'
    )


def _argument_names(factory: Callable) -> tuple[set[str], set[str]]:
    """The required and the optional argument names of `factory`."""
    parameters = inspect.signature(factory).parameters
    required = {k for k, p in parameters.items() if p.default is inspect.Parameter.empty}
    return required, set(parameters) - required


def _decode_arguments(name: str, factory: Callable, hyperparameters: Any) -> dict[str, Any]:
    where = f"from_config: {name}'s hyperparameters"
    _check_keys(where, hyperparameters, *_argument_names(factory))
    return {k: _decode(f"{name}'s argument {k}", v) for k, v in hyperparameters.items()}


def _lookup(name: Any) -> AliasFactory:
    if not isinstance(name, str) or name not in _ALIASES:
        raise ValueError(
            f"from_config: unknown optimizer {name!r}; valid names: {sorted(_ALIASES) + [_INJECT]}"
        )
    return _ALIASES[name]


def from_config(config: Mapping[str, Any]) -> GradientTransformation:
    """Build the optimizer a config (from `to_config`, or written by hand) describes.

    Missing hyperparameters take the alias's defaults; unknown names raise a ValueError listing the
    valid ones. Nothing in the config is evaluated or unpickled: names are looked up in the alias
    and schedule registries.

    Example:
        >>> import gradtx
        >>> tx = gradtx.from_config({"name": "sgd", "hyperparameters": {"learning_rate": 0.1}})
    """
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(
            'from_config: a config is a dict {"name": ..., "hyperparameters": {...}}, '
            f"got {config!r}"
        )
    name = config["name"]
    if name == _INJECT:
        optional = {"hyperparameters", "static_args", "hyperparam_dtype"}
        _check_keys(
            "from_config: the inject_hyperparams config", config, {"name", "factory"}, optional
        )
        factory = _lookup(config["factory"])
        arguments = _decode_arguments(config["factory"], factory, config.get("hyperparameters", {}))
        static_args = tuple(config.get("static_args", ()))
        injected = inject_hyperparams(factory, static_args, config.get("hyperparam_dtype"))
        return injected(**arguments)
    factory = _lookup(name)
    _check_keys(f"from_config: the config of {name}", config, {"name"}, {"hyperparameters"})
    return factory(**_decode_arguments(name, factory, config.get("hyperparameters", {})))
