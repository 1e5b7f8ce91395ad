"""Every ready-made optimizer and every transformation, once: the contract, property, dtype,
resume and error suites iterate over `ALL`.

Adding an optimizer to gradtx is one line here (`tests/test_registries.py` fails until it is
there). Each optimizer entry builds the optimizer with settings under which it converges on a
small convex problem.
"""

import functools

import jax
import jax.numpy as jnp

import gradtx
from tests.test_lookahead import slow_in_state
from tests.test_plateau import fed_norm


def with_quadratic_loss(tx):
    """`tx`, its update given the loss as `value=`: |g|^2 / 4 for the suites' loss
    sum((p - t)^2), whose gradient is 2 (p - t)."""
    return gradtx.GradientTransformation(
        tx.init, lambda g, s, p=None: tx.update(g, s, p, value=gradtx._tree.squared_norm(g) / 4)
    )


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
    # switches at step 2 on test_contract's quadratic, so the SGD phase is exercised there too
    "swats_switching": lambda: gradtx.swats(0.1, eps_switch=0.1),
    "adam_if_finite": lambda: gradtx.apply_if_finite(gradtx.adam(0.1), 3),
    "sgd_accumulated": lambda: gradtx.accumulate(gradtx.sgd(0.1), 2),
    "clipped_momentum": lambda: gradtx.chain(
        gradtx.clip_by_global_norm(1.0), gradtx.sgd(0.05, momentum=0.9)
    ),
    # "w" and everything under it: a bare "w" would name a subtree of the random trees, not a leaf
    "groups_by_regex": lambda: gradtx.multi_transform(
        {"fast": gradtx.adam(0.1), "slow": gradtx.sgd(0.1)}, {r"w(/.*)?": "fast", r".*": "slow"}
    ),
    "radam": lambda: gradtx.radam(0.1),
    "adabelief": lambda: gradtx.adabelief(0.1),
    "yogi": lambda: gradtx.yogi(0.1),
    "adopt": lambda: gradtx.adopt(0.1),
    "nadamw": lambda: gradtx.nadamw(0.1, weight_decay=1e-3),
    "adamaxw": lambda: gradtx.adamaxw(0.1, weight_decay=1e-3),
    "adan": lambda: gradtx.adan(0.1),
    "adan_decayed": lambda: gradtx.adan(0.1, weight_decay=1e-3),
    "ademamix": lambda: gradtx.ademamix(0.1, b3=0.999),
    "ademamix_warmup": lambda: gradtx.ademamix(
        0.1, b3=gradtx.linear_schedule(0.9, 0.999, 50), alpha=gradtx.linear_schedule(0.0, 5.0, 50)
    ),
    "simplified_ademamix": lambda: gradtx.simplified_ademamix(1e-3, b1=0.9, alpha=5.0),
    "novograd": lambda: gradtx.novograd(0.1),
    "novograd_decayed": lambda: gradtx.novograd(0.1, weight_decay=1e-3),
    "madgrad": lambda: gradtx.madgrad(0.1),
    "lion": lambda: gradtx.lion(0.05),
    "signum": lambda: gradtx.signum(0.05),
    # sign_sgd and rprop have no step counter of their own (registry.COUNT_FREE has no anchor yet):
    # sign_sgd takes a schedule, rprop is wrapped by apply_if_finite.
    "sign_sgd": lambda: gradtx.sign_sgd(gradtx.exponential_decay(0.1, 50, 0.5)),
    "rprop": lambda: gradtx.rprop(0.1),
    "lamb": lambda: gradtx.lamb(0.1),
    "lars": lambda: gradtx.lars(0.05, trust_coefficient=1.0),
    "fromage": lambda: gradtx.fromage(0.1),
    "adafactor": lambda: gradtx.adafactor(
        0.1, min_dim_size_to_factor=2, multiply_by_parameter_scale=False
    ),
    "adafactor_momentum": lambda: gradtx.adafactor(
        0.05,
        min_dim_size_to_factor=2,
        multiply_by_parameter_scale=False,
        momentum=0.9,
        dtype_momentum=None,  # the params' dtype (the contract compares float64 state)
        weight_decay_rate=1e-3,
    ),
    "sm3": lambda: gradtx.sm3(0.5),
    "schedule_free_sgd": lambda: gradtx.schedule_free_sgd(0.1),
    "schedule_free_adamw": lambda: gradtx.schedule_free_adamw(
        0.1, warmup_steps=5, weight_decay=1e-4
    ),
    # polyak_sgd needs the loss as `value=`, which the suites do not pass: for the contract's
    # loss sum((p - t)^2) it is |g|^2 / 4, so the entry passes that. A scheduled scaling gives it
    # a step counter (COUNT_FREE has no anchor).
    "polyak_sgd": lambda: (
        lambda tx: gradtx.GradientTransformation(
            tx.init,
            lambda g, s, p=None: tx.update(g, s, p, value=gradtx._tree.squared_norm(g) / 4),
        )
    )(gradtx.polyak_sgd(scaling=gradtx.constant_schedule(1.0))),
    "prodigy": lambda: gradtx.prodigy(),
    "prodigy_safeguarded": lambda: gradtx.prodigy(0.5, safeguard_warmup=True, weight_decay=1e-3),
    "dadapt_adamw": lambda: gradtx.dadapt_adamw(),
    "muon": lambda: gradtx.muon(0.05),
    "muon_rms_nesterov_free": lambda: gradtx.muon(
        0.1, nesterov=False, consistent_rms=0.2, preconditioning="aol", weight_decay=1e-3
    ),
    "sam": lambda: gradtx.sam(gradtx.sgd(0.1), gradtx.chain(gradtx.normalize(), gradtx.sgd(0.05))),
    # lookahead updates LookaheadParams: test_lookahead's adapter keeps the slow weights in state.
    "lookahead_sgd": lambda: slow_in_state(gradtx.lookahead(gradtx.sgd(0.1), 3, 0.5)),
    "lookahead_adam": lambda: slow_in_state(gradtx.lookahead(gradtx.adam(0.1), 2, 0.8)),
    # reduce_on_plateau needs value=, the loss: the test module's adapter feeds it |g|^2.
    "sgd_reduce_on_plateau": lambda: fed_norm(
        gradtx.chain(gradtx.sgd(0.1), gradtx.reduce_on_plateau(patience=2, cooldown=1))
    ),
    "optimistic_gradient_descent": lambda: gradtx.optimistic_gradient_descent(0.05),
    "ftrl": lambda: gradtx.ftrl(1.0),
    "ftrl_regularized": lambda: gradtx.ftrl(
        0.5, -0.6, l1=1e-3, l2=1e-3, l2_shrinkage=1e-3, beta=1.0
    ),
    "noisy_sgd": lambda: gradtx.noisy_sgd(0.1, eta=1e-6, key=0),
    "optimistic_adam": lambda: gradtx.optimistic_adam(0.1),
    "optimistic_adam_v2": lambda: gradtx.optimistic_adam_v2(0.05, alpha=1.0, beta=0.5),
    "acprop": lambda: gradtx.acprop(0.1, weight_decay=1e-4),
    "cocob": lambda: gradtx.cocob(),
    "dog": lambda: gradtx.dog(),
    "dog_distance": lambda: gradtx.dog(init_step=("distance", 1e-2), weight_decay=1e-4),
    "dowg": lambda: gradtx.dowg(),
    # momo and momo_adam need the loss as `value=`: |g|^2 / 4 for the contract's loss, as for
    # polyak_sgd above.
    "momo": lambda: with_quadratic_loss(gradtx.momo()),
    "momo_decayed": lambda: with_quadratic_loss(
        gradtx.momo(0.5, lower_bound=-1.0, weight_decay=1e-4)
    ),
    "momo_adam": lambda: with_quadratic_loss(gradtx.momo_adam(0.1)),
    "mechanize_adam": lambda: gradtx.mechanize(gradtx.adam(1.0)),
    # Optax's MultiSteps: a mean over 2 calls, and a sum over 2 that rejects non-finite steps.
    # Inner optimizers without a `count` (which would count inner steps, not calls, failing the
    # contract's counter check); tests/test_multi_steps.py runs Adam inside against Optax.
    "adagrad_multi_steps": lambda: gradtx.MultiSteps(gradtx.adagrad(0.5), 2),
    "sgd_multi_steps_summed": lambda: gradtx.MultiSteps(
        gradtx.sgd(0.1), 2, use_grad_mean=False, should_skip_update_fn=gradtx.skip_not_finite
    ).gradient_transformation(),
    "flattened_adam": lambda: gradtx.flatten(gradtx.adam(0.1)),
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
    "scale_by_radam": lambda: gradtx.scale_by_radam(),
    "scale_by_radam_nesterov": lambda: gradtx.scale_by_radam(b2=0.9, nesterov=True),
    "scale_by_belief": lambda: gradtx.scale_by_belief(),
    "scale_by_belief_nesterov": lambda: gradtx.scale_by_belief(nesterov=True),
    "scale_by_yogi": lambda: gradtx.scale_by_yogi(),
    "scale_by_adopt": lambda: gradtx.scale_by_adopt(),
    "scale_by_adopt_nesterov": lambda: gradtx.scale_by_adopt(nesterov=True, use_clipping=False),
    "scale_by_adan": lambda: gradtx.scale_by_adan(),
    "scale_by_ademamix": lambda: gradtx.scale_by_ademamix(),
    "scale_by_simplified_ademamix": lambda: gradtx.scale_by_simplified_ademamix(),
    "scale_by_novograd": lambda: gradtx.scale_by_novograd(),
    "scale_by_madgrad": lambda: gradtx.scale_by_madgrad(0.1),
    "scale_by_lion": lambda: gradtx.scale_by_lion(),
    # Count-free scalers, beside a link with a counter (registry.COUNT_FREE has no anchor yet).
    "scale_by_sign": lambda: gradtx.scale_by_sign(),
    "scale_by_rprop": lambda: gradtx.scale_by_rprop(0.1),
    "scale_by_trust_ratio": lambda: gradtx.scale_by_trust_ratio(),
    "scale_by_factored_rms": lambda: gradtx.scale_by_factored_rms(min_dim_size_to_factor=2),
    "scale_by_factored_rms_unfactored": lambda: gradtx.scale_by_factored_rms(factored=False),
    "clip_by_block_rms": lambda: gradtx.clip_by_block_rms(1.0),
    "scale_by_param_block_rms": lambda: gradtx.scale_by_param_block_rms(),
    "ema": lambda: gradtx.ema(0.9),
    "scale_by_sm3": lambda: gradtx.scale_by_sm3(),
    "scale_by_sm3_decayed": lambda: gradtx.scale_by_sm3(0.5, 0.9),
    "schedule_free": lambda: gradtx.schedule_free(gradtx.sgd(0.1), 0.1, b1=0.8),
    "scale_by_polyak": lambda: (  # given value = |g|^2 / 4, and a counter, as polyak_sgd above
        lambda tx: gradtx.GradientTransformation(
            tx.init,
            lambda g, s, p=None: tx.update(g, s, p, value=gradtx._tree.squared_norm(g) / 4),
        )
    )(
        gradtx.chain(
            gradtx.scale_by_polyak(f_min=0.1, eps=1e-8),
            gradtx.scale_by_schedule(gradtx.constant_schedule(1.0)),
        )
    ),
    "scale_by_prodigy": lambda: gradtx.scale_by_prodigy(),
    "scale_by_dadapt_adamw": lambda: gradtx.scale_by_dadapt_adamw(),
    # Matrices only: a vector or a scalar leaf passes through (its dimension numbers are None).
    "scale_by_muon": lambda: gradtx.scale_by_muon(
        weight_dimension_numbers=lambda updates: jax.tree.map(
            lambda x: gradtx.MuonDimensionNumbers() if jnp.ndim(x) == 2 else None, updates
        )
    ),
    "scale_by_shape": lambda: gradtx.chain(
        gradtx.trace(0.9),
        gradtx.scale_by_shape(
            lambda updates: jax.tree.map(
                lambda x: gradtx.MuonDimensionNumbers() if jnp.ndim(x) == 2 else None, updates
            ),
            consistent_rms=0.2,
        ),
    ),
    # normalize alone keeps no counter, and COUNT_FREE has no anchor: chained with a trace.
    "normalize_then_trace": lambda: gradtx.chain(gradtx.normalize(), gradtx.trace(0.9)),
    "scale_by_optimistic_gradient": lambda: gradtx.scale_by_optimistic_gradient(),
    "average_params": lambda: gradtx.average_params(start=3),
    "scale_by_acprop": lambda: gradtx.scale_by_acprop(),
    "scale_by_cocob": lambda: gradtx.scale_by_cocob(),
    "scale_by_dog": lambda: gradtx.scale_by_dog(("learning_rate", 0.1)),
    "scale_by_dowg": lambda: gradtx.scale_by_dowg(),
    "scale_by_momo": lambda: with_quadratic_loss(gradtx.scale_by_momo(weight_decay=1e-3)),
    "scale_by_momo_adam": lambda: with_quadratic_loss(gradtx.scale_by_momo_adam()),
    "zero_nans": lambda: gradtx.zero_nans(),
    # k = 4: the contract's three steps see the count (kept mod k) reach 3.
    "apply_every": lambda: gradtx.apply_every(4),
    "multi_steps_skip_large_updates": lambda: gradtx.MultiSteps(
        gradtx.scale_by_rss(),
        lambda gradient_step: 3,
        should_skip_update_fn=functools.partial(gradtx.skip_large_updates, max_squared_norm=1e6),
    ),
    "keep_params_nonnegative": lambda: gradtx.keep_params_nonnegative(),
    "centralize": lambda: gradtx.centralize(),
    "normalize_by_update_norm": lambda: gradtx.normalize_by_update_norm(),
    "adaptive_grad_clip": lambda: gradtx.adaptive_grad_clip(0.1),
    # Count-free inner transformations: an inner `count` would count the selected steps only.
    "conditionally_transform": lambda: gradtx.conditionally_transform(
        gradtx.clip_by_global_norm(1.0), lambda step: step % 2 == 0
    ),
    "conditionally_mask": lambda: gradtx.conditionally_mask(
        gradtx.scale_by_rss(), lambda step: step % 3 != 1
    ),
    "named_chain": lambda: gradtx.named_chain(
        ("clip", gradtx.clip(1.0)), ("trace", gradtx.trace(0.9))
    ),
    "scale_by_stddev": lambda: gradtx.scale_by_stddev(),
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
    "rprop",
    "scale_by_sign",
    "scale_by_rprop",
    "scale_by_trust_ratio",
    "clip_by_block_rms",
    "scale_by_param_block_rms",
    "scale_by_cocob",
    "dowg",
    "scale_by_dowg",
    "zero_nans",
    "keep_params_nonnegative",
    "centralize",
    "normalize_by_update_norm",
    "adaptive_grad_clip",
}

# Entries that replace a NaN gradient by a finite update on purpose -> where their state records
# which leaves held one (`tests/test_errors.py` checks that the repair is visible there).
REPAIRS_NANS = {
    "zero_nans": lambda state: state.found_nan,
}

# Public factories of gradtx that return a GradientTransformation but have no entry above, and
# why. Everything else public must be built by some entry (`tests/test_registries.py`).
NOT_REGISTERED = {
    "check_finite": "raises eagerly on a non-finite value; under jit it needs checkify "
    "(tests/test_errors.py), so it cannot keep the jit contract",
    "from_config": "rebuilds a registered alias from its config (tests/test_config.py)",
}
