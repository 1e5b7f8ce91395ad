"""The error catalogue: each bad input and the exact message it produces.

Messages are part of the interface: they say what is wrong, the usual cause, and the fix. Each
row pins one message (`match="^...$"`), so a change to it is a deliberate change to this table.
`test_validate.py` covers the aliases' hyperparameter ranges; this file covers the rest:
transformations built directly, wrong types, trees that do not match, integer leaves, empty
trees, checkpoints that do not fit, and what non-finite gradients do.

Decided here: an empty params tree ({}, [] or ()) is valid. `init` and `update` work and the
updates are the same empty tree.
"""

import inspect
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import gradtx
from gradtx import _registry
from gradtx._config import ALIASES
from tests.registry import ALL, REPAIRS_NANS, TRANSFORMATIONS

PARAMS = {"w": jnp.ones(2)}
CALLABLE_OF_THE_STEP = "a number, an array or a schedule (a callable of the step count)"
INT_FIX = (
    "gradtx transforms floating-point (or complex) leaves only. Keep integer and boolean buffers "
    "out of the params you optimize: split them off before `jax.grad`, `init` and `apply_updates`."
)
TREE_FIX = "Was the state made by this optimizer's `init` on params shaped like these updates?"
NOT_TX = "must be a gradient transformation (an object with `init` and `update`)"
MASK = "must be a bool, a tree of bools or a function of the params returning one"
CONFIG_NAMES = sorted([*ALIASES, "inject_hyperparams"])  # what from_config can rebuild


def exactly(message):
    """The whole message; raised inside a jitted update, JAX may append a note on its traceback."""
    return (
        "^"
        + re.escape(message)
        + r"(\n-+\nFor simplicity, JAX has removed its internal frames.*)?$"
    )


def update_once(tx, grads=PARAMS, params=PARAMS):
    return tx.update(grads, tx.init(params), params)


BAD_INPUTS = [
    # Transformations built directly, hyperparameters the aliases do not reach.
    (lambda: gradtx.trace(1.0), ValueError, "trace: decay must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.scale_by_rms(initial_scale=-1.0),
        ValueError,
        "scale_by_rms: initial_scale must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_adamax(eps=float("inf")),
        ValueError,
        "scale_by_adamax: eps must be >= 0 and finite, got inf",
    ),
    (
        lambda: gradtx.scale_by_amsgrad(eps_root=-1.0),
        ValueError,
        "scale_by_amsgrad: eps_root must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.rms_step_size(b2=1.0),
        ValueError,
        "rms_step_size: b2 must be in [0, 1), got 1.0",
    ),
    (
        lambda: gradtx.max_rms_step_size(eps=-1.0),
        ValueError,
        "max_rms_step_size: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.bound_lr(gradtx.rms_step_size(), final_lr=float("inf")),
        ValueError,
        "bound_lr: final_lr must be > 0 and finite, got inf",
    ),
    (lambda: gradtx.clip(-1.0), ValueError, "clip: max_delta must be >= 0 and finite, got -1.0"),
    (
        lambda: gradtx.clip_by_global_norm(0.0),
        ValueError,
        "clip_by_global_norm: max_norm must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.apply_if_finite(gradtx.adam(1e-3), -1),
        ValueError,
        "apply_if_finite: max_consecutive_errors must be an int >= 0, got -1",
    ),
    (
        lambda: gradtx.accumulate(gradtx.adam(1e-3), 0),
        ValueError,
        "accumulate: every_k must be an int >= 1, got 0",
    ),
    (lambda: gradtx.scale(float("inf")), ValueError, "scale: step_size must be finite, got inf"),
    (
        lambda: gradtx.scale_by_learning_rate(-0.1),
        ValueError,
        "scale_by_learning_rate: learning_rate must be >= 0 and finite, got -0.1",
    ),
    (
        lambda: gradtx.scale_by_adadelta(rho=1.0),
        ValueError,
        "scale_by_adadelta: rho must be in [0, 1), got 1.0",
    ),
    (
        lambda: gradtx.scale_by_nadam(momentum_decay=-1.0),
        ValueError,
        "scale_by_nadam: momentum_decay must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_nadam(b1=1.0),
        ValueError,
        "scale_by_nadam: b1 must be in [0, 1), got 1.0",
    ),
    (
        lambda: gradtx.scale_by_swats(eps_switch=-1.0),
        ValueError,
        "scale_by_swats: eps_switch must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_swats(b2=1.0),
        ValueError,
        "scale_by_swats: b2 must be in [0, 1), got 1.0",
    ),
    (
        lambda: gradtx.swats_switch(gradtx.adam(0.1).init(PARAMS)),
        ValueError,
        "swats_switch: opt_state must hold exactly one ScaleBySwatsState, found 0 in a tuple; "
        "pass the state of `gradtx.swats(...)` or of a chain with one `scale_by_swats`",
    ),
    # The aliases' hyperparameters that `test_validate.py` does not reach, named as the user
    # called them (not as the inner link that checked them).
    (lambda: gradtx.adamw(0.1, b1=1.5), ValueError, "adamw: b1 must be in [0, 1), got 1.5"),
    (lambda: gradtx.adamax(0.1, b2=1.0), ValueError, "adamax: b2 must be in [0, 1), got 1.0"),
    (lambda: gradtx.nadam(0.1, b2=1.0), ValueError, "nadam: b2 must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.amsgrad(0.1, eps=-1.0),
        ValueError,
        "amsgrad: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.adagrad(0.1, initial_accumulator_value=float("inf")),
        ValueError,
        "adagrad: initial_accumulator_value must be >= 0 and finite, got inf",
    ),
    (
        lambda: gradtx.rmsprop(0.1, eps=-1.0),
        ValueError,
        "rmsprop: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.rmsprop(0.1, initial_scale=-1.0),
        ValueError,
        "rmsprop: initial_scale must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.adabound(weight_decay=-1.0),
        ValueError,
        "adabound: weight_decay must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.amsbound(final_lr=float("inf")),
        ValueError,
        "amsbound: final_lr must be > 0 and finite, got inf",
    ),
    (lambda: gradtx.swats(b1=1.5), ValueError, "swats: b1 must be in [0, 1), got 1.5"),
    (
        lambda: gradtx.swats(-1.0),
        ValueError,
        "swats: learning_rate must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.swats(eps_switch=float("nan")),
        ValueError,
        "swats: eps_switch must be >= 0 and finite, got nan",
    ),
    # Wrong types: a list, a string, a bool or None where a number or a schedule is expected.
    (
        lambda: gradtx.sgd([0.1, 0.01]),
        TypeError,
        (f"sgd: learning_rate must be {CALLABLE_OF_THE_STEP}, got list [0.1, 0.01]"),
    ),
    (
        lambda: gradtx.adam("1e-3"),
        TypeError,
        f"adam: learning_rate must be {CALLABLE_OF_THE_STEP}, got str '1e-3'",
    ),
    (
        lambda: gradtx.adam(True),
        TypeError,
        f"adam: learning_rate must be {CALLABLE_OF_THE_STEP}, got bool True",
    ),
    (
        lambda: gradtx.adam(None),
        TypeError,
        f"adam: learning_rate must be {CALLABLE_OF_THE_STEP}, got NoneType None",
    ),
    (
        lambda: gradtx.add_decayed_weights("0.1"),
        TypeError,
        f"add_decayed_weights: weight_decay must be {CALLABLE_OF_THE_STEP}, got str '0.1'",
    ),
    (
        lambda: gradtx.scale_by_schedule(0.1),
        TypeError,
        "scale_by_schedule: step_size_fn must be a callable of the step count, got float 0.1",
    ),
    (
        lambda: gradtx.scale_by_schedule([0.1, 0.2]),
        TypeError,
        "scale_by_schedule: step_size_fn must be a callable of the step count, got list [0.1, 0.2]",
    ),
    (
        lambda: gradtx.add_noise(0.01, 0.55, "0"),
        TypeError,
        (
            "add_noise: key must be an int, a key from jax.random.key, or a raw uint32 key from "
            "jax.random.PRNGKey, got str '0'"
        ),
    ),
    (
        lambda: gradtx.adagrad("0.1"),
        TypeError,
        f"adagrad: learning_rate must be {CALLABLE_OF_THE_STEP}, got str '0.1'",
    ),
    (
        lambda: gradtx.amsgrad(None),
        TypeError,
        f"amsgrad: learning_rate must be {CALLABLE_OF_THE_STEP}, got NoneType None",
    ),
    (
        lambda: gradtx.amsbound([1e-3]),
        TypeError,
        f"amsbound: learning_rate must be {CALLABLE_OF_THE_STEP}, got list [0.001]",
    ),
    (
        lambda: gradtx.rmsprop("0.1"),
        TypeError,
        f"rmsprop: learning_rate must be {CALLABLE_OF_THE_STEP}, got str '0.1'",
    ),
    (
        lambda: gradtx.scale_by_learning_rate(True),
        TypeError,
        f"scale_by_learning_rate: learning_rate must be {CALLABLE_OF_THE_STEP}, got bool True",
    ),
    (
        lambda: gradtx.adamw(0.1, weight_decay="1e-4"),
        TypeError,
        f"adamw: weight_decay must be {CALLABLE_OF_THE_STEP}, got str '1e-4'",
    ),
    (
        lambda: gradtx.adadelta(weight_decay="0.1"),
        TypeError,
        f"adadelta: weight_decay must be {CALLABLE_OF_THE_STEP}, got str '0.1'",
    ),
    (
        lambda: gradtx.adadelta(rho=True),
        TypeError,
        "adadelta: rho must be a number or an array, got bool True",
    ),
    (
        lambda: gradtx.adabound(gamma="1e-3"),
        TypeError,
        "adabound: gamma must be a number or an array, got str '1e-3'",
    ),
    (
        lambda: gradtx.nadam(0.1, b1="0.9"),
        TypeError,
        "nadam: b1 must be a number or an array, got str '0.9'",
    ),
    (
        lambda: gradtx.swats(b2="0.999"),
        TypeError,
        "swats: b2 must be a number or an array, got str '0.999'",
    ),
    (
        lambda: gradtx.scale("0.1"),
        TypeError,
        "scale: step_size must be a number or an array, got str '0.1'",
    ),
    # Not a transformation where a wrapper expects one.
    (
        lambda: gradtx.check_finite(gradtx.adam),
        TypeError,
        f"check_finite: inner {NOT_TX}, got function adam; call it first, e.g. adam(...)",
    ),
    (
        lambda: gradtx.check_finite(None),
        TypeError,
        f"check_finite: inner {NOT_TX}, got NoneType None",
    ),
    (
        lambda: gradtx.masked(0.1, True),
        TypeError,
        f"masked: inner {NOT_TX}, got float 0.1",
    ),
    (
        lambda: gradtx.masked(gradtx.scale_by_adam, True),
        TypeError,
        (
            f"masked: inner {NOT_TX}, got function scale_by_adam; call it first, e.g. "
            "scale_by_adam(...)"
        ),
    ),
    # Configs that name nothing from_config can rebuild.
    (
        lambda: gradtx.from_config({"name": "adamz", "hyperparameters": {}}),
        ValueError,
        f"from_config: unknown optimizer 'adamz'; valid names: {CONFIG_NAMES}",
    ),
    (
        lambda: gradtx.from_config({"name": "sgd", "hyperparameters": {"lr": 0.1}}),
        ValueError,
        (
            "from_config: sgd's hyperparameters has unknown keys ['lr'] and lacks the required "
            "['learning_rate']; valid keys: ['learning_rate', 'momentum', 'nesterov']"
        ),
    ),
    (
        lambda: gradtx.from_config({"name": "sgd", "hyperparameters": [0.1]}),
        ValueError,
        "from_config: sgd's hyperparameters must be a dict, got list [0.1]",
    ),
    (
        lambda: gradtx.from_config(
            {"name": "sgd", "hyperparameters": {"learning_rate": 0.1}, "lr": 0.1}
        ),
        ValueError,
        "from_config: the config of sgd has unknown keys ['lr']; valid keys: ['hyperparameters', "
        "'name']",
    ),
    (
        lambda: gradtx.from_config({"hyperparameters": {}}),
        ValueError,
        (
            'from_config: a config is a dict {"name": ..., "hyperparameters": {...}} or that dict '
            "as a JSON string, got {'hyperparameters': {}}"
        ),
    ),
    (
        lambda: gradtx.from_config("{"),
        ValueError,
        (
            "from_config: the string is not JSON (Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)): '{'"
        ),
    ),
    # Trees that do not match.
    (
        lambda: gradtx.apply_updates({"w": jnp.ones(1)}, {"w": None}),
        ValueError,
        (
            "apply_updates: params and updates have different tree structures (params has a "
            "leaf at ['w'] that updates lacks). " + TREE_FIX
        ),
    ),
    (
        lambda: gradtx.apply_updates([jnp.ones(1)], (jnp.ones(1),)),
        ValueError,
        (
            "apply_updates: params and updates have different tree structures (same leaf paths but "
            "different containers: params is PyTreeDef([*]), updates is PyTreeDef((*,))). "
            + TREE_FIX
        ),
    ),
    (
        lambda: gradtx.adam(1e-3).update(PARAMS, None),
        ValueError,
        (
            "chain: the state must be a tuple of 2 states, one per link, got a NoneType: the "
            "arguments are update(updates, state, params), in that order"
        ),
    ),
    (
        lambda: gradtx.adam(1e-3).update(PARAMS, PARAMS),
        ValueError,
        (
            "chain: the state must be a tuple of 2 states, one per link, got a dict: the "
            "arguments are update(updates, state, params), in that order"
        ),
    ),
    (
        lambda: gradtx.adam(1e-3).update(PARAMS, ((), (), ())),
        ValueError,
        (
            "chain: the state must be a tuple of 2 states, one per link, got a tuple of 3. Was it "
            "made by this chain's `init`?"
        ),
    ),
    (
        lambda: gradtx.inject_hyperparams(gradtx.adam)(lr=1e-3),
        TypeError,
        (
            "inject_hyperparams(adam): unknown argument 'lr'; its arguments are ['learning_rate', "
            "'b1', 'b2', 'eps', 'eps_root', 'mu_dtype', 'nesterov']"
        ),
    ),
    (
        lambda: gradtx.adam(),
        TypeError,
        "adam: missing a required argument: 'learning_rate'",
    ),
    (
        lambda: gradtx.adamw(1e-3).update(PARAMS, gradtx.adamw(1e-3).init(PARAMS)),
        ValueError,
        (
            "add_decayed_weights: update needs the params to decay; call update(updates, state, "
            "params)"
        ),
    ),
    (
        lambda: gradtx.multi_transform({"a": gradtx.adam(1e-3)}, {"w": "b"}).init(PARAMS),
        ValueError,
        (
            "multi_transform: no transformation for label 'b' (given for ['w'] in param_labels); "
            "labels with a transformation: ['a']. Add 'b' to transforms_by_label or relabel."
        ),
    ),
    # Integer and boolean leaves.
    (
        lambda: update_once(
            gradtx.scale_by_adam(),  # a building block: an alias's init refuses them first
            {"w": jnp.ones(2), "step": jnp.asarray(3, jnp.int32)},
            {"w": jnp.ones(2), "step": jnp.asarray(3, jnp.int32)},
        ),
        TypeError,
        "scale_by_adam: updates leaf ['step'] has dtype int32; " + INT_FIX,
    ),
    (
        lambda: update_once(
            gradtx.sgd(0.1, momentum=0.9),
            [jnp.ones(2), {"on": jnp.asarray(True)}],
            [jnp.ones(2), {"on": jnp.asarray(True)}],
        ),
        TypeError,
        "init: params leaf [1]['on'] has dtype bool; " + INT_FIX,  # an alias's init refuses it
    ),
    (
        lambda: update_once(gradtx.adagrad(0.1), jnp.arange(3), jnp.arange(3)),
        TypeError,
        "init: params leaf <root> has dtype int64; " + INT_FIX,
    ),
    (
        lambda: update_once(gradtx.scale_by_rss(), jnp.arange(3), jnp.arange(3)),
        TypeError,
        "scale_by_rss: updates leaf <root> has dtype int64; " + INT_FIX,
    ),
    (
        lambda: gradtx.apply_updates({"n": jnp.asarray(1, jnp.int32)}, {"n": jnp.asarray(0.5)}),
        TypeError,
        "apply_updates: params leaf ['n'] has dtype int32; " + INT_FIX,
    ),
    # issue 13, loop
    (
        lambda: gradtx.lookahead(gradtx.sgd(0.1), 0, 0.5),
        ValueError,
        "lookahead: sync_period must be an int >= 1, got 0",
    ),
    (
        lambda: gradtx.lookahead(gradtx.sgd(0.1), 2, 1.5),
        ValueError,
        "lookahead: slow_step_size must be in [0, 1], got 1.5",
    ),
    (
        lambda: gradtx.optimistic_gradient_descent(0.1, alpha=-1.0),
        ValueError,
        "optimistic_gradient_descent: alpha must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_optimistic_gradient(beta=float("nan")),
        ValueError,
        "scale_by_optimistic_gradient: beta must be >= 0 and finite, got nan",
    ),
    (
        lambda: gradtx.reduce_on_plateau(factor=1.0),
        ValueError,
        "reduce_on_plateau: factor must be in (0, 1), got 1.0",
    ),
    (
        lambda: gradtx.reduce_on_plateau(rtol=0.0),
        ValueError,
        "reduce_on_plateau: rtol and atol are both 0, so no loss would count as an improvement; "
        "make one positive, e.g. rtol=1e-4",
    ),
    (
        lambda: gradtx.sam(gradtx.sgd(0.1), gradtx.sgd(0.1), sync_period=0),
        ValueError,
        "sam: sync_period must be an int >= 1, got 0",
    ),
    (
        lambda: gradtx.sam(gradtx.sgd(0.1), gradtx.sgd),
        TypeError,
        "sam: adv_optimizer must be a gradient transformation (an object with `init` and "
        "`update`), got function sgd; call it first, e.g. sgd(...)",
    ),
    # issue 13, adaptive-1: RAdam, AdaBelief, Yogi, ADOPT, NadamW, AdaMaxW and their scalers.
    (
        lambda: gradtx.scale_by_radam(threshold=3.0),
        ValueError,
        "scale_by_radam: threshold must be in [4, inf), got 3.0",
    ),
    (
        lambda: gradtx.scale_by_belief(eps_root=-1.0),
        ValueError,
        "scale_by_belief: eps_root must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_yogi(initial_accumulator_value=-1.0),
        ValueError,
        "scale_by_yogi: initial_accumulator_value must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_adopt(clip_value_fn=0.25),
        TypeError,
        "scale_by_adopt: clip_value_fn must be None or a function of the step, got float 0.25",
    ),
    (lambda: gradtx.radam(0.1, b2=1.0), ValueError, "radam: b2 must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.adabelief(0.1, eps=-1.0),
        ValueError,
        "adabelief: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.yogi(0.1, initial_mu=float("inf")),
        ValueError,
        "yogi: initial_mu must be finite, got inf",
    ),
    (lambda: gradtx.adopt(0.1, b1=1.0), ValueError, "adopt: b1 must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.nadamw(0.1, weight_decay=-1.0),
        ValueError,
        "nadamw: weight_decay must be >= 0 and finite, got -1.0",
    ),
    (lambda: gradtx.adamaxw(0.1, b2=1.5), ValueError, "adamaxw: b2 must be in [0, 1), got 1.5"),
    # lr-free (issue 13): Prodigy, D-Adapt AdamW, Muon.
    (
        lambda: gradtx.prodigy(betas=(0.9, 1.0)),
        ValueError,
        "prodigy: betas must be a pair (b1, b2) in [0, 1), got (0.9, 1.0)",
    ),
    (
        lambda: gradtx.dadapt_adamw(estim_lr0=0.0),
        ValueError,
        "dadapt_adamw: estim_lr0 must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.scale_by_prodigy(beta3=1.0),
        ValueError,
        "scale_by_prodigy: beta3 must be in [0, 1), got 1.0",
    ),
    (
        lambda: update_once(gradtx.scale_by_prodigy(), params=None),
        ValueError,
        "scale_by_prodigy: update needs the params (it measures the distance travelled and "
        "decays the weights); call update(updates, state, params)",
    ),
    (
        lambda: gradtx.scale_by_dadapt_adamw(weight_decay=-1.0),
        ValueError,
        "scale_by_dadapt_adamw: weight_decay must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.muon(0.1, ns_coeffs="polar"),
        ValueError,
        "muon: ns_coeffs must be one of ['dion', 'standard'], got 'polar'",
    ),
    (lambda: gradtx.muon(0.1, beta=1.0), ValueError, "muon: beta must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.scale_by_muon(preconditioning="newton"),
        ValueError,
        "scale_by_muon: preconditioning must be one of ('frobenius', 'spectral', 'aol', "
        "'schatten'), got 'newton'",
    ),
    (
        lambda: gradtx.scale_by_muon(ns_coeffs=(1.0, 2.0)),
        ValueError,
        "scale_by_muon: ns_coeffs must be (a, b, c) or one (a, b, c) per step, got (1.0, 2.0)",
    ),
    (  # ragged: NumPy's own error would not name the argument
        lambda: gradtx.muon(0.1, ns_coeffs=[(3.4, -4.7, 2.0), (1.0, 2.0)]),
        ValueError,
        "muon: ns_coeffs must be (a, b, c) or one (a, b, c) per step, got [(3.4, -4.7, 2.0), "
        "(1.0, 2.0)]",
    ),
    (
        lambda: gradtx.scale_by_muon(ns_coeffs=(3.4, float("nan"), 2.0)),
        ValueError,
        "scale_by_muon: ns_coeffs must be finite numbers, got (3.4, nan, 2.0)",
    ),
    (
        lambda: update_once(gradtx.scale_by_muon(), {"b": jnp.ones(3)}, {"b": jnp.ones(3)}),
        ValueError,
        "scale_by_muon: a leaf of shape (3,) is not a matrix; give its weight_dimension_numbers, "
        "or leave it to another transformation",
    ),
    (
        lambda: gradtx.scale_by_shape(consistent_rms=-0.2),
        ValueError,
        "scale_by_shape: consistent_rms must be >= 0 and finite, got -0.2",
    ),
    # issue 13, schedule-free
    (
        lambda: gradtx.schedule_free(gradtx.sgd(0.1), 0.1, b1=0.0),
        ValueError,
        "schedule_free: b1 must be in (0, 1], got 0.0",
    ),
    (
        lambda: gradtx.schedule_free(gradtx.sgd, 0.1),
        TypeError,
        "schedule_free: base_optimizer must be a gradient transformation (an object with `init` "
        "and `update`), got function sgd; call it first, e.g. sgd(...)",
    ),
    (
        lambda: gradtx.schedule_free_sgd(warmup_steps=0),
        ValueError,
        "schedule_free_sgd: warmup_steps must be an int >= 1, got 0",
    ),
    (
        lambda: gradtx.schedule_free_adamw(b1=1.5),
        ValueError,
        "schedule_free_adamw: b1 must be in (0, 1], got 1.5",
    ),
    (
        lambda: gradtx.polyak_sgd(eps=-1.0),
        ValueError,
        "polyak_sgd: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_polyak(variant="sps*"),
        ValueError,
        "scale_by_polyak: variant must be 'sps' or 'sps+', got 'sps*'",
    ),
    # issue 13, sign-trust
    (lambda: gradtx.lion(1e-3, b1=1.0), ValueError, "lion: b1 must be in [0, 1), got 1.0"),
    (lambda: gradtx.signum(1e-3, beta=1.5), ValueError, "signum: beta must be in [0, 1), got 1.5"),
    (
        lambda: gradtx.sign_sgd(-1.0),
        ValueError,
        "sign_sgd: learning_rate must be >= 0 and finite, got -1.0",
    ),
    (lambda: gradtx.rprop(0.0), ValueError, "rprop: learning_rate must be > 0 and finite, got 0.0"),
    (
        lambda: gradtx.lamb(1e-3, eps=-1.0),
        ValueError,
        "lamb: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.lars(0.1, trust_coefficient=-1.0),
        ValueError,
        "lars: trust_coefficient must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.fromage(-0.1),
        ValueError,
        "fromage: learning_rate must be >= 0 and finite, got -0.1",
    ),
    (
        lambda: gradtx.scale_by_lion(mode="soft"),
        ValueError,
        "scale_by_lion: mode must be one of ('hard', 'smooth', 'refined'), got 'soft'",
    ),
    (
        lambda: gradtx.scale_by_rprop(0.1, max_step_size=0.0),
        ValueError,
        "scale_by_rprop: max_step_size must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.scale_by_trust_ratio(min_norm=-1.0),
        ValueError,
        "scale_by_trust_ratio: min_norm must be >= 0 and finite, got -1.0",
    ),
    # Issue 13, memory: Adafactor, SM3 and their links.
    (
        lambda: gradtx.adafactor(clipping_threshold=0.0),
        ValueError,
        "adafactor: clipping_threshold must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.adafactor(min_dim_size_to_factor=1.5),
        ValueError,
        "adafactor: min_dim_size_to_factor must be an int >= 0, got 1.5",
    ),
    (lambda: gradtx.sm3(0.1, momentum=1.0), ValueError, "sm3: momentum must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.scale_by_factored_rms(epsilon=-1.0),
        ValueError,
        "scale_by_factored_rms: epsilon must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.clip_by_block_rms(0.0),
        ValueError,
        "clip_by_block_rms: threshold must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.scale_by_param_block_rms(-1.0),
        ValueError,
        "scale_by_param_block_rms: min_scale must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: update_once(gradtx.scale_by_param_block_rms(), params=None),
        ValueError,
        "scale_by_param_block_rms: needs params; call update(updates, state, params)",
    ),
    (lambda: gradtx.ema(1.0), ValueError, "ema: decay must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.scale_by_sm3(b2=1.5),
        ValueError,
        "scale_by_sm3: b2 must be in [0, 1], got 1.5",
    ),
    # adaptive-2 (issue 13): Adan, AdEMAMix, NovoGrad, MADGRAD.
    (lambda: gradtx.adan(1e-3, b3=1.0), ValueError, "adan: b3 must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.ademamix(1e-3, alpha=-1.0),
        ValueError,
        "ademamix: alpha must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.simplified_ademamix(1e-3, alpha=-1.0),
        ValueError,
        "simplified_ademamix: alpha must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_simplified_ademamix(b1=1.0),
        ValueError,
        "scale_by_simplified_ademamix: b1 must be in [0, 1), got 1.0",
    ),
    (
        lambda: gradtx.novograd(1e-3, weight_decay=-1.0),
        ValueError,
        "novograd: weight_decay must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.madgrad(1e-3, momentum=1.0),
        ValueError,
        "madgrad: momentum must be in [0, 1), got 1.0",
    ),
    (
        lambda: gradtx.scale_by_adan(eps_root=-1.0),
        ValueError,
        "scale_by_adan: eps_root must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_ademamix(b3=1.5),
        ValueError,
        "scale_by_ademamix: b3 must be in [0, 1), got 1.5",
    ),
    (
        lambda: update_once(gradtx.scale_by_novograd(weight_decay=0.1), params=None),
        ValueError,
        "scale_by_novograd: update needs the params for weight_decay; call "
        "update(updates, state, params)",
    ),
    (
        lambda: gradtx.scale_by_madgrad("fast"),
        TypeError,
        "scale_by_madgrad: learning_rate must be a number, an array or a schedule (a callable of "
        "the step count), got str 'fast'",
    ),
    (
        lambda: update_once(gradtx.scale_by_madgrad(0.1), params=None),
        ValueError,
        "scale_by_madgrad: update needs the params (it steps from x_0 to them); call "
        "update(updates, state, params)",
    ),
    (
        lambda: gradtx.average_params(start=0.5),
        ValueError,
        "average_params: start must be in [1, inf), got 0.5",
    ),
    (
        lambda: update_once(gradtx.average_params(), params=None),
        ValueError,
        "average_params: update needs the params to average; call update(updates, state, params)",
    ),
    (
        lambda: gradtx.averaged_params(gradtx.sgd(0.1).init(jnp.zeros(2))),
        ValueError,
        "averaged_params: the state must hold exactly one AverageParamsState, found 0 in a "
        "tuple; pass the state of a chain that ends in `average_params`",
    ),
    # FTRL-Proximal (the keras.Ftrl adapter's building block).
    (
        lambda: gradtx.ftrl(0.0),
        ValueError,
        "ftrl: learning_rate must be > 0 (it divides n_t^-p), got 0.0",
    ),
    (
        lambda: gradtx.ftrl(0.1, learning_rate_power=0.5),
        ValueError,
        "ftrl: learning_rate_power must be <= 0, got 0.5",
    ),
    (
        lambda: gradtx.ftrl(0.1, initial_accumulator_value=-1.0),
        ValueError,
        "ftrl: initial_accumulator_value must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.ftrl(0.1, l2_shrinkage=float("nan")),
        ValueError,
        "ftrl: l2_shrinkage must be >= 0 and finite, got nan",
    ),
    (
        lambda: update_once(gradtx.ftrl(0.1), params=None),
        ValueError,
        "ftrl: update needs the params (it returns the step to the new weights); call "
        "update(updates, state, params)",
    ),
    # issue 13, Optax first-order methods (E2)
    (
        lambda: gradtx.noisy_sgd(0.1, key="0"),
        TypeError,
        "noisy_sgd: key must be an int, a key from jax.random.key, or a raw uint32 key from "
        "jax.random.PRNGKey, got str '0'",
    ),
    (
        lambda: gradtx.noisy_sgd(0.1, eta=-1.0, key=0),
        ValueError,
        "noisy_sgd: eta must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.optimistic_adam(1e-3, optimism=-1.0),
        ValueError,
        "optimistic_adam: optimism must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.optimistic_adam_v2(1e-3, beta=-1.0),
        ValueError,
        "optimistic_adam_v2: beta must be >= 0 and finite, got -1.0",
    ),
    (lambda: gradtx.acprop(1e-3, b1=1.0), ValueError, "acprop: b1 must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.scale_by_acprop(eps_root=-1.0),
        ValueError,
        "scale_by_acprop: eps_root must be >= 0 and finite, got -1.0",
    ),
    (lambda: gradtx.cocob(alpha=0.0), ValueError, "cocob: alpha must be > 0 and finite, got 0.0"),
    (
        lambda: gradtx.scale_by_cocob(eps=0.0),
        ValueError,
        "scale_by_cocob: eps must be > 0 and finite, got 0.0",
    ),
    (
        lambda: update_once(gradtx.scale_by_cocob(), params=None),
        ValueError,
        "scale_by_cocob: update needs the params (the bet is made around the initial params); "
        "call update(updates, state, params)",
    ),
    (
        lambda: gradtx.dog(init_step=("lr", 1e-6)),
        ValueError,
        "dog: init_step must be a pair (tag, value) with tag 'distance', 'learning_rate' or "
        "'heuristic', got ('lr', 1e-06)",
    ),
    (
        lambda: gradtx.dog(init_step=1e-6),
        TypeError,
        "dog: init_step must be a pair (tag, value) with tag 'distance', 'learning_rate' or "
        "'heuristic', got float 1e-06",
    ),
    (
        lambda: gradtx.scale_by_dog(("distance", 0.0)),
        ValueError,
        "scale_by_dog: init_step must be a pair (tag, value) with value > 0, got ('distance', 0.0)",
    ),
    (
        lambda: gradtx.dowg(init_estim_sq_dist=0.0),
        ValueError,
        "dowg: init_estim_sq_dist must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.scale_by_dowg(eps=0.0),
        ValueError,
        "scale_by_dowg: eps must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.scale_by_dowg().update(PARAMS, gradtx.scale_by_dowg().init(PARAMS)),
        ValueError,
        "scale_by_dowg: update needs the params (it measures the distance travelled from the "
        "initial params); call update(updates, state, params)",
    ),
    (lambda: gradtx.momo(beta=1.0), ValueError, "momo: beta must be in [0, 1), got 1.0"),
    (
        lambda: gradtx.momo_adam(lower_bound=float("inf")),
        ValueError,
        "momo_adam: lower_bound must be finite, got inf",
    ),
    (
        lambda: gradtx.scale_by_momo(weight_decay=-1.0),
        ValueError,
        "scale_by_momo: weight_decay must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_by_momo_adam(b2=1.5),
        ValueError,
        "scale_by_momo_adam: b2 must be in [0, 1), got 1.5",
    ),
    (
        lambda: update_once(gradtx.momo()),
        ValueError,
        "scale_by_momo: update needs the loss; call update(updates, state, params, value=loss) "
        "with the loss from jax.value_and_grad",
    ),
    (
        lambda: gradtx.mechanize(gradtx.adam, num_betas=6),
        TypeError,
        "mechanize: base_optimizer must be a gradient transformation (an object with `init` and "
        "`update`), got function adam; call it first, e.g. adam(...)",
    ),
    (
        lambda: gradtx.mechanize(gradtx.adam(1.0), num_betas=0),
        ValueError,
        "mechanize: num_betas must be an int >= 1, got 0",
    ),
    (
        lambda: gradtx.mechanize(gradtx.adam(1.0), s_init=0.0),
        ValueError,
        "mechanize: s_init must be > 0 and finite, got 0.0",
    ),
    (
        lambda: update_once(gradtx.mechanize(gradtx.adam(1.0)), params=None),
        ValueError,
        "mechanize: update needs the params (the steps are summed from the first params); call "
        "update(updates, state, params)",
    ),
    # Optax's small utilities (issue 17, item 4).
    (lambda: gradtx.apply_every(0), ValueError, "apply_every: k must be an int >= 1, got 0"),
    (lambda: gradtx.apply_every(2.0), ValueError, "apply_every: k must be an int >= 1, got 2.0"),
    (
        lambda: update_once(gradtx.apply_every(2), grads={"w": jnp.ones(2, jnp.int32)}),
        TypeError,
        f"apply_every: updates leaf ['w'] has dtype int32; {INT_FIX}",
    ),
    (
        lambda: update_once(gradtx.zero_nans(), grads={"w": jnp.ones(2, jnp.int32)}),
        TypeError,
        f"zero_nans: updates leaf ['w'] has dtype int32; {INT_FIX}",
    ),
    (
        lambda: gradtx.MultiSteps(gradtx.adam, 2),
        TypeError,
        f"MultiSteps: opt {NOT_TX}, got function adam; call it first, e.g. adam(...)",
    ),
    (
        lambda: gradtx.MultiSteps(gradtx.adam(0.1), 0),
        ValueError,
        "MultiSteps: every_k_schedule must be an int >= 1, got 0",
    ),
    (
        lambda: gradtx.MultiSteps(gradtx.adam(0.1), 2, use_grad_mean="yes"),
        TypeError,
        "MultiSteps: use_grad_mean must be a bool, got str 'yes'",
    ),
    (
        lambda: gradtx.MultiSteps(gradtx.adam(0.1), 2, should_skip_update_fn=True),
        TypeError,
        "MultiSteps: should_skip_update_fn must be None or a function (updates, gradient_step, "
        "params) -> (skip, skip_state), got bool True",
    ),
    (
        lambda: gradtx.MultiSteps(gradtx.adam(0.1), 2, accumulator_dtype="int32"),
        TypeError,
        "MultiSteps: accumulator_dtype must be a floating-point dtype, got str 'int32'",
    ),
    (
        lambda: update_once(
            gradtx.MultiSteps(gradtx.adam(0.1), 2, should_skip_update_fn=lambda u, s, p: (s, ()))
        ),
        ValueError,
        "MultiSteps: should_skip_update_fn must return a bool scalar array first, got dtype "
        "int32 and shape ()",
    ),
    (
        lambda: update_once(gradtx.MultiSteps(gradtx.adam(0.1), 2), grads={"w": jnp.ones(3)}),
        ValueError,
        "MultiSteps: updates leaf ['w'] has shape (3,) but acc_grads has shape (2,). " + TREE_FIX,
    ),
    (
        lambda: gradtx.tree_utils.tree_norm(PARAMS, ord=3),
        ValueError,
        "tree_norm: ord must be None, 1, 2, inf, 'inf' or 'infinity', got 3",
    ),
    (
        lambda: update_once(gradtx.keep_params_nonnegative(), params=None),
        ValueError,
        "keep_params_nonnegative: update needs the params to keep them >= 0; call "
        "update(updates, state, params)",
    ),
    (
        lambda: update_once(gradtx.centralize(), grads={"w": jnp.ones((2, 2), jnp.int32)}),
        TypeError,
        f"centralize: updates leaf ['w'] has dtype int32; {INT_FIX}",
    ),
    (
        lambda: gradtx.normalize_by_update_norm(0.0),
        ValueError,
        "normalize_by_update_norm: scale_factor must be non-zero (it divides the norm), got 0.0; "
        "use set_to_zero() for zero updates",
    ),
    (
        lambda: gradtx.normalize_by_update_norm(eps=-1.0),
        ValueError,
        "normalize_by_update_norm: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.adaptive_grad_clip(0.0),
        ValueError,
        "adaptive_grad_clip: clipping must be > 0 and finite, got 0.0",
    ),
    (
        lambda: gradtx.adaptive_grad_clip(0.1, eps=float("nan")),
        ValueError,
        "adaptive_grad_clip: eps must be >= 0 and finite, got nan",
    ),
    (
        lambda: update_once(gradtx.adaptive_grad_clip(0.1), params=None),
        ValueError,
        "adaptive_grad_clip: update needs the params (it clips relative to their norm); call "
        "update(updates, state, params)",
    ),
    (
        lambda: gradtx.conditionally_transform(gradtx.adam(0.1), 3),
        TypeError,
        "conditionally_transform: should_transform_fn must be a function of the step count, "
        "got int 3",
    ),
    (
        lambda: gradtx.conditionally_mask(gradtx.adam, lambda step: True),
        TypeError,
        f"conditionally_mask: inner {NOT_TX}, got function adam; call it first, e.g. adam(...)",
    ),
    (
        lambda: gradtx.conditionally_mask(gradtx.adam(0.1), lambda step: True, "yes"),
        TypeError,
        "conditionally_mask: forward_extra_args must be a bool, got str 'yes'",
    ),
    (
        lambda: gradtx.named_chain(gradtx.sgd(0.1)),
        TypeError,
        "named_chain: argument 0 must be a (name, transformation) pair, got GradientTransformation",
    ),
    (
        lambda: gradtx.named_chain(("sgd", gradtx.sgd)),
        TypeError,
        f"named_chain: argument 0 ('sgd') {NOT_TX}, got function sgd; call it first, e.g. sgd(...)",
    ),
    (
        lambda: gradtx.scale_by_stddev(eps=-1.0),
        ValueError,
        "scale_by_stddev: eps must be >= 0 and finite, got -1.0",
    ),
    (
        lambda: gradtx.scale_gradient(PARAMS, float("inf")),
        ValueError,
        "scale_gradient: scale must be finite, got inf",
    ),
]


@pytest.mark.parametrize("make,error,message", BAD_INPUTS, ids=[m[:60] for _, _, m in BAD_INPUTS])
def test_bad_input_raises_its_exact_message(make, error, message):
    with pytest.raises(error, match=exactly(message)):
        make()


# Bad inputs that once passed silently or failed unclearly, each with the message the library
# now gives (fixed by the issues "Nothing lost, nothing silent" and "The house before the next
# chapter"); the comments say what happened before.
NEEDS_A_LIBRARY_FIX = [
    # A bool is not a number: momentum=True would silently mean momentum 1.0.
    (
        lambda: gradtx.sgd(0.1, momentum=True),
        TypeError,
        "sgd: momentum must be a number or an array, got bool True",
    ),
    (
        lambda: gradtx.adam(1e-3, b1="0.9"),
        TypeError,
        "adam: b1 must be a number or an array, got str '0.9'",
    ),
    # Not a transformation: before, an AttributeError at `init`.
    (
        lambda: gradtx.chain(gradtx.adam(1e-3), 0.1),
        TypeError,
        f"chain: link 1 {NOT_TX}, got float 0.1",
    ),
    (
        lambda: gradtx.chain(gradtx.adam),
        TypeError,
        f"chain: link 0 {NOT_TX}, got function adam; call it first, e.g. adam(...)",
    ),
    (
        lambda: gradtx.bound_lr(0.1),
        TypeError,
        f"bound_lr: step_size {NOT_TX}, got float 0.1",
    ),
    # Another optimizer's state: before, "'TraceState' object has no attribute 'mu'".
    (
        lambda: gradtx.adam(1e-3).update(PARAMS, gradtx.sgd(0.1, momentum=0.9).init(PARAMS)),
        ValueError,
        (
            "scale_by_adam: the state must be a ScaleByAdamState, got a TraceState. Was it made "
            "by this optimizer's `init`?"
        ),
    ),
    # Shapes: before, a broadcasting error without a path, or (1,) against (3,) broadcast silently.
    (
        lambda: update_once(gradtx.adam(1e-3), {"w": jnp.ones(3)}),
        ValueError,
        "scale_by_adam: updates leaf ['w'] has shape (3,) but mu has shape (2,). " + TREE_FIX,
    ),
    (
        lambda: gradtx.adam(1e-3).update(
            {"w": jnp.ones(3)}, gradtx.adam(1e-3).init({"w": jnp.ones(1)})
        ),
        ValueError,
        "scale_by_adam: updates leaf ['w'] has shape (3,) but mu has shape (1,). " + TREE_FIX,
    ),
    (
        lambda: gradtx.apply_updates({"w": jnp.ones(1)}, {"w": jnp.ones(3)}),
        ValueError,
        "apply_updates: params leaf ['w'] has shape (1,) but updates has shape (3,)",
    ),
    # A mask that is not a tree of bools: before, any value was read by its truth, so a string (a
    # key name, say) or a number freezes or masks in every leaf silently.
    (
        lambda: update_once(gradtx.freeze("w")),
        TypeError,
        f"freeze: mask {MASK}, got str 'w'",
    ),
    (
        lambda: update_once(gradtx.freeze(0.5)),
        TypeError,
        f"freeze: mask {MASK}, got float 0.5",
    ),
    (
        lambda: update_once(gradtx.masked(gradtx.scale_by_adam(), "w")),
        TypeError,
        f"masked: mask {MASK}, got str 'w'",
    ),
    (
        lambda: update_once(gradtx.adamw(0.1, mask=3)),
        TypeError,
        f"adamw: mask {MASK}, got int 3",
    ),
    # A mask tree that is not a prefix of the params: before, JAX's "pytree structure error" at
    # `init`, naming neither the function nor the argument.
    (
        lambda: gradtx.freeze({"v": True}).init(PARAMS),
        ValueError,
        (
            "freeze: the mask must have the params' tree structure or a prefix of it; mask is "
            "PyTreeDef({'v': *}), params are PyTreeDef({'w': *})"
        ),
    ),
    (
        lambda: gradtx.masked(gradtx.scale_by_adam(), {"v": True}).init(PARAMS),
        ValueError,
        (
            "masked: the mask must have the params' tree structure or a prefix of it; mask is "
            "PyTreeDef({'v': *}), params are PyTreeDef({'w': *})"
        ),
    ),
    # scale's step size: before, a list was accepted (and broadcast), None failed at `update` with
    # "None is not a valid value for jnp.array".
    (
        lambda: update_once(gradtx.scale([0.1])),
        TypeError,
        "scale: step_size must be a number or an array, got list [0.1]",
    ),
    (
        lambda: update_once(gradtx.scale(None)),
        TypeError,
        "scale: step_size must be a number or an array, got NoneType None",
    ),
    # mu_dtype: before, NumPy's "data type 'float77' not understood" at `init`, or, for an integer
    # dtype, scale_by_adam's message about integer params.
    (
        lambda: update_once(gradtx.nadam(0.1, mu_dtype="float77")),
        TypeError,
        "nadam: mu_dtype must be a floating-point dtype, got str 'float77'",
    ),
    (
        lambda: update_once(gradtx.nadam(0.1, mu_dtype="int32")),
        TypeError,
        "nadam: mu_dtype must be a floating-point dtype, got str 'int32'",
    ),
]


@pytest.mark.parametrize(
    "make,error,message",
    [pytest.param(*row, id=row[2][:60]) for row in NEEDS_A_LIBRARY_FIX],
)
def test_bad_input_that_needs_a_library_fix_raises_its_exact_message(make, error, message):
    with pytest.raises(error, match=exactly(message)):
        make()


# Required arguments of the public functions swept below, to build each one.
REQUIRED_ARGUMENTS = {
    "learning_rate": 0.1,
    "decay": 0.9,
    "opt": gradtx.sgd(0.1),
    "every_k_schedule": 2,
    "base_optimizer": gradtx.sgd(0.1),
    "factory": gradtx.adam,
}


def _built(function, **arguments):
    """`function(**arguments)`, its other required arguments from REQUIRED_ARGUMENTS."""
    parameters = inspect.signature(function).parameters
    required = {
        name: REQUIRED_ARGUMENTS[name]
        for name, spec in parameters.items()
        if spec.default is inspect.Parameter.empty and spec.kind is spec.POSITIONAL_OR_KEYWORD
    }
    return function(**{**required, **arguments})


WRAPPED_ADAM = {
    "inject_hyperparams": lambda: gradtx.inject_hyperparams(gradtx.adam)(learning_rate=0.1),
    "MultiSteps": lambda: gradtx.MultiSteps(gradtx.adam(0.1), 2),
    "apply_if_finite": lambda: gradtx.apply_if_finite(gradtx.adam(0.1), 2),
    "masked": lambda: gradtx.masked(gradtx.adam(0.1), {"w": True}),
    "multi_transform": lambda: gradtx.multi_transform({"a": gradtx.adam(0.1)}, {"w": "a"}),
    "conditionally_transform": lambda: gradtx.conditionally_transform(
        gradtx.adam(0.1), lambda step: step > 0
    ),
    "conditionally_mask": lambda: gradtx.conditionally_mask(
        gradtx.adam(0.1), lambda step: step > 0
    ),
    "schedule_free": lambda: gradtx.schedule_free(gradtx.adam(0.1), 0.1),
}
# named_chain's state is a dict keyed by link name: a dict of params is refused by its keys.
STATE_IS_A_DICT = {"named_chain"}
WRONG_ORDER = [
    *[
        pytest.param(lambda n=n: _built(getattr(gradtx, n)), id=n)
        for n in sorted(_registry.ALIASES)
    ],
    *[pytest.param(make, id=name) for name, make in WRAPPED_ADAM.items()],
    *[
        pytest.param(make, id=name)
        for name, make in TRANSFORMATIONS.items()
        if name not in STATE_IS_A_DICT
    ],
]


@pytest.mark.parametrize("make", WRONG_ORDER)
def test_update_with_the_state_first_says_the_argument_order(make):
    """`tx.update(state, grads, params)`: before, "'dict' object has no attribute 'count'" (or
    'hyperparams', 'gradient_step', 'weight_sum') from the aliases and wrappers that are not
    chains; 64 of the 76 transformations failed deep in their rule, and the stateless ones
    (scale, clip, identity, ...) returned the state as the updates, without an error."""
    tx = make()
    state = tx.init(PARAMS)
    order = "the arguments are update(updates, state, params), in that order"
    with pytest.raises(
        ValueError, match=r"^\w+: the state must be .*, got a dict: " + re.escape(order)
    ):
        tx.update(state, PARAMS, PARAMS)


def _dtype_arguments():
    """(public name, argument) for every `*_dtype` argument of gradtx's public callables."""
    for name in sorted(n for n in dir(gradtx) if not n.startswith("_")):
        try:
            parameters = inspect.signature(getattr(gradtx, name)).parameters
        except (TypeError, ValueError):
            continue
        yield from ((name, p) for p in parameters if p.endswith("_dtype"))


DTYPE_ARGUMENTS = list(_dtype_arguments())


def test_the_dtype_sweep_reaches_the_state_dtypes():
    expected = {
        ("adam", "mu_dtype"),
        ("scale_by_adam", "nu_dtype"),
        ("trace", "accumulator_dtype"),
        ("MultiSteps", "accumulator_dtype"),
        ("schedule_free", "state_dtype"),
        ("inject_hyperparams", "hyperparam_dtype"),
    }
    assert expected <= set(DTYPE_ARGUMENTS)
    assert len(DTYPE_ARGUMENTS) >= 26


@pytest.mark.parametrize("name, argument", DTYPE_ARGUMENTS)
def test_an_integer_state_dtype_fails_when_built(name, argument):
    """`adam(mu_dtype=jnp.int8)` stored m_t in int8 (or failed later, in `update`); every
    `*_dtype` argument is checked when the transformation is built, with the dtype named."""
    message = f"{name}: {argument} must be a floating-point dtype, got dtype int8"
    with pytest.raises(TypeError, match=exactly(message)):
        _built(getattr(gradtx, name), **{argument: jnp.int8})


# Empty trees are valid.
@pytest.mark.parametrize("empty", [{}, [], ()], ids=["dict", "list", "tuple"])
@pytest.mark.parametrize("name", ALL)
def test_empty_params_give_empty_updates(name, empty):
    tx = ALL[name]()
    state = tx.init(empty)
    for _ in range(2):
        updates, state = tx.update(empty, state, empty)
        assert updates == empty
    assert gradtx.apply_updates(empty, updates) == empty


# Checkpoints that do not fit their template. Plain dict states keep the paths independent of
# any one optimizer's state layout.
SAVED = {
    "count": jnp.asarray(3, jnp.int32),
    "mu": {"b": jnp.ones(2, jnp.bfloat16), "w": jnp.ones(3)},
}
FIX = (
    "Was the template made by `init` of the optimizer that saved the state, on params of the "
    "same structure, shapes and dtypes?"
)
CHECKPOINT_MISMATCHES = [
    (
        {**SAVED, "mu": {**SAVED["mu"], "w": jnp.ones(4)}},
        "['mu']['w'] has shape (3,) in the file but (4,) in the template",
    ),
    (
        {**SAVED, "mu": {**SAVED["mu"], "b": jnp.ones(2, jnp.float32)}},
        "['mu']['b'] is bfloat16 in the file but float32 in the template",
    ),
    (
        {**SAVED, "count": jnp.asarray(3, jnp.int64)},
        "['count'] is int32 in the file but int64 in the template",
    ),
    (
        {**SAVED, "mu": {**SAVED["mu"], "v": jnp.ones(1)}},
        "the template has a leaf at ['mu']['v'] that the file lacks",
    ),
    (
        {"count": SAVED["count"], "mu": {"w": jnp.ones(3)}},
        "the file has a leaf at ['mu']['b'] that the template lacks",
    ),
    (
        {"count": SAVED["count"], "trace": {"b": jnp.ones(2), "w": jnp.ones(3)}},
        "first differing path: the file has ['mu']['b'] where the template has ['trace']['b']",
    ),
    (
        {**SAVED, "mu": [SAVED["mu"]["b"], SAVED["mu"]["w"]]},
        "first differing path: the file has ['mu']['b'] where the template has ['mu'][0]",
    ),
]


@pytest.mark.parametrize("template,problem", CHECKPOINT_MISMATCHES)
def test_restoring_into_a_template_that_differs_names_the_first_differing_path(
    template, problem, tmp_path
):
    gradtx.save_state(tmp_path / "s.npz", SAVED)
    message = (
        f"load_state: the state in {tmp_path / 's.npz'} does not fit the template ({problem}). "
    )
    message += FIX
    with pytest.raises(ValueError, match=exactly(message)):
        gradtx.load_state(tmp_path / "s.npz", like=template)


def test_restoring_into_the_same_leaves_in_other_containers_says_so(tmp_path):
    gradtx.save_state(tmp_path / "s.npz", {"mu": [jnp.ones(2)]})
    problem = (
        "same leaves but different containers: the file has PyTreeDef({'mu': [*]}), the "
        "template PyTreeDef({'mu': (*,)})"
    )
    message = (
        f"load_state: the state in {tmp_path / 's.npz'} does not fit the template ({problem}). "
    )
    message += FIX
    with pytest.raises(ValueError, match=exactly(message)):
        gradtx.load_state(tmp_path / "s.npz", like={"mu": (jnp.ones(2),)})


def test_restoring_another_optimizers_state_is_refused(tmp_path):
    gradtx.save_state(tmp_path / "s.npz", gradtx.adam(1e-3).init(PARAMS))
    with pytest.raises(
        ValueError, match=r"^load_state: the state in .* does not fit the template \("
    ):
        gradtx.load_state(tmp_path / "s.npz", like=gradtx.sgd(0.1, momentum=0.9).init(PARAMS))


def test_loading_a_file_not_written_by_save_state_is_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    message = (
        f"load_state: {tmp_path / 'plain.npz'} is not a gradtx state file (it has no "
        "'__gradtx_structure__' entry); write it with gradtx.save_state"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        gradtx.load_state(tmp_path / "plain.npz", like={"a": jnp.ones(2)})


def test_loading_never_unpickles(tmp_path):
    descriptor = {
        "format": "gradtx.state/1",
        "treedef": "PyTreeDef({'a': *})",
        "leaves": [["['a']", "float64", [2]]],
    }
    np.savez(
        tmp_path / "evil.npz",
        **{
            "['a']": np.asarray([{"x": 1}, None], dtype=object),
            "__gradtx_structure__": np.asarray(json.dumps(descriptor)),
        },
    )
    with pytest.raises(ValueError, match="Object arrays cannot be loaded when allow_pickle=False"):
        gradtx.load_state(tmp_path / "evil.npz", like={"a": jnp.ones(2)})


@pytest.mark.parametrize(
    "state,message",
    [
        (
            {"f": len},
            (
                "save_state: the leaf at ['f'] is a builtin_function_or_method, not an array; an "
                "optimizer state must be a pytree of arrays"
            ),
        ),
        (
            {"name": "adam"},
            (
                "save_state: the leaf at ['name'] is a str, not an array; an optimizer state must "
                "be a pytree of arrays"
            ),
        ),
    ],
)
def test_saving_a_leaf_that_is_not_an_array_is_refused(state, message, tmp_path):
    with pytest.raises(TypeError, match=exactly(message)):
        gradtx.save_state(tmp_path / "s.npz", state)
    assert list(tmp_path.iterdir()) == []


# Non-finite gradients. No transformation raises on them: NaN in, NaN out, by design.
NAN_GRADS = {"w": jnp.asarray([1.0, jnp.nan]), "b": jnp.asarray([0.5])}
FINITE = {"w": jnp.asarray([0.5, -1.0]), "b": jnp.asarray([2.0])}


@pytest.mark.parametrize("name", ALL)
def test_a_nan_gradient_never_raises_and_is_never_turned_into_a_finite_update_silently(name):
    """Either the NaN reaches the update of its leaf, or the step is visibly neutralized (every
    update exactly zero: `apply_if_finite`, `accumulate` between steps, `set_to_zero`), or the
    repair is visible in the state, which names the leaf that held the NaN
    (`registry.REPAIRS_NANS`: `zero_nans`)."""
    tx = ALL[name]()
    updates, state = tx.update(NAN_GRADS, tx.init(FINITE), FINITE)
    if bool(jnp.all(jnp.isfinite(updates["w"]))):
        if name in REPAIRS_NANS:
            found = jax.tree.map(bool, REPAIRS_NANS[name](state))
            assert found == {"w": True, "b": False}, found
            return
        assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(updates)), updates


def test_a_nan_gradient_enters_adams_state_for_good():
    """Documented behaviour: the moments become NaN and every later update is NaN."""
    tx = gradtx.adam(0.1)
    _, state = tx.update(NAN_GRADS, tx.init(FINITE), FINITE)
    assert bool(jnp.isnan(state[0].mu["w"][1])) and bool(jnp.isnan(state[0].nu["w"][1]))
    assert bool(jnp.all(jnp.isfinite(state[0].mu["b"])))  # other leaves are untouched
    updates, _ = tx.update(FINITE, state, FINITE)
    assert bool(jnp.isnan(updates["w"][1]))


def test_apply_if_finite_skips_the_step_and_corrupts_nothing():
    tx = gradtx.apply_if_finite(gradtx.adam(0.1), max_consecutive_errors=3)
    state = tx.init(FINITE)
    _, state = tx.update(FINITE, state, FINITE)
    skipped, after = tx.update(NAN_GRADS, state, FINITE)
    assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(skipped))
    jax.tree.map(np.testing.assert_array_equal, after.inner_state, state.inner_state)
    assert int(after.total_notfinite) == 1 and not bool(after.last_finite)
    # The next finite step is the step the optimizer would have taken without the NaN one.
    resumed, _ = tx.update(FINITE, after, FINITE)
    expected, _ = tx.update(FINITE, state, FINITE)
    jax.tree.map(np.testing.assert_array_equal, resumed, expected)


# check_finite: where the first NaN or Inf comes from.
LAYERS = {"layers": [{"w": jnp.ones(2)}, {"w": jnp.ones(3)}], "out": jnp.ones(1)}


def with_bad_value(value, layer=0, index=1):
    grads = jax.tree.map(jnp.ones_like, LAYERS)
    grads["layers"][layer]["w"] = grads["layers"][layer]["w"].at[index].set(value)
    return grads


def test_check_finite_raises_eagerly_with_the_path_of_the_first_non_finite_gradient():
    tx = gradtx.check_finite(gradtx.adam(1e-3))
    message = "check_finite: non-finite gradient at ['layers'][0]['w'] (nan) (`check` failed)"
    with pytest.raises(checkify.JaxRuntimeError, match=exactly(message)):
        tx.update(with_bad_value(jnp.nan), tx.init(LAYERS))


@pytest.mark.parametrize(
    "value,layer,text",
    [(jnp.nan, 0, "['layers'][0]['w'] (nan)"), (-jnp.inf, 1, "['layers'][1]['w'] (-inf)")],
)
def test_check_finite_reports_under_checkify_and_jit(value, layer, text):
    tx = gradtx.check_finite(gradtx.adam(1e-3))
    state = tx.init(LAYERS)
    for step in (checkify.checkify(jax.jit(tx.update)), jax.jit(checkify.checkify(tx.update))):
        error, _ = step(with_bad_value(value, layer), state)
        assert error.get() == f"check_finite: non-finite gradient at {text} (`check` failed)"


def test_check_finite_reports_a_non_finite_update_from_finite_gradients():
    """A float16 step past 65504: 16 * 1e4 overflows inside `inner`."""
    inner = gradtx.scale(1e4)
    tx, grads = gradtx.check_finite(inner), {"w": jnp.asarray([16.0, 0.5], jnp.float16)}
    error, _ = checkify.checkify(jax.jit(tx.update))(grads, tx.init(grads))
    assert (
        error.get()
        == "check_finite: non-finite update at ['w'] (inf) from finite gradients (`check` failed)"
    )


def test_check_finite_changes_nothing_when_all_is_finite():
    inner = gradtx.adam(1e-3)
    tx, grads = gradtx.check_finite(inner), with_bad_value(0.5)
    error, (updates, state) = checkify.checkify(jax.jit(tx.update))(grads, tx.init(LAYERS))
    assert error.get() is None
    expected = inner.update(grads, inner.init(LAYERS))
    jax.tree.map(np.testing.assert_array_equal, (updates, state), expected)


def test_check_finite_under_jit_without_checkify_is_refused_by_jax():
    tx = gradtx.check_finite(gradtx.sgd(0.1))
    with pytest.raises(
        ValueError, match="Cannot abstractly evaluate a checkify.check which was not functionalized"
    ):
        jax.jit(tx.update)(LAYERS, tx.init(LAYERS))


@pytest.mark.parametrize(
    "where, make",
    [
        ("reduce_on_plateau", lambda: gradtx.chain(gradtx.sgd(1.0), gradtx.reduce_on_plateau())),
        ("scale_by_polyak", gradtx.polyak_sgd),
        ("scale_by_momo", gradtx.momo),
        ("scale_by_momo_adam", gradtx.momo_adam),
    ],
)
def test_a_loss_that_is_not_a_scalar_is_refused(where, make):
    """Per-example losses passed as `value=` (the mean forgotten): reduce_on_plateau scaled
    each coordinate by its own schedule, silently (Optax's fails on a cond's output types)."""
    tx = make()
    with pytest.raises(
        ValueError, match=rf"^{where}: value \(the loss\) must be a scalar, got an array of shape"
    ):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS, value=jnp.ones(3))


def _switches():
    """(alias, argument) for every option of a registered alias typed bool (a mask that defaults
    to True, as lars' trust_ratio_mask, also takes a tree or a function)."""
    for name in sorted(_registry.ALIASES):
        for argument, spec in inspect.signature(getattr(gradtx, name)).parameters.items():
            if isinstance(spec.default, bool) and spec.annotation in (bool, "bool"):
                yield name, argument


SWITCHES = list(_switches())


def test_the_switch_sweep_reaches_the_aliases_options():
    assert {("adam", "nesterov"), ("rmsprop", "centered"), ("sgd", "nesterov")} <= set(SWITCHES)


@pytest.mark.parametrize("name, argument", SWITCHES)
def test_a_switch_refuses_anything_but_a_bool(name, argument):
    """`adam(0.1, nesterov="false")` ran Nesterov: any truthy value switched an option on."""
    with pytest.raises(
        TypeError, match=rf"^{name}: {argument} must be True or False, got str 'false'$"
    ):
        _built(getattr(gradtx, name), **{argument: "false"})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gradtx.adam(np.float32(-1)), r"adam: learning_rate must be >= 0 and finite"),
        (lambda: gradtx.adam(0.1, b1=np.float32(1.5)), r"adam: b1 must be in \[0, 1\)"),
        (lambda: gradtx.adam(0.1, b2=np.float32("nan")), r"adam: b2 must be in \[0, 1\)"),
        (lambda: gradtx.adam(np.int64(-1)), r"adam: learning_rate must be >= 0 and finite"),
        (lambda: gradtx.adam(jnp.asarray(-1.0)), r"adam: learning_rate must be >= 0 and finite"),
        (
            lambda: gradtx.adam(jnp.asarray([1e-3, -1.0])),
            r"adam: learning_rate must be >= 0 and finite",
        ),
        (
            lambda: gradtx.clip_by_global_norm(np.float32(-1)),
            r"clip_by_global_norm: max_norm must be > 0 and finite",
        ),
    ],
)
def test_numpy_scalars_and_concrete_arrays_are_checked_like_numbers(make, message):
    """`np.float32(-1)` is not a Python float: it passed every check and Adam ascended."""
    with pytest.raises(ValueError, match="^" + message + ", got "):
        make()


def test_traced_hyperparameters_are_not_checked():
    jax.jit(lambda lr: gradtx.adam(lr).init(PARAMS))(-1.0)
