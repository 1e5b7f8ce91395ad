"""Adam and its variants: AdamW, AdaMax and Nadam (2014-2019)."""

from __future__ import annotations

from typing import Any

from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._config import register_alias
from gradtx._transforms.adam import scale_by_adam, scale_by_adamax
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.scaling import scale_by_learning_rate


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
