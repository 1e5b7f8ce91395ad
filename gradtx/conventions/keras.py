"""Keras 3's optimizers as gradtx chains: same names, argument names and defaults.

Every function returns a `GradientTransformation` whose trajectory matches `keras.optimizers`
(Keras 3.15, JAX backend) to 1e-10 relative in float64 (tested against golden fixtures).
Keras' own `weight_decay`, `clipnorm` and friends are not arguments here: chain
`gradtx.add_decayed_weights` or `gradtx.clip_by_global_norm` instead.
"""

from __future__ import annotations

from gradtx._aliases.adaptive import adadelta, adagrad, rmsprop
from gradtx._aliases.descent import sgd
from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._transforms.adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad, scale_by_nadam
from gradtx._transforms.scaling import scale_by_learning_rate


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
