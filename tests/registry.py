"""Every ready-made optimizer and every transformation, once: the contract, property, dtype,
resume and error suites iterate over `ALL`.

Adding an optimizer to gradtx is one line here (`tests/test_registries.py` fails until it is
there). Each optimizer entry builds the optimizer with settings under which it converges on a
small convex problem.
"""

import jax
import jax.numpy as jnp

import gradtx

OPTIMIZERS = {
    "sgd": lambda: gradtx.sgd(0.1),
    "momentum": lambda: gradtx.sgd(0.05, momentum=0.9),
    "nesterov": lambda: gradtx.sgd(0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda: gradtx.adagrad(0.5),
    "adadelta": lambda: gradtx.adadelta(eps=1e-2),
    "rmsprop": lambda: gradtx.rmsprop(0.05),
    "rmsprop_centered": lambda: gradtx.rmsprop(0.05, centered=True, momentum=0.5),
    "adam": lambda: gradtx.adam(0.1),
    "adamw": lambda: gradtx.adamw(0.1, weight_decay=1e-3),
    "adamax": lambda: gradtx.adamax(0.1),
    "nadam": lambda: gradtx.nadam(0.1),
    "amsgrad": lambda: gradtx.amsgrad(0.1),
    "adabound": lambda: gradtx.adabound(0.1, final_lr=0.1),
    "amsbound": lambda: gradtx.amsbound(0.1, final_lr=0.1),
    "swats": lambda: gradtx.swats(0.1),
    "swats_switching": lambda: gradtx.swats(0.1, eps_switch=1e-2),
    "adam_if_finite": lambda: gradtx.apply_if_finite(gradtx.adam(0.1), 3),
    "sgd_accumulated": lambda: gradtx.accumulate(gradtx.sgd(0.1), 2),
    "clipped_momentum": lambda: gradtx.chain(
        gradtx.clip_by_global_norm(1.0), gradtx.sgd(0.05, momentum=0.9)
    ),
    "groups_by_regex": lambda: gradtx.multi_transform(
        {"fast": gradtx.adam(0.1), "slow": gradtx.sgd(0.1)}, {r"w": "fast", r".*": "slow"}
    ),
    # [issue 13: adaptive-1]
    "radam": lambda: gradtx.radam(0.1),
    "adabelief": lambda: gradtx.adabelief(0.1),
    "yogi": lambda: gradtx.yogi(0.1),
    "adopt": lambda: gradtx.adopt(0.1),
    "nadamw": lambda: gradtx.nadamw(0.1, weight_decay=1e-3),
    "adamaxw": lambda: gradtx.adamaxw(0.1, weight_decay=1e-3),
    # [issue 13: adaptive-2]
    # [issue 13: sign-trust]
    # [issue 13: memory]
    # [issue 13: schedule-free]
    # [issue 13: lr-free]
    # [issue 13: loop]
    "optimistic_gradient_descent": lambda: gradtx.optimistic_gradient_descent(0.05),
}

# Every transformation, built with settings valid for any params. Updates in, updates out.
TRANSFORMATIONS = {
    "identity": lambda: gradtx.identity(),
    "scale": lambda: gradtx.scale(-0.1),
    "scale_by_schedule": lambda: gradtx.scale_by_schedule(
        lambda count: 1 / (1 + count.astype(float))
    ),
    "scale_by_learning_rate": lambda: gradtx.scale_by_learning_rate(0.1),
    "trace": lambda: gradtx.trace(0.9),
    "trace_nesterov": lambda: gradtx.trace(0.9, nesterov=True),
    "add_decayed_weights": lambda: gradtx.add_decayed_weights(1e-2),
    "scale_by_rss": lambda: gradtx.scale_by_rss(),
    "scale_by_adadelta": lambda: gradtx.scale_by_adadelta(),
    "scale_by_rms": lambda: gradtx.scale_by_rms(),
    "scale_by_rms_centered": lambda: gradtx.scale_by_rms(centered=True, bias_correction=True),
    "scale_by_adam": lambda: gradtx.scale_by_adam(),
    "scale_by_adam_nesterov": lambda: gradtx.scale_by_adam(nesterov=True),
    "scale_by_adamax": lambda: gradtx.scale_by_adamax(),
    "scale_by_amsgrad": lambda: gradtx.scale_by_amsgrad(),
    "rms_step_size": lambda: gradtx.rms_step_size(),
    "max_rms_step_size": lambda: gradtx.max_rms_step_size(),
    "bound_lr": lambda: gradtx.bound_lr(gradtx.rms_step_size(), 1e-2),
    "scale_by_swats": lambda: gradtx.scale_by_swats(),
    "scale_by_nadam": lambda: gradtx.scale_by_nadam(),
    "clip": lambda: gradtx.clip(1.0),
    "clip_by_global_norm": lambda: gradtx.clip_by_global_norm(1.0),
    "add_noise": lambda: gradtx.add_noise(0.01, 0.55, 0),
    "set_to_zero": lambda: gradtx.set_to_zero(),
    "freeze": lambda: gradtx.freeze(lambda params: jax.tree.map(lambda _: True, params)),
    "masked": lambda: gradtx.masked(
        gradtx.scale_by_adam(), lambda params: jax.tree.map(lambda x: jnp.ndim(x) > 0, params)
    ),
    "groups_by_function": lambda: gradtx.multi_transform(
        {"a": gradtx.scale_by_adam(), "b": gradtx.trace(0.9)},
        lambda params: jax.tree.map(lambda x: "a" if jnp.ndim(x) > 1 else "b", params),
    ),
    # [issue 13: adaptive-1]
    "scale_by_radam": lambda: gradtx.scale_by_radam(),
    "scale_by_radam_nesterov": lambda: gradtx.scale_by_radam(b2=0.9, nesterov=True),
    "scale_by_belief": lambda: gradtx.scale_by_belief(),
    "scale_by_belief_nesterov": lambda: gradtx.scale_by_belief(nesterov=True),
    "scale_by_yogi": lambda: gradtx.scale_by_yogi(),
    "scale_by_adopt": lambda: gradtx.scale_by_adopt(),
    "scale_by_adopt_nesterov": lambda: gradtx.scale_by_adopt(nesterov=True, use_clipping=False),
    # [issue 13: adaptive-2]
    # [issue 13: sign-trust]
    # [issue 13: memory]
    # [issue 13: schedule-free]
    # [issue 13: lr-free]
    # [issue 13: loop]
    "scale_by_optimistic_gradient": lambda: gradtx.scale_by_optimistic_gradient(),
}

ALL = {**OPTIMIZERS, **TRANSFORMATIONS}

# Entries whose state holds no step counter (no integer scalar): `test_contract.py` checks the
# counters of every other entry, and that these have none.
COUNT_FREE = {
    "sgd",
    "adagrad",
    "identity",
    "scale",
    "scale_by_learning_rate",
    "scale_by_rss",
    "scale_by_adadelta",
    "clip",
    "clip_by_global_norm",
    "set_to_zero",
    "freeze",
}

# Public factories of gradtx that return a GradientTransformation but have no entry above, and
# why. Everything else public must be built by some entry (`tests/test_registries.py`).
NOT_REGISTERED = {
    "check_finite": "raises eagerly on a non-finite value; under jit it needs checkify "
    "(tests/test_errors.py), so it cannot keep the jit contract",
    "from_config": "rebuilds a registered alias from its config (tests/test_config.py)",
}
