"""The record of how an optimizer was built.

`register_alias` records an alias once, when it is defined: its name, its signature, and which of
its arguments are static (never hyperparameters: dtypes, masks, switches). Each transformation an
alias returns is recorded with the arguments it was built from, in one table keyed weakly by the
transformation's `update` function, so the transformation itself stays a plain
`GradientTransformation` that Optax can use. `to_config`, `from_config` and `inject_hyperparams`
read these records and nothing else.
"""

from __future__ import annotations

import functools
import inspect
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from gradtx import _validate
from gradtx._base import GradientTransformation, compiled

AliasFactory = Callable[..., GradientTransformation]


class Alias(NamedTuple):
    """A registered optimizer factory."""

    name: str
    factory: AliasFactory  # the registered function, as users call it
    signature: inspect.Signature
    static: frozenset[str]  # arguments passed through unchanged, never hyperparameters


class Injection(NamedTuple):
    """The arguments of `inject_hyperparams` itself."""

    static_args: frozenset[str]
    hyperparam_dtype: Any


class Recipe(NamedTuple):
    """How one transformation was built: `factory(**arguments)`, or
    `inject_hyperparams(factory, *injection)(**arguments)` when `injection` is set."""

    factory: Callable[..., GradientTransformation]
    arguments: dict[str, Any]  # every argument, defaults filled in
    injection: Injection | None = None


_ALIASES: dict[str, Alias] = {}
_WRAPPERS: dict[str, Callable] = {}  # names a config gives to wrappers of an alias
_RECIPES: weakref.WeakKeyDictionary[Callable, Recipe] = weakref.WeakKeyDictionary()


class _AliasFactories(Mapping[str, AliasFactory]):
    """A read-only view: alias name -> the function that builds it."""

    def __getitem__(self, name: str) -> AliasFactory:
        return _ALIASES[name].factory

    def __iter__(self) -> Iterator[str]:
        return iter(_ALIASES)

    def __len__(self) -> int:
        return len(_ALIASES)


ALIASES: Mapping[str, AliasFactory] = _AliasFactories()


def named_signature(where: str, factory: Callable) -> inspect.Signature:
    """The signature of `factory`, whose every argument must be passable by name."""
    signature = inspect.signature(factory)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    unnamed = [p.name for p in signature.parameters.values() if p.kind not in kinds]
    if unnamed:
        raise TypeError(
            f"{where}: every argument of {factory.__name__} must be passable by name, so that a "
            f"config can name it; {unnamed} are positional-only or variadic"
        )
    return signature


def bind(signature: inspect.Signature, args: Any, kwargs: Any, where: str) -> dict[str, Any]:
    """Every argument of a call by name, defaults filled in; an unknown name is named first
    (Python would report a missing argument instead when `lr=` stands for `learning_rate=`)."""
    unknown = sorted(set(kwargs) - set(signature.parameters))
    if unknown:
        raise TypeError(
            f"{where}: unknown argument {', '.join(map(repr, unknown))}; its arguments are "
            f"{list(signature.parameters)}"
        )
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"{where}: {error}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


_PROGRAMS_PER_FACTORY = 256


def compiles(factory: AliasFactory) -> AliasFactory:
    """Decorate a factory so that the transformation it returns comes `compiled`: its update
    jitted once, so eager calls are fast. Every ready-made alias is written
    `@register_alias(...)` over `@compiles`; recording and compiling are separate steps.

    Two calls with identical arguments (same types and values, the same schedule or mask
    objects) share one compiled program, so a second `gradtx.adam(1e-3)` compiles nothing; each
    call still returns its own transformation. Arguments that cannot be compared by value
    (arrays, trees) get a program of their own.
    """
    programs: dict[Any, Callable] = {}

    @functools.wraps(factory)
    def compiled_factory(*args: Any, **kwargs: Any) -> GradientTransformation:
        transform = compiled(factory(*args, **kwargs))
        key = _program_key(args, kwargs)
        if key is None:
            return transform
        program = programs.setdefault(key, transform.update)
        if program is transform.update:
            if len(programs) > _PROGRAMS_PER_FACTORY:
                del programs[next(iter(programs))]
            return transform

        def update(updates: Any, state: Any, params: Any = None, **extra_args: Any) -> Any:
            return program(updates, state, params, **extra_args)

        return type(transform)(transform.init, update)

    return compiled_factory


def _program_key(args: tuple, kwargs: dict[str, Any]) -> Any:
    """A key equal for calls that build the same program, or None when an argument has no
    value equality (an array, a dict). Floats are keyed by their bits (-0.0 is not 0.0), every
    value by its type too (1 is not 1.0)."""

    def value(v: Any) -> Any:
        if isinstance(v, float):
            return float, v.hex()
        if isinstance(v, (tuple, list)):
            return type(v), tuple(value(x) for x in v)
        hash(v)
        return type(v), v

    try:
        named = tuple(sorted((k, value(v)) for k, v in kwargs.items()))
        return tuple(value(a) for a in args), named
    except TypeError:
        return None


def register_alias(
    factory: AliasFactory | None = None, *, static: Iterable[str] = ()
) -> AliasFactory | Callable[[AliasFactory], AliasFactory]:
    """Decorate an optimizer factory so `to_config` can describe what it returns.

    The wrapped factory has the same name, signature and docstring. Each transformation it
    returns is recorded with all its arguments (defaults filled in) under the factory's
    `__name__`, which `from_config` looks up. While the factory runs, a failed argument check
    names the factory and the argument the user passed (`sgd: momentum must be ...`). It does not
    compile the transformation: that is `compiles`, a separate decorator.

    Args:
        factory: a function returning a `GradientTransformation`, every argument passable by name.
        static: arguments that are never hyperparameters, which `inject_hyperparams` passes
            through unchanged: dtypes, masks and other functions that are not schedules.
            Arguments with a boolean default are static without being named.

    Example:
        >>> import gradtx
        >>> @gradtx.register_alias
        ... def heavy_ball(learning_rate: float, momentum: float = 0.9):
        ...     return gradtx.sgd(learning_rate, momentum)
        >>> gradtx.to_config(heavy_ball(0.1))["name"]
        'heavy_ball'
    """
    if factory is None:
        return functools.partial(register_alias, static=static)
    name = factory.__name__
    signature = named_signature("register_alias", factory)
    declared = frozenset({static} if isinstance(static, str) else static)
    unknown = declared - set(signature.parameters)
    if unknown:
        raise ValueError(
            f"register_alias: static {sorted(unknown)} are not arguments of {name}; its arguments "
            f"are {list(signature.parameters)}"
        )
    switches = {k for k, p in signature.parameters.items() if isinstance(p.default, bool)}
    # Of those, the options typed bool alone (a mask such as lars' trust_ratio_mask also
    # defaults to True but takes a tree or a function).
    flags = {k for k in switches if signature.parameters[k].annotation in (bool, "bool")}

    @functools.wraps(factory)
    def alias(*args: Any, **kwargs: Any) -> GradientTransformation:
        arguments = bind(signature, args, kwargs, name)
        for switch in flags:  # a truthy string ("false") would switch the option on
            if not isinstance(arguments[switch], (bool, np.bool_)):
                _validate.fail_type(name, switch, arguments[switch], "True or False")
        with _validate.calling(name, arguments):
            transform = factory(**arguments)
        record(transform, Recipe(alias, arguments))
        return transform

    taken = _WRAPPERS.get(name) or getattr(_ALIASES.get(name), "factory", alias)
    if (taken.__module__, taken.__qualname__) != (alias.__module__, alias.__qualname__):
        raise ValueError(
            f"register_alias: the name {name!r} is taken by {taken.__module__}."
            f"{taken.__qualname__}; rename the factory"
        )
    _ALIASES[name] = Alias(name, alias, signature, declared | switches)  # a reload registers again
    return alias


def register_wrapper(wrapper: Callable) -> Callable:
    """Reserve the name of a wrapper whose configs name an alias (`inject_hyperparams`)."""
    _WRAPPERS[wrapper.__name__] = wrapper
    return wrapper


def alias_named(name: str) -> Alias | None:
    """The alias registered under `name`, or None."""
    return _ALIASES.get(name)


def alias_of(factory: Callable) -> Alias | None:
    """The registration of `factory`, or None if it is not a registered alias."""
    alias = _ALIASES.get(getattr(factory, "__name__", None))
    return alias if alias is not None and alias.factory is factory else None


def record(transform: GradientTransformation, recipe: Recipe) -> None:
    """Remember how `transform` was built; the outermost factory records last, and wins."""
    _RECIPES[transform.update] = recipe


def recipe_of(transform: Any) -> Recipe | None:
    """How `transform` was built, or None if no registered alias nor wrapper built it."""
    update = getattr(transform, "update", None)
    try:
        return _RECIPES.get(update)
    except TypeError:  # None, or a function that cannot be weakly referenced
        return None


def catalog() -> dict[str, tuple[str, ...]]:
    """Every registered optimizer, grouped by the chapter of the story it belongs to.

    A chapter is the first paragraph of the docstring of the module that defines the aliases
    (gradtx's own modules are one chapter each, in the order of the story); an alias registered
    by a user appears under its module's docstring, or its module's name. Chapters and the
    aliases in them come in the order they were registered.

    Returns:
        A dict chapter title -> alias names.

    Example:
        >>> import gradtx
        >>> chapter, names = next(iter(gradtx.catalog().items()))
        >>> chapter
        'Gradient descent, stochastic and minibatch, with heavy-ball or Nesterov momentum.'
        >>> names
        ('sgd', 'noisy_sgd')
    """
    chapters: dict[str, list[str]] = {}
    for name, alias in _ALIASES.items():
        module = sys.modules.get(alias.factory.__module__)
        doc = (getattr(module, "__doc__", None) or "").strip()
        title = " ".join(doc.split("\n\n")[0].split()) if doc else alias.factory.__module__
        chapters.setdefault(title, []).append(name)
    return {title: tuple(names) for title, names in chapters.items()}
