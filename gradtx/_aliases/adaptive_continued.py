"""After AdaBound: RAdam, AdaBelief, Yogi, ADOPT and ACProp (2018-2024), each one adaptive scaler
and a learning rate."""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax.typing import ArrayLike, DTypeLike

from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.acprop import scale_by_acprop
from gradtx._transforms.adaptive import (
    scale_by_adopt,
    scale_by_belief,
    scale_by_radam,
    scale_by_yogi,
)
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.scaling import scale_by_learning_rate


@register_alias
@compiles
def radam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    threshold: ArrayLike = 5.0,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """RAdam: Adam whose adaptive rate is rectified for its variance, momentum SGD until then.

    The chain: `scale_by_radam`, then `scale_by_learning_rate`.

    References: Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond",
    ICLR 2020, Algorithm 2.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.radam(1e-3)
        >>> tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))[0]  # rho_1 = 1 < 5: momentum SGD
        Array([-0.001, -0.001], dtype=float32)
    """
    return chain(
        scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
@compiles
def adabelief(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdaBelief: Adam dividing by the spread of the gradients around their mean.

    The chain: `scale_by_belief`, then `scale_by_learning_rate`.

    References: Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients", NeurIPS 2020, Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adabelief(1e-3)
    """
    return chain(
        scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
@compiles
def yogi(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-3,
    *,
    initial_mu: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Yogi: Adam whose second moment changes by at most $(1-\beta_2) g_t^2$ per step.

    The chain: `scale_by_yogi` (with $v_0 = 10^{-6}$), then `scale_by_learning_rate`.

    References: Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018,
    Algorithm 2.

    Note:
        The first moment starts at $m_0 = 0$, as in the paper; Optax 0.2.8 starts it at
        $10^{-6}$, so that zero gradients move the params: `initial_mu=1e-6` follows Optax.

    Example:
        >>> import gradtx
        >>> tx = gradtx.yogi(1e-2)
    """
    return chain(
        scale_by_yogi(b1, b2, eps, initial_mu=initial_mu), scale_by_learning_rate(learning_rate)
    )


@register_alias(static=("mu_dtype", "clip_value_fn"))
@compiles
def adopt(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.9999,
    eps: ArrayLike = 1e-6,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> GradientTransformation:
    r"""ADOPT: momentum of gradients normalized by the second moment of the previous ones.

    The chain: `scale_by_adopt`, then `scale_by_learning_rate`; the first step only measures
    $v_0 = g_0^2$ and does not move. Optax has it as `optax.contrib.adopt`.

    References: Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any $\beta_2$ with
    the Optimal Rate", NeurIPS 2024.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adopt(1e-3)
    """
    return chain(
        scale_by_adopt(
            b1,
            b2,
            eps,
            mu_dtype,
            nesterov=nesterov,
            use_clipping=use_clipping,
            clip_value_fn=clip_value_fn,
        ),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mask",))
@compiles
def acprop(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-16,
    eps_root: ArrayLike = 1e-16,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: Mask = None,
) -> GradientTransformation:
    r"""ACProp: $u_t = -\eta_t \big(g_t / (\sqrt{\hat s_{t-1}} + \epsilon) + \lambda \theta\big)$,
    with AdaBelief's centred second moment from the steps before this one.

    The chain: `scale_by_acprop`, then `add_decayed_weights(weight_decay, mask)` (scaled by the
    learning rate, as in torch's convention), then `scale_by_learning_rate`.

    References: Zhuang, Ding, Tang, Dvornek, Tatikonda & Duncan, "Momentum Centering and
    Asynchronous Update for Adaptive Gradient Methods", NeurIPS 2021.

    Example:
        >>> import gradtx
        >>> tx = gradtx.acprop(1e-3)
    """
    return chain(
        scale_by_acprop(b1, b2, eps, eps_root),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
