"""Per-parameter learning rates: Adagrad, Adadelta and RMSprop (2011-2012)."""

from __future__ import annotations

from gradtx._aliases.descent import momentum_or_identity
from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._config import register_alias
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.moments import scale_by_adadelta, scale_by_rms, scale_by_rss
from gradtx._transforms.scaling import scale_by_learning_rate


@register_alias
def adagrad(
    learning_rate: ScalarOrSchedule, initial_accumulator_value: float = 0.1, eps: float = 1e-7
) -> GradientTransformation:
    """Adagrad (Duchi et al. 2011): `scale_by_rss`, then `scale_by_learning_rate`."""
    return chain(
        scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate)
    )


@register_alias
def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask = None,
) -> GradientTransformation:
    """Adadelta (Zeiler 2012): `add_decayed_weights`, `scale_by_adadelta`, `scale_by_learning_rate`.

    Without a learning rate this is Zeiler's rule, x_{t+1} = x_t - u_t, and descends. Optax 0.2.8
    skips the sign flip when `learning_rate=None` and so *ascends* the loss (sum(x^2) from 14.0 to
    16.4 in 50 steps); gradtx uses a learning rate of 1 instead.
    """
    return chain(
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
    )


@register_alias
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSprop (Hinton 2012; centered: Graves 2013): `scale_by_rms`, `scale_by_learning_rate`,
    then momentum on the scaled step, as in Optax."""
    return chain(
        scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=centered),
        scale_by_learning_rate(learning_rate),
        momentum_or_identity(momentum, nesterov),
    )
