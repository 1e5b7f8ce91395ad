"""Registries that cannot drift: every public optimizer and transformation of gradtx is in
`tests/registry.py`, and in every suite that keeps a table of its own.

The public factories are found by introspection: every public function of `gradtx` annotated to
return a `GradientTransformation`, and every registered alias. Suites that iterate `registry.ALL`
(contract, properties, dtypes, resume, errors) are complete by construction; this file checks
that they still do, and checks the keys of the tables kept by hand (the per-entry strategies,
the error catalogue, the config settings, the hyperparameter aliases).

A known gap (a table that lacks a name today) is listed in `KNOWN_GAPS` with the file that must
close it; closing it means deleting its line here.
"""

import importlib
import inspect
import re

import pytest

import gradtx
from gradtx._base import GradientTransformation
from tests import registry, strategies


def registered_aliases():
    """name -> factory of every registered alias (`gradtx._registry.ALIASES`, formerly
    `gradtx._config.ALIASES`)."""
    home = importlib.import_module("gradtx._registry")
    return getattr(home, "ALIASES", None) or importlib.import_module("gradtx._config").ALIASES


def public_factories():
    """name -> function for every public optimizer and transformation of gradtx."""
    factories = {
        name: obj
        for name in dir(gradtx)
        if not name.startswith("_")
        and inspect.isfunction(obj := getattr(gradtx, name))
        and inspect.signature(obj).return_annotation
        in (GradientTransformation, "GradientTransformation")
    }
    return factories | {name: getattr(gradtx, name) for name in registered_aliases()}


PUBLIC = public_factories()

# Names a suite's hand-kept table lacks today -> the file that must add them.
KNOWN_GAPS = {
    "error catalogue": set(),  # tests/test_errors.py: a BAD_INPUTS row whose message names each
    "config settings": set(),  # tests/test_config.py: SETTINGS, other values per alias
}


def _missing(suite, names):
    return set(names) - KNOWN_GAPS.get(suite, set())


def test_registry_builds_every_public_optimizer_and_transformation(monkeypatch):
    """Each public factory is called by some entry of `registry.ALL` (seen by wrapping the public
    names while every entry is built), or declared in `registry.NOT_REGISTERED`."""
    called = set()

    def recording(name, factory):
        def record(*args, **kwargs):
            called.add(name)
            return factory(*args, **kwargs)

        return record

    for name, factory in PUBLIC.items():
        monkeypatch.setattr(gradtx, name, recording(name, factory))
    for build in registry.ALL.values():
        build()
    missing = set(PUBLIC) - called - set(registry.NOT_REGISTERED)
    assert not missing, f"add an entry to tests/registry.py for {sorted(missing)}"
    assert not set(registry.NOT_REGISTERED) & called, "registered after all: drop its excuse"
    assert set(registry.NOT_REGISTERED) <= set(PUBLIC)


def test_registry_names_are_unique_and_count_free_names_are_entries():
    assert not set(registry.OPTIMIZERS) & set(registry.TRANSFORMATIONS)
    assert registry.ALL == {**registry.OPTIMIZERS, **registry.TRANSFORMATIONS}
    assert registry.COUNT_FREE <= set(registry.ALL)


def parametrized(module, argnames="name", prefix="test_"):
    """The value sets the tests of `module` (those whose name starts with `prefix`) are
    parametrized with under `argnames`."""
    values = []
    for name, test in inspect.getmembers(module, inspect.isfunction):
        for mark in getattr(test, "pytestmark", []) if name.startswith(prefix) else []:
            if mark.name == "parametrize" and mark.args[0] == argnames:
                # a pytest.param (a known gap marked xfail) still runs its entry
                values.append({getattr(v, "values", (v,))[0] for v in mark.args[1]})
    return values


def catalogued():
    """The functions named by the messages of `test_errors.py`'s bad-input catalogue."""
    errors = importlib.import_module("tests.test_errors")
    messages = [row[2] for row in [*errors.BAD_INPUTS, *errors.NEEDS_A_LIBRARY_FIX]]
    return {m.group(1) for m in map(re.compile(r"(\w+)[:(]").match, messages) if m}


@pytest.mark.parametrize(
    "suite",
    [
        "tests.test_contract",
        "tests.test_properties",
        "tests.test_dtypes",
        "tests.test_checkpoint",  # resume
        "tests.test_errors",
    ],
)
def test_suite_runs_every_registry_entry(suite):
    module = importlib.import_module(suite)
    covering = [v for v in parametrized(module) if v >= set(registry.ALL)]
    assert covering, f"{suite}: no test is parametrized over every entry of registry.ALL"


def test_every_public_factory_has_a_hyperparameter_strategy_or_says_why_not():
    drawn, excused = set(strategies.HYPERPARAMETERS), set(strategies.WITHOUT_STRATEGY)
    missing = set(PUBLIC) - drawn - excused - set(registry.NOT_REGISTERED)
    assert not missing, f"tests/strategies.py: add a strategy (or a reason) for {sorted(missing)}"
    assert not drawn & excused
    assert excused <= set(PUBLIC)
    assert drawn <= set(registry.ALL) and drawn <= set(PUBLIC)


def test_every_public_factory_with_arguments_has_a_bad_input_in_the_error_catalogue():
    takes_arguments = {n for n, f in PUBLIC.items() if inspect.signature(f).parameters}
    missing = _missing("error catalogue", takes_arguments - catalogued())
    assert not missing, f"tests/test_errors.py: add a BAD_INPUTS row for {sorted(missing)}"


def test_every_alias_round_trips_through_config_with_defaults_and_other_values():
    config = importlib.import_module("tests.test_config")
    aliases = set(registered_aliases())
    defaults = parametrized(config, prefix="test_config_round_trips_every_alias_with_defaults")
    assert any(v >= aliases for v in defaults)
    missing = _missing("config settings", aliases - set(config.SETTINGS))
    assert not missing, f"tests/test_config.py: add SETTINGS for {sorted(missing)}"


def test_every_alias_is_checked_under_inject_hyperparams():
    """`test_hyperparams.py` runs every registered alias (its `REGISTERED` table) eagerly."""
    hyperparams = importlib.import_module("tests.test_hyperparams")
    assert set(hyperparams.REGISTERED) == set(registered_aliases())


def test_known_gaps_are_still_gaps():
    """Closing a gap means deleting its name from KNOWN_GAPS above."""
    assert not KNOWN_GAPS["error catalogue"] & catalogued()
    config = importlib.import_module("tests.test_config")
    assert not KNOWN_GAPS["config settings"] & set(config.SETTINGS)
