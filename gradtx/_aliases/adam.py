"""Adam and its variants: AdamW, AdaMax, Nadam, NadamW and AdaMaxW (2014-2019)."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.adam import scale_by_adam, scale_by_adamax
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.scaling import scale_by_learning_rate


@register_alias(static=("mu_dtype",))
@compiles
def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam: steps from bias-corrected estimates of the gradient's first and second moments.

    The chain: `scale_by_adam`, then `scale_by_learning_rate`.

    References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    Algorithm 1.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.adam(1e-3)
        >>> tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))[0]  # the first step is -lr sign(g)
        Array([-0.001, -0.001], dtype=float32)
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mu_dtype",))
@compiles
def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Nadam: Adam with Nesterov momentum, the first moment looked one step ahead.

    The chain: `scale_by_adam(nesterov=True)`, then `scale_by_learning_rate`. As in Optax, the
    momentum schedule is constant, $\mu_t = \beta_1$; Dozat's warming schedule is
    `scale_by_nadam`.

    References: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.

    Example:
        >>> import gradtx
        >>> tx = gradtx.nadam(2e-3, b2=0.99)
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=True),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mu_dtype", "mask"))
@compiles
def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""AdamW: Adam with weight decay decoupled from the adaptive step.

    The chain: `scale_by_adam`, `add_decayed_weights`, then `scale_by_learning_rate`, so the
    step is $-\eta_t (\hat m_t / (\sqrt{\hat v_t} + \epsilon) + \lambda x_{t-1})$.

    References: Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
    Algorithm 2.

    Example:
        >>> import gradtx, jax
        >>> matrices_only = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
        >>> tx = gradtx.adamw(1e-3, weight_decay=1e-2, mask=matrices_only)
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
@compiles
def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> GradientTransformation:
    r"""AdaMax: Adam with the $L^\infty$ norm in place of the second moment.

    The chain: `scale_by_adamax`, then `scale_by_learning_rate`.

    References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    Section 7.1, Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adamax(2e-3)
    """
    return chain(scale_by_adamax(b1, b2, eps), scale_by_learning_rate(learning_rate))


@register_alias(static=("mu_dtype", "mask"))
@compiles
def nadamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
) -> GradientTransformation:
    r"""NadamW: Nadam with weight decay decoupled from the adaptive step.

    The chain: `scale_by_adam(nesterov=True)`, `add_decayed_weights`, then
    `scale_by_learning_rate`; `adamw(..., nesterov=True)` is the same optimizer.

    References: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop;
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.nadamw(1e-3, weight_decay=1e-2)
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=True),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )


@register_alias(static=("mask",))
@compiles
def adamaxw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
) -> GradientTransformation:
    r"""AdaMaxW: AdaMax with weight decay decoupled from the adaptive step.

    The chain: `scale_by_adamax`, `add_decayed_weights`, then `scale_by_learning_rate`, so the
    step is $-\eta_t (\hat m_t / u^{\infty}_t + \lambda x_{t-1})$.

    References: Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    Algorithm 2; Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adamaxw(2e-3, weight_decay=1e-2)
    """
    return chain(
        scale_by_adamax(b1, b2, eps),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
