"""The menu: ready-made optimizers, each one chain of transformations.

Where Optax has the same optimizer, the name, argument names, order and defaults are Optax's, so
`import gradtx as optax` keeps such code working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradtx._adam import scale_by_adam, scale_by_adamax, scale_by_amsgrad
from gradtx._base import GradientTransformation, ScalarOrSchedule, identity
from gradtx._bound import bound_lr, max_rms_step_size, rms_step_size
from gradtx._combine import chain
from gradtx._config import register_alias
from gradtx._decay import add_decayed_weights
from gradtx._moments import scale_by_adadelta, scale_by_rms, scale_by_rss
from gradtx._momentum import trace
from gradtx._scaling import scale_by_learning_rate

Mask = Any | Callable[[Any], Any]


def _momentum(momentum: float | None, nesterov: bool) -> GradientTransformation:
    return identity() if momentum is None else trace(momentum, nesterov)


@register_alias
def sgd(
    learning_rate: ScalarOrSchedule, momentum: float | None = None, nesterov: bool = False
) -> GradientTransformation:
    """Stochastic gradient descent, with optional heavy-ball or Nesterov momentum: `trace`, then
    `scale_by_learning_rate`. Robbins & Monro 1951; Qian 1999; Nesterov 1983."""
    return chain(_momentum(momentum, nesterov), scale_by_learning_rate(learning_rate))


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
        _momentum(momentum, nesterov),
    )


@register_alias
def adam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam (Kingma & Ba 2015): `scale_by_adam`, then `scale_by_learning_rate`."""
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Nadam (Dozat 2016): `scale_by_adam(nesterov=True)`, then `scale_by_learning_rate`."""
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=True)


@register_alias
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019): `scale_by_adam`, decoupled `add_decayed_weights`, then
    `scale_by_learning_rate`."""
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
def adamax(
    learning_rate: ScalarOrSchedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, Section 7.1): `scale_by_adamax`, then `scale_by_learning_rate`."""
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


@register_alias
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """AMSGrad (Reddi et al. 2018): `scale_by_amsgrad`, then `scale_by_learning_rate`."""
    return chain(
        scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype), scale_by_learning_rate(learning_rate)
    )


@register_alias
def adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    """AdaBound (Luo et al. 2019), as the authors' `adabound` package computes it:
    L2 `add_decayed_weights`, then `bound_lr` around `rms_step_size`. Optax has none."""
    return chain(
        add_decayed_weights(weight_decay),
        bound_lr(rms_step_size(b2, eps), learning_rate, final_lr, gamma, b1=b1),
    )


@register_alias
def amsbound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    """AMSBound (Luo et al. 2019), as the authors' `adabound` package computes it:
    L2 `add_decayed_weights`, then `bound_lr` around `max_rms_step_size`. Optax has none."""
    return chain(
        add_decayed_weights(weight_decay),
        bound_lr(max_rms_step_size(b2, eps), learning_rate, final_lr, gamma, b1=b1),
    )
