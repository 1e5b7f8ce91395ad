"""When Adam fails to converge or to generalise: AMSGrad, AdaBound, AMSBound, SWATS (2017-2019)."""

from __future__ import annotations

from typing import Any

from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._config import register_alias
from gradtx._transforms.adam import scale_by_amsgrad
from gradtx._transforms.bound import bound_lr, max_rms_step_size, rms_step_size
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.scaling import scale_by_learning_rate
from gradtx._transforms.swats import scale_by_swats


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


@register_alias
def swats(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-9,
    *,
    eps_switch: float = 1e-6,
) -> GradientTransformation:
    """SWATS (Keskar & Socher 2017): `scale_by_swats`, then `scale_by_learning_rate`.

    The defaults are Algorithm 1's: \\alpha = 10^{-3}, \\epsilon = 10^{-9}, and a switch tolerance
    of 10^{-9} in absolute terms (`eps_switch` is in units of the learning rate).

    Example:
        >>> import gradtx
        >>> tx = gradtx.swats(1e-3)
    """
    return chain(
        scale_by_swats(b1, b2, eps, eps_switch=eps_switch), scale_by_learning_rate(learning_rate)
    )
