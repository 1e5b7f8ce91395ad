"""Keras 3's optimizers as gradtx chains: same names, argument names and defaults.

Every function returns a `GradientTransformation` whose trajectory matches `keras.optimizers`
(Keras 3.15, JAX backend) to 1e-10 relative in float64 (tested against golden fixtures).
Keras' own `weight_decay`, `clipnorm` and friends are not arguments here: chain
`gradtx.add_decayed_weights` or `gradtx.clip_by_global_norm` instead.
"""

from __future__ import annotations

from gradtx import _validate
from gradtx._aliases.adaptive import adadelta, adagrad, rmsprop
from gradtx._aliases.descent import sgd
from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._schedules import warmup_constant_schedule
from gradtx._transforms.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_nadam
from gradtx._transforms.ftrl import ftrl
from gradtx._transforms.moments import scale_by_rms
from gradtx._transforms.scaling import scale_by_learning_rate
from gradtx._transforms.schedule_free import schedule_free
from gradtx._transforms.sign import scale_by_lion
from gradtx._transforms.trust_ratio import scale_by_trust_ratio


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
    amsgrad, the maximum of the uncorrected v_t."""
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
    """keras.optimizers.Lamb: Adam's step (eps outside the root of the bias-corrected v_t),
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
