"""Keras 3's optimizers as gradtx chains: same names, argument names and defaults.

Every function returns a `GradientTransformation` whose trajectory matches `keras.optimizers`
(Keras 3.15, JAX backend) to 1e-10 relative in float64 (tested against golden fixtures).
Keras' own `weight_decay`, `clipnorm` and friends are not arguments here: chain
`gradtx.add_decayed_weights` or `gradtx.clip_by_global_norm` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gradtx import _validate
from gradtx._aliases.adaptive import adadelta, adagrad, rmsprop
from gradtx._aliases.descent import sgd
from gradtx._base import GradientTransformation, ScalarOrSchedule, identity
from gradtx._combine import _pattern_key, chain, multi_transform
from gradtx._schedules import warmup_constant_schedule
from gradtx._transforms.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_nadam
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.factored import (
    clip_by_block_rms,
    scale_by_factored_rms,
    scale_by_param_block_rms,
)
from gradtx._transforms.ftrl import ftrl
from gradtx._transforms.moments import scale_by_rms
from gradtx._transforms.muon import scale_by_muon, scale_by_shape
from gradtx._transforms.scaling import scale, scale_by_learning_rate
from gradtx._transforms.schedule_free import schedule_free
from gradtx._transforms.sign import scale_by_lion
from gradtx._transforms.trust_ratio import scale_by_trust_ratio
from gradtx.conventions._common import relative_step_size


def SGD(  # noqa: N802 - Keras' name
    learning_rate: ScalarOrSchedule = 0.01, momentum: float = 0.0, nesterov: bool = False
) -> GradientTransformation:
    """keras.optimizers.SGD: gradtx's `sgd` (Keras keeps -lr inside its velocity: the same
    trajectory for a constant learning rate)."""
    return sgd(learning_rate, momentum or None, nesterov)


def Adagrad(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    initial_accumulator_value: float = 0.1,
    epsilon: float = 1e-7,
) -> GradientTransformation:
    """keras.optimizers.Adagrad: gradtx's `adagrad` (eps inside the root)."""
    return adagrad(learning_rate, initial_accumulator_value, epsilon)


def Adadelta(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3, rho: float = 0.95, epsilon: float = 1e-7
) -> GradientTransformation:
    """keras.optimizers.Adadelta: gradtx's `adadelta` with Keras' defaults."""
    return adadelta(learning_rate, rho, epsilon)


def RMSprop(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
) -> GradientTransformation:
    """keras.optimizers.RMSprop: gradtx's `rmsprop` (eps inside the root, lr inside momentum)."""
    return rmsprop(learning_rate, rho, epsilon, centered=centered, momentum=momentum or None)


def Adam(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
) -> GradientTransformation:
    """keras.optimizers.Adam: eps added before bias correction (`eps_uncorrected`); with
    amsgrad, the maximum of the uncorrected $v_t$."""
    if amsgrad:
        scaler = scale_by_amsgrad(beta_1, beta_2, epsilon, raw_max=True, eps_uncorrected=True)
    else:
        scaler = scale_by_adam(beta_1, beta_2, epsilon, eps_uncorrected=True)
    return chain(scaler, scale_by_learning_rate(learning_rate))


def Adamax(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> GradientTransformation:
    """keras.optimizers.Adamax: eps added to the infinity norm, not inside the max."""
    scaler = scale_by_adamax(beta_1, beta_2, epsilon, eps_in_max=False)
    return chain(scaler, scale_by_learning_rate(learning_rate))


def Nadam(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> GradientTransformation:
    """keras.optimizers.Nadam: Dozat's schedule mu_t = b1 (1 - 0.96^t / 2), i.e.
    `scale_by_nadam(momentum_decay=1.0)` (Keras 3 has no 0.004 in the exponent)."""
    scaler = scale_by_nadam(beta_1, beta_2, epsilon, momentum_decay=1.0)
    return chain(scaler, scale_by_learning_rate(learning_rate))


def Lion(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3, beta_1: float = 0.9, beta_2: float = 0.99
) -> GradientTransformation:
    """keras.optimizers.Lion: `scale_by_lion(beta_1, beta_2)` then the learning rate, the same
    equations as gradtx's `lion` without its decoupled weight decay (gradtx's default 1e-3).

    Keras accepts beta_1 in (0, 1]; beta_1 = 1 (steps by the sign of the stale momentum alone)
    is outside `scale_by_lion`'s [0, 1) and raises here.
    """
    where = "keras.Lion"
    with _validate.calling(where, dict(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2)):
        if _validate.is_number(beta_1) and beta_1 <= 0:
            _validate._fail(where, "beta_1", beta_1, "in (0, 1) (0 makes Lion SignSGD)")
        return chain(scale_by_lion(beta_1, beta_2), scale_by_learning_rate(learning_rate))


def Lamb(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> GradientTransformation:
    """keras.optimizers.Lamb: Adam's step (eps outside the root of the bias-corrected $v_t$),
    scaled per variable by ||theta|| / ||step|| (1 where either norm is 0): gradtx's `lamb`
    without weight decay, with Keras' epsilon (gradtx's default is 1e-6)."""
    where = "keras.Lamb"
    arguments = dict(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    with _validate.calling(where, arguments):
        return chain(
            scale_by_adam(beta_1, beta_2, epsilon),
            scale_by_trust_ratio(),
            scale_by_learning_rate(learning_rate),
        )


def Ftrl(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
) -> GradientTransformation:
    """keras.optimizers.Ftrl: gradtx's `ftrl`, which is Keras' form (L2 strengths of
    lambda theta^2, n_0 = `initial_accumulator_value`, z_0 = 0).

    Keras assigns the new weights; gradtx returns their difference from the old ones, and
    `apply_updates` rounds theta_(t-1) + u_t once: the weights agree to about one ulp of
    theta_(t-1), not of theta_t (see docs/porting.md).
    """
    arguments = dict(
        learning_rate=learning_rate,
        learning_rate_power=learning_rate_power,
        initial_accumulator_value=initial_accumulator_value,
        l1_regularization_strength=l1_regularization_strength,
        l2_regularization_strength=l2_regularization_strength,
        l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
        beta=beta,
    )
    with _validate.calling("keras.Ftrl", arguments):
        return ftrl(
            learning_rate,
            learning_rate_power,
            initial_accumulator_value,
            l1=l1_regularization_strength,
            l2=l2_regularization_strength,
            l2_shrinkage=l2_shrinkage_regularization_strength,
            beta=beta,
        )


def ScheduleFreeAdamW(  # noqa: N802
    learning_rate: ScalarOrSchedule = 0.0025,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    warmup_steps: int = 0,
) -> GradientTransformation:
    """keras.optimizers.ScheduleFreeAdamW: `schedule_free` around RMSprop with bias correction
    (Adam with beta_1 = 0), averaged with weights c_(t+1) = 1/t (`weight_lr_power=0`).

    The params are Keras' variable, y; Keras stores z (its "momentum" variable) and recovers x
    inside each step without exposing it: gradtx's state holds the same z, and
    `schedule_free_eval_params(state, params)` gives x. Keras' warm-up multiplies the rate by
    min(t / W, 1) from step t = 1 (lr / W on the first step), one step ahead of gradtx's
    `schedule_free_adamw(warmup_steps=W)`, which starts at 0; gradtx's alias also weights the
    average by lr^2, and has a decoupled `weight_decay`, Keras' being its generic one. A
    schedule is accepted without warm-up (Keras multiplies a schedule's value by the factor).
    """
    where = "keras.ScheduleFreeAdamW"
    arguments = dict(
        learning_rate=learning_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        warmup_steps=warmup_steps,
    )
    with _validate.calling(where, arguments):
        _validate.check_int(where, warmup_steps=warmup_steps)
        if callable(learning_rate) and warmup_steps > 1:
            _validate._fail(where, "learning_rate", learning_rate, "a number when warmup_steps > 1")
        rate = learning_rate
        if warmup_steps > 1:  # lr t / W for t = 1..W: from lr / W to lr over W - 1 steps
            rate = warmup_constant_schedule(
                learning_rate / warmup_steps, learning_rate, warmup_steps - 1
            )
        adam_without_momentum = scale_by_rms(beta_2, epsilon, 0.0, False, True)
        return schedule_free(
            chain(adam_without_momentum, scale_by_learning_rate(rate)),
            rate,
            beta_1,
            weight_lr_power=0.0,
        )


def Adafactor(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    beta_2_decay: float = -0.8,
    epsilon_1: float = 1e-30,
    epsilon_2: float = 1e-3,
    clip_threshold: float = 1.0,
    relative_step: bool = True,
) -> GradientTransformation:
    r"""keras.optimizers.Adafactor: `scale_by_factored_rms` on the last two axes, update
    clipping, the relative step size.

    $\hat\beta_{2t} = 1 - t^{\tau}$ ($\tau$ = `beta_2_decay`), $\epsilon_1$ added to $g^2$;
    every leaf of two or more axes is factored along its last two (`last_axes`);
    $\hat U_t = U_t / \max(1, RMS(U_t)/d)$ ($d$ = `clip_threshold`);
    $\theta_t = \theta_{t-1} - \max(\epsilon_2, RMS(\theta_{t-1}))\, \rho_t \hat U_t$ with
    $\rho_t = \min(\eta_t, 1/\sqrt t)$ (`relative_step_size`).

    Keras 3.15 caps the step by $1/\sqrt t$ whether or not `relative_step` is set (it takes the
    minimum twice when it is), so `relative_step` changes nothing and is only checked for being
    a bool. Differs from gradtx's `adafactor` (Optax's) in the factored axes (last two, any
    size, instead of the two largest of at least 128) and the step size $\rho_t$ (gradtx: the
    learning rate alone).
    """
    where = "keras.Adafactor"
    if not isinstance(relative_step, bool):
        _validate.fail_type(where, "relative_step", relative_step, "a bool")
    _validate.check_finite(where, beta_2_decay=beta_2_decay)
    _validate.check_non_negative(where, epsilon_2=epsilon_2)
    with _validate.calling(
        where,
        {
            "learning_rate": learning_rate,
            "epsilon_1": epsilon_1,
            "clip_threshold": clip_threshold,
        },
    ):
        second_moment = scale_by_factored_rms(
            decay_rate=-beta_2_decay, min_dim_size_to_factor=0, epsilon=epsilon_1, last_axes=True
        )
        return chain(
            second_moment,
            clip_by_block_rms(clip_threshold),
            scale_by_param_block_rms(epsilon_2),
            scale_by_learning_rate(relative_step_size(learning_rate), flip_sign=False),
            scale(-1),
        )


def keras_muon_labels(
    exclude_layers: Sequence[str], exclude_embeddings: bool
) -> Callable[[Any], Any]:
    """A function of the params: "adam" for each leaf that Keras' Muon sends to its AdamW step
    (not 2-D; "embedding" in its path, with `exclude_embeddings`; a path matching one of
    `exclude_layers`, `re.search`), "muon" for the others. A leaf's path is its key path joined
    by "/" (`{"dense": {"kernel": w}}`: "dense/kernel"), standing for Keras' `variable.path`."""

    def label(path, x):
        name = _pattern_key(path)
        adam = jnp.ndim(x) != 2
        adam = adam or (exclude_embeddings and "embedding" in name.lower())
        adam = adam or any(re.search(keyword, name) for keyword in exclude_layers)
        return "adam" if adam else "muon"

    return lambda params: jax.tree_util.tree_map_with_path(label, params)


def Muon(  # noqa: N802
    learning_rate: ScalarOrSchedule = 1e-3,
    adam_beta_1: float = 0.9,
    adam_beta_2: float = 0.999,
    adam_weight_decay: float | None = 0.004,
    epsilon: float = 1e-7,
    weight_decay: float | None = 0.004,
    exclude_layers: Sequence[str] | None = None,
    exclude_embeddings: bool = True,
    muon_a: float = 3.4445,
    muon_b: float = -4.7750,
    muon_c: float = 2.0315,
    adam_lr_ratio: float = 1,
    momentum: float = 0.95,
    ns_steps: int = 5,
    nesterov: bool = True,
    rms_rate: float | None = 0.2,
) -> GradientTransformation:
    r"""keras.optimizers.Muon: Muon's step for matrices, Keras' Adam step for the other leaves,
    each with decoupled weight decay (`multi_transform` over `keras_muon_labels`).

    Matrices: $m_t = \mu m_{t-1} + g_t$, $\hat m_t = g_t + \mu m_t$ (Nesterov) or $m_t$
    (`scale_by_muon(heavy_ball=True, debias=False)`), $O_t$ = `ns_steps` quintic Newton-Schulz
    steps $(a, b, c)$ from $\hat m_t / (\|\hat m_t\|_F + 10^{-7})$ (Keras fixes this epsilon),
    $\theta_t = \theta_{t-1}(1 - \eta\lambda) - \eta\, r\sqrt{\max(n, m)}\, O_t$ ($r$ =
    `rms_rate`; no factor when None; $\lambda$ = `weight_decay`). Other leaves:
    $\theta_t = \theta_{t-1}(1 - \eta\lambda_a) - \eta\kappa\, \hat m_t/(\sqrt{\hat v_t} +
    \epsilon/\sqrt{1-\beta_2^t})$ (Keras' Adam, `eps_uncorrected`; $\kappa$ = `adam_lr_ratio`,
    $\lambda_a$ = `adam_weight_decay`, not scaled by $\kappa$). A weight decay of None is 0.

    `exclude_layers` (regular expressions, `re.search`) and `exclude_embeddings` are matched
    against each leaf's key path joined by "/", which stands for Keras' `variable.path`: name
    the params accordingly (e.g. `{"embedding": {"embeddings": w}}`). Differs from gradtx's
    `muon` in: the momentum is a sum (no average, no bias correction), the fixed $10^{-7}$, the
    RMS factor on by default, decay before the step, and Keras' Adam for the other leaves.
    """
    where = "keras.Muon"
    exclude_layers = list(exclude_layers or [])
    if not all(isinstance(k, str) for k in exclude_layers):
        _validate.fail_type(where, "exclude_layers", exclude_layers, "a list of strings")
    with _validate.calling(where, dict(locals())):
        muon = scale_by_muon(
            (muon_a, muon_b, muon_c),
            ns_steps,
            beta=momentum,
            eps=1e-7,
            nesterov=nesterov,
            debias=False,
            heavy_ball=True,
        )
        adam = scale_by_adam(adam_beta_1, adam_beta_2, epsilon, eps_uncorrected=True)
        return multi_transform(
            {
                "muon": chain(
                    muon,
                    scale_by_shape(None, rms_rate) if rms_rate is not None else identity(),
                    add_decayed_weights(weight_decay or 0.0),
                    scale_by_learning_rate(learning_rate),
                ),
                "adam": chain(
                    adam,
                    scale(adam_lr_ratio),
                    add_decayed_weights(adam_weight_decay or 0.0),
                    scale_by_learning_rate(learning_rate),
                ),
            },
            keras_muon_labels(exclude_layers, exclude_embeddings),
        )
