"""Tests of gradtx/_config.py: every alias and schedule through JSON and back, bit for bit."""

import inspect
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradtx
from gradtx import _config, _registry, _schedules
from gradtx._config import ALIASES, from_config, register_alias, to_config
from gradtx._wrappers.hyperparams import inject_hyperparams
from tests import helpers

# One of each schedule type, with non-default arguments; join_schedules nests another join.
SCHEDULES = {
    "constant_schedule": gradtx.constant_schedule(0.01),
    "exponential_decay": gradtx.exponential_decay(0.02, 3, 0.5, 2, staircase=True, end_value=1e-3),
    "piecewise_constant_schedule": gradtx.piecewise_constant_schedule(0.02, {3: 0.5, 6: 0.1}),
    "inverse_time_decay": gradtx.inverse_time_decay(0.02, 4, 1.0, staircase=True),
    "polynomial_schedule": gradtx.polynomial_schedule(0.02, 1e-3, 2.0, 8, transition_begin=1),
    "linear_schedule": gradtx.linear_schedule(0.0, 0.02, transition_steps=5),
    "cosine_decay_schedule": gradtx.cosine_decay_schedule(0.02, 8, alpha=0.1, exponent=2.0),
    "cosine_warmup_schedule": gradtx.cosine_warmup_schedule(0.0, 0.02, warmup_steps=4),
    "warmup_cosine_decay_schedule": gradtx.warmup_cosine_decay_schedule(
        0.0, 0.02, warmup_steps=3, decay_steps=9, end_value=1e-3, exponent=1.5
    ),
    "join_schedules": gradtx.join_schedules(
        [
            gradtx.linear_schedule(0.0, 0.02, 3),
            gradtx.join_schedules(
                [gradtx.cosine_decay_schedule(0.02, 4), gradtx.constant_schedule(2e-3)], [4]
            ),
        ],
        [3],
    ),
    # issue 13, loop
    "piecewise_interpolate_schedule": gradtx.piecewise_interpolate_schedule(
        "cosine", 0.01, {2: 2.0, 6: 0.1}
    ),
    "linear_onecycle_schedule": gradtx.linear_onecycle_schedule(10, 0.02, 0.2, 0.7, 10.0, 100.0),
    "cosine_onecycle_schedule": gradtx.cosine_onecycle_schedule(10, 0.02, 0.4, 5.0, 50.0),
    "warmup_constant_schedule": gradtx.warmup_constant_schedule(0.0, 0.02, 3),
    "warmup_exponential_decay_schedule": gradtx.warmup_exponential_decay_schedule(
        0.0, 0.02, 2, 3, 0.5, 1, True, 1e-3
    ),
    "sgdr_schedule": gradtx.sgdr_schedule(
        [
            dict(init_value=0.0, peak_value=0.02, warmup_steps=1, decay_steps=4),
            dict(init_value=0.01, peak_value=0.01, warmup_steps=0, decay_steps=5, end_value=1e-3),
        ]
    ),
}

# Every alias with non-default values, a schedule learning rate among them.
SETTINGS = {
    "sgd": dict(
        learning_rate=SCHEDULES["piecewise_constant_schedule"], momentum=0.8, nesterov=True
    ),
    "adagrad": dict(
        learning_rate=SCHEDULES["exponential_decay"], initial_accumulator_value=0.5, eps=1e-6
    ),
    "adadelta": dict(rho=0.8, eps=1e-5, weight_decay=SCHEDULES["inverse_time_decay"]),
    "rmsprop": dict(
        learning_rate=SCHEDULES["cosine_decay_schedule"],
        decay=0.8,
        eps=1e-6,
        initial_scale=1.0,
        eps_in_sqrt=False,
        centered=True,
        momentum=0.5,
        nesterov=True,
    ),
    "adam": dict(
        learning_rate=SCHEDULES["warmup_cosine_decay_schedule"],
        b1=0.8,
        b2=0.99,
        eps=1e-6,
        eps_root=1e-10,
        mu_dtype=jnp.bfloat16,
        nesterov=True,
    ),
    "nadam": dict(learning_rate=SCHEDULES["polynomial_schedule"], b1=0.85, mu_dtype="float32"),
    "adamw": dict(
        learning_rate=SCHEDULES["linear_schedule"],
        weight_decay=SCHEDULES["constant_schedule"],
        mu_dtype=jnp.float32,
        nesterov=True,
    ),
    "adamax": dict(learning_rate=SCHEDULES["cosine_warmup_schedule"], b1=0.8, b2=0.99, eps=1e-6),
    "amsgrad": dict(learning_rate=SCHEDULES["join_schedules"], b1=0.8, eps_root=1e-12),
    "adabound": dict(
        learning_rate=SCHEDULES["exponential_decay"],
        final_lr=0.05,
        gamma=1e-2,
        b1=0.8,
        b2=0.99,
        eps=1e-6,
        weight_decay=1e-3,
    ),
    "amsbound": dict(learning_rate=1e-2, final_lr=0.05, gamma=1e-2, weight_decay=1e-3),
    "swats": dict(
        learning_rate=SCHEDULES["inverse_time_decay"], b1=0.8, b2=0.99, eps=1e-8, eps_switch=1e-2
    ),
    # issue 13, loop
    "optimistic_gradient_descent": dict(
        learning_rate=SCHEDULES["sgdr_schedule"],
        alpha=SCHEDULES["linear_onecycle_schedule"],
        beta=SCHEDULES["warmup_exponential_decay_schedule"],
    ),
    # issue 13, adaptive-1.
    "radam": dict(
        learning_rate=SCHEDULES["exponential_decay"],
        b2=0.99,
        eps_root=1e-12,
        threshold=6.0,
        nesterov=True,
    ),
    "adabelief": dict(learning_rate=SCHEDULES["cosine_onecycle_schedule"], b1=0.8, nesterov=True),
    "yogi": dict(
        learning_rate=SCHEDULES["piecewise_interpolate_schedule"],
        b2=0.99,
        eps=1e-4,
        initial_mu=1e-6,
    ),
    "adopt": dict(
        learning_rate=SCHEDULES["linear_schedule"],
        b2=0.99,
        mu_dtype=jnp.bfloat16,
        nesterov=True,
        use_clipping=False,
    ),
    "nadamw": dict(
        learning_rate=SCHEDULES["warmup_cosine_decay_schedule"],
        eps_root=1e-10,
        mu_dtype="float32",
        weight_decay=SCHEDULES["constant_schedule"],
    ),
    "adamaxw": dict(learning_rate=2e-3, b1=0.8, eps=1e-6, weight_decay=1e-2),
    # lr-free (issue 13). betas and a table of ns_coeffs are tuples: see gradtx/_config.py.
    "polyak_sgd": dict(
        max_learning_rate=0.5, scaling=SCHEDULES["cosine_decay_schedule"], f_min=-1.0, eps=1e-8
    ),
    "prodigy": dict(
        learning_rate=SCHEDULES["linear_schedule"],
        betas=(0.8, 0.99),
        beta3=0.9,
        eps=1e-6,
        estim_lr0=1e-4,
        estim_lr_coef=2.0,
        weight_decay=1e-3,
        safeguard_warmup=True,
    ),
    "dadapt_adamw": dict(
        learning_rate=SCHEDULES["cosine_decay_schedule"],
        betas=(0.8, 0.99),
        eps=1e-6,
        estim_lr0=1e-4,
        weight_decay=1e-3,
    ),
    "muon": dict(
        learning_rate=SCHEDULES["exponential_decay"],
        ns_coeffs="dion",
        ns_steps=4,
        beta=0.9,
        eps=1e-7,
        weight_decay=1e-3,
        mu_dtype=jnp.float32,
        nesterov=False,
        adaptive=True,
        preconditioning="aol",
        adam_b1=0.8,
        adam_b2=0.99,
        adam_eps_root=1e-12,
        adam_weight_decay=1e-3,
        adam_learning_rate=1e-3,
        consistent_rms=0.2,
    ),
    # issue 13, schedule-free
    "schedule_free_sgd": dict(
        learning_rate=0.5,
        warmup_steps=3,
        b1=0.8,
        weight_decay=1e-3,
        weight_lr_power=1.0,
        state_dtype="float32",
    ),
    "schedule_free_adamw": dict(
        learning_rate=1e-2,
        warmup_steps=2,
        b1=0.95,
        b2=0.99,
        eps=1e-6,
        weight_decay=1e-4,
        weight_lr_power=3.0,
        state_dtype=jnp.bfloat16,
    ),
    # issue 13, sign-trust
    "lion": dict(
        learning_rate=SCHEDULES["warmup_constant_schedule"],
        b1=0.8,
        b2=0.95,
        mu_dtype=jnp.float32,
        weight_decay=1e-2,
    ),
    "sign_sgd": dict(learning_rate=SCHEDULES["linear_schedule"]),
    "signum": dict(
        learning_rate=SCHEDULES["cosine_decay_schedule"], beta=0.5, accumulator_dtype="float32"
    ),
    "rprop": dict(
        learning_rate=1e-2, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-4, max_step_size=1.0
    ),
    "lamb": dict(
        learning_rate=SCHEDULES["warmup_cosine_decay_schedule"],
        b1=0.8,
        b2=0.99,
        eps=1e-8,
        eps_root=1e-10,
        weight_decay=1e-3,
    ),
    "lars": dict(
        learning_rate=SCHEDULES["piecewise_constant_schedule"],
        weight_decay=1e-3,
        weight_decay_mask=False,
        trust_coefficient=0.01,
        eps=1e-8,
        momentum=0.5,
        nesterov=True,
    ),
    "fromage": dict(learning_rate=SCHEDULES["inverse_time_decay"], min_norm=1e-3),
    # Issue 13, memory.
    "adafactor": dict(
        learning_rate=SCHEDULES["exponential_decay"],
        min_dim_size_to_factor=2,
        decay_rate=0.7,
        decay_offset=3,
        multiply_by_parameter_scale=False,
        clipping_threshold=2.0,
        momentum=0.9,
        dtype_momentum=jnp.bfloat16,
        weight_decay_rate=1e-3,
        eps=1e-20,
        factored=False,
    ),
    "sm3": dict(learning_rate=SCHEDULES["cosine_decay_schedule"], momentum=0.5),
    # adaptive-2 (issue 13): Adan, AdEMAMix (scheduled b3 and alpha), NovoGrad, MADGRAD.
    "adan": dict(
        learning_rate=SCHEDULES["cosine_decay_schedule"],
        b1=0.9,
        b2=0.8,
        b3=0.95,
        eps=1e-6,
        eps_root=0.0,
        weight_decay=SCHEDULES["constant_schedule"],
    ),
    "ademamix": dict(
        learning_rate=1e-2,
        b1=0.8,
        b2=0.99,
        b3=SCHEDULES["linear_schedule"],
        alpha=SCHEDULES["polynomial_schedule"],
        eps_root=1e-10,
        mu_dtype=jnp.bfloat16,
        weight_decay=1e-3,
    ),
    "simplified_ademamix": dict(
        learning_rate=1e-4,
        b1=0.9,
        b2=0.99,
        alpha=SCHEDULES["linear_schedule"],
        eps_root=1e-10,
        weight_decay=1e-3,
    ),
    "novograd": dict(
        learning_rate=SCHEDULES["exponential_decay"],
        b1=0.8,
        b2=0.5,
        eps=1e-8,
        eps_root=1e-10,
        weight_decay=SCHEDULES["inverse_time_decay"],
    ),
    "madgrad": dict(
        learning_rate=SCHEDULES["warmup_cosine_decay_schedule"],
        momentum=0.5,
        weight_decay=1e-3,
        eps=1e-8,
    ),
    # issue 13, Optax first-order methods (E2)
    "noisy_sgd": dict(learning_rate=SCHEDULES["linear_schedule"], eta=0.1, gamma=0.3, key=7),
    "optimistic_adam": dict(
        learning_rate=SCHEDULES["cosine_decay_schedule"],
        optimism=SCHEDULES["constant_schedule"],
        b1=0.8,
        eps_root=1e-10,
        mu_dtype="float32",
        nesterov=False,
    ),
    "optimistic_adam_v2": dict(
        learning_rate=SCHEDULES["exponential_decay"],
        alpha=0.5,
        beta=SCHEDULES["linear_schedule"],
        b2=0.99,
        eps=1e-6,
        nesterov=False,
    ),
    "acprop": dict(
        learning_rate=SCHEDULES["warmup_cosine_decay_schedule"],
        b1=0.8,
        b2=0.99,
        eps=1e-8,
        eps_root=1e-10,
        weight_decay=SCHEDULES["constant_schedule"],
    ),
    "cocob": dict(
        learning_rate=SCHEDULES["inverse_time_decay"], alpha=50.0, eps=1e-6, weight_decay=1e-3
    ),
    "dog": dict(
        learning_rate=SCHEDULES["cosine_decay_schedule"],
        init_step=("distance", 1e-3),
        eps=1e-6,
        weight_decay=1e-3,
    ),
    "dowg": dict(
        learning_rate=SCHEDULES["linear_schedule"],
        init_estim_sq_dist=1e-2,
        eps=1e-6,
        weight_decay=1e-3,
    ),
    "momo": dict(
        learning_rate=SCHEDULES["cosine_decay_schedule"],
        beta=0.8,
        lower_bound=-2.0,
        weight_decay=1e-3,
        adapt_lower_bound=True,
    ),
    "momo_adam": dict(
        learning_rate=SCHEDULES["exponential_decay"],
        b1=0.8,
        b2=0.99,
        eps=1e-6,
        lower_bound=-2.0,
        weight_decay=1e-3,
        adapt_lower_bound=True,
    ),
}


def _params():
    return {"w": jnp.asarray([0.5, -1.5, 2.0, 0.25], jnp.float32)}


def _trajectory(tx, steps=10):
    """Params after each of `steps` eager updates on sum(p^2 + sin(3 p))."""
    loss = lambda p: sum(jnp.sum(x * x + jnp.sin(3 * x)) for x in jax.tree.leaves(p))
    params, state, path = _params(), tx.init(_params()), []
    for _ in range(steps):
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = tx.update(grads, state, params, **helpers.loss_argument(tx, value))
        params = gradtx.apply_updates(params, updates)
        path.append(params)
    return path


def _assert_bitwise_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x).view(np.uint32), np.asarray(y).view(np.uint32))


def _through_json(config):
    return json.loads(json.dumps(config, allow_nan=False))


def _assert_round_trip(tx):
    config = to_config(tx)
    rebuilt = from_config(_through_json(config))
    assert to_config(rebuilt) == config
    _assert_bitwise_equal(_trajectory(tx), _trajectory(rebuilt))
    return config


def _required_arguments(factory):
    """Required arguments filled generically: a learning rate is the only one an alias may need."""
    parameters = inspect.signature(factory).parameters
    required = [k for k, p in parameters.items() if p.default is inspect.Parameter.empty]
    assert set(required) <= {"learning_rate"}, f"give {factory.__name__} test values: {required}"
    return dict.fromkeys(required, 1e-2)


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_config_round_trips_every_alias_with_defaults(name):
    config = _assert_round_trip(ALIASES[name](**_required_arguments(ALIASES[name])))
    assert config["name"] == name
    assert list(config["hyperparameters"]) == list(inspect.signature(ALIASES[name]).parameters)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_config_round_trips_every_alias_with_other_values(name):
    config = _assert_round_trip(ALIASES[name](**SETTINGS[name]))
    for key, value in SETTINGS[name].items():
        if isinstance(value, (int, float, bool)):
            assert config["hyperparameters"][key] == value


def test_config_settings_cover_every_schedule():
    assert set(SCHEDULES) == set(_schedules.SCHEDULES)
    used = {type(v) for s in SETTINGS.values() for v in s.values()}
    assert set(_schedules.SCHEDULES.values()) <= used


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_config_round_trips_each_schedule(name):
    # Trajectories with each schedule as a learning rate: test_config_round_trips_every_alias_*.
    schedule = SCHEDULES[name]
    config = to_config(gradtx.sgd(schedule))
    assert to_config(from_config(_through_json(config))) == config
    spec = config["hyperparameters"]["learning_rate"]
    assert spec["schedule"] == name
    rebuilt = _config._decode_schedule("test", _through_json(spec))
    assert rebuilt == schedule
    counts = jnp.arange(14, dtype=jnp.int32)
    np.testing.assert_array_equal(jax.vmap(rebuilt)(counts), jax.vmap(schedule)(counts))


def test_config_nested_join_schedules_is_written_as_nested_dicts():
    spec = to_config(gradtx.adam(SCHEDULES["join_schedules"]))["hyperparameters"]["learning_rate"]
    inner = spec["args"]["schedules"][1]
    assert inner["schedule"] == "join_schedules"
    assert inner["args"]["boundaries"] == [4]
    assert inner["args"]["schedules"][1] == {
        "schedule": "constant_schedule",
        "args": {"value": 2e-3},
    }


def test_config_writes_dtypes_as_names_and_rebuilds_them():
    config = to_config(gradtx.adam(1e-3, mu_dtype=jnp.bfloat16))
    assert config["hyperparameters"]["mu_dtype"] == "bfloat16"
    state = from_config(_through_json(config)).init(_params())
    assert state[0].mu["w"].dtype == jnp.bfloat16


def test_config_writes_scalar_arrays_as_numbers():
    tx = gradtx.sgd(jnp.asarray(0.1, jnp.float32), momentum=np.float32(0.9))
    config = _assert_round_trip(tx)
    assert config["hyperparameters"]["learning_rate"] == float(np.float32(0.1))


def test_config_of_the_outermost_alias_wins():
    # nadam returns what adam returns; the config must still say nadam.
    assert to_config(gradtx.nadam(1e-3))["name"] == "nadam"


def test_config_aliases_stay_plain_transformations_with_their_signatures():
    tx = gradtx.adam(1e-3)
    assert type(tx) is gradtx.GradientTransformation
    assert gradtx.adam.__name__ == "adam" and "Adam" in gradtx.adam.__doc__
    assert list(inspect.signature(gradtx.adam).parameters)[:2] == ["learning_rate", "b1"]


def test_config_round_trips_inject_hyperparams():
    schedule = SCHEDULES["warmup_cosine_decay_schedule"]
    injected = inject_hyperparams(gradtx.adam, static_args=("b1",), hyperparam_dtype=jnp.float32)
    config = _assert_round_trip(injected(learning_rate=schedule, b1=0.8, b2=0.99))
    assert config["name"] == "inject_hyperparams" and config["factory"] == "adam"
    assert config["static_args"] == ["b1"] and config["hyperparam_dtype"] == "float32"
    rebuilt = from_config(_through_json(config))
    assert "b1" not in rebuilt.init(_params()).hyperparams


def test_config_register_alias_makes_a_user_factory_round_trip(monkeypatch):
    monkeypatch.setattr(_registry, "_ALIASES", dict(_registry._ALIASES))

    @register_alias
    def heavy_ball(learning_rate: float, momentum: float = 0.9):
        return gradtx.sgd(learning_rate, momentum)

    config = _assert_round_trip(heavy_ball(0.1))
    assert config == {
        "name": "heavy_ball",
        "hyperparameters": {"learning_rate": 0.1, "momentum": 0.9},
    }
    with pytest.raises(ValueError, match="the name 'adam' is taken"):

        @register_alias
        def adam(learning_rate):
            return gradtx.sgd(learning_rate)


@pytest.mark.parametrize(
    "tx, message",
    [
        (lambda: gradtx.adam(lambda count: 1e-3), r"adam's argument learning_rate is <function"),
        (lambda: gradtx.adam(lambda count: 1e-3), r"a function but not one of gradtx's schedules"),
        (lambda: gradtx.adamw(1e-3, mask=lambda p: p), r"adamw's argument mask is <function"),
        (lambda: gradtx.sgd(jnp.ones(2)), r"learning_rate is .* an array that is not a scalar"),
        (
            lambda: gradtx.chain(gradtx.sgd(1.0)),
            r"was not returned by a registered alias \(.*\badam\b",
        ),
        (lambda: inject_hyperparams(gradtx.scale)(1.0), r"wraps scale, which is not a registered"),
    ],
)
def test_config_to_config_errors_name_the_argument_and_the_reason(tx, message):
    with pytest.raises(ValueError, match=message):
        to_config(tx())


def test_config_to_config_rejects_traced_values():
    def config_of(lr):
        to_config(gradtx.sgd(lr))
        return lr

    with pytest.raises(ValueError, match=r"learning_rate is .* a traced value"):
        jax.jit(config_of)(jnp.float32(0.1))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "adamm"}, r"unknown optimizer 'adamm'; valid names: \[.*'adabound', .*'inj"),
        (["adam"], r"a config is a dict"),
        ({"name": "adam", "hyperparameters": {"lr": 1e-3}}, r"unknown keys \['lr'\] and lacks"),
        ({"name": "adam", "hyperparameters": {"lr": 1e-3}}, r"valid keys: \['b1', 'b2', 'eps'"),
        ({"name": "adam", "learning_rate": 1e-3}, r"unknown keys \['learning_rate'\]"),
        ({"name": "adam", "hyperparameters": {"learning_rate": {"lr": 1e-3}}}, r"lacks the req"),
        ({"name": "adam", "hyperparameters": {"learning_rate": {1e-3}}}, r"expected a number"),
        (
            {"name": "sgd", "hyperparameters": {"learning_rate": {"schedule": "cosine"}}},
            r"unknown schedule 'cosine'; valid schedules: \['constant_schedule'",
        ),
        (
            {"name": "sgd", "hyperparameters": {"learning_rate": {"schedule": "linear_schedule"}}},
            r"lacks the required \['end_value', 'init_value', 'transition_steps'\]",
        ),
        (
            {
                "name": "sgd",
                "hyperparameters": {
                    "learning_rate": {"schedule": "constant_schedule", "args": {"val": 1}}
                },
            },
            r"the args of constant_schedule in sgd's argument learning_rate has unknown keys",
        ),
        ({"name": "sgd", "hyperparameters": {"learning_rate": -1.0}}, r"must be >= 0"),
        ({"name": "inject_hyperparams", "factory": "scale"}, r"unknown optimizer 'scale'"),
    ],
)
def test_config_from_config_errors_list_the_valid_choices(config, message):
    with pytest.raises(ValueError, match=message):
        from_config(config)


def test_config_from_config_refuses_a_list_where_a_number_is_expected():
    for hyperparameters, message in [
        ({"learning_rate": [1e-3]}, r"^adam: learning_rate must be a number, an array or a sch"),
        (
            {"learning_rate": 1e-3, "b1": [0.9]},
            r"^adam: b1 must be a number or an array, got tuple",
        ),
    ]:
        with pytest.raises(TypeError, match=message):
            from_config({"name": "adam", "hyperparameters": hyperparameters})


def test_config_from_config_accepts_a_json_string():
    tx = gradtx.adamw(SCHEDULES["linear_schedule"], b1=0.8, weight_decay=1e-3)
    config = to_config(tx)
    rebuilt = from_config(json.dumps(config))
    assert to_config(rebuilt) == config
    _assert_bitwise_equal(_trajectory(tx), _trajectory(rebuilt))
    with pytest.raises(ValueError, match=r"from_config: the string is not JSON"):
        from_config("{'name': 'sgd'}")


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: gradtx.sgd(0.1, momentum=1.0), "sgd: momentum must be in [0, 1), got 1.0"),
        (lambda: gradtx.nadam(1e-3, b1=1.2), "nadam: b1 must be in [0, 1), got 1.2"),
        (
            lambda: gradtx.rmsprop(-1e-3),
            "rmsprop: learning_rate must be >= 0 and finite, got -0.001",
        ),
        (
            lambda: gradtx.adabound(final_lr=0.0),
            "adabound: final_lr must be > 0 and finite, got 0.0",
        ),
    ],
)
def test_config_register_alias_errors_name_the_alias_and_the_argument(build, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        build()


def test_config_register_alias_records_static_arguments_once(monkeypatch):
    monkeypatch.setattr(_registry, "_ALIASES", dict(_registry._ALIASES))

    @register_alias(static=("mask",))
    def masked_sgd(learning_rate: float, mask=None, *, nesterov: bool = False):
        return gradtx.masked(gradtx.sgd(learning_rate, 0.9, nesterov), mask)

    alias = _registry.alias_of(masked_sgd)
    assert alias.name == "masked_sgd" and alias.static == {"mask", "nesterov"}
    everywhere = lambda params: jax.tree.map(lambda _: True, params)  # noqa: E731
    state = inject_hyperparams(masked_sgd)(0.1, everywhere).init(_params())
    assert set(state.hyperparams) == {"learning_rate"}
    with pytest.raises(ValueError, match=r"static \['mu_dtype'\] are not arguments of sgd2"):

        @register_alias(static=("mu_dtype",))
        def sgd2(learning_rate):
            return gradtx.sgd(learning_rate)


def test_config_register_alias_cannot_take_a_wrapper_name(monkeypatch):
    monkeypatch.setattr(_registry, "_ALIASES", dict(_registry._ALIASES))
    with pytest.raises(ValueError, match=r"the name 'inject_hyperparams' is taken"):

        @register_alias
        def inject_hyperparams(learning_rate):
            return gradtx.sgd(learning_rate)
