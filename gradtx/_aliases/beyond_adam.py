"""When Adam fails to converge or to generalise: AMSGrad, AdaBound, AMSBound, SWATS (2017-2019)."""

from __future__ import annotations

from jax.typing import ArrayLike, DTypeLike

from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.adam import scale_by_amsgrad
from gradtx._transforms.bound import bound_lr, max_rms_step_size, rms_step_size
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.scaling import scale_by_learning_rate
from gradtx._transforms.swats import EPS_SWITCH, scale_by_swats


@register_alias(static=("mu_dtype",))
@compiles
def amsgrad(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""AMSGrad: Adam whose second moment never decreases, $\hat v_t = \max(\hat v_{t-1}, v_t)$.

    The chain: `scale_by_amsgrad`, then `scale_by_learning_rate`.

    References: Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018,
    Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.amsgrad(1e-3, b2=0.99)
    """
    return chain(
        scale_by_amsgrad(b1, b2, eps, eps_root=eps_root, mu_dtype=mu_dtype),
        scale_by_learning_rate(learning_rate),
    )


@register_alias
@compiles
def adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: ArrayLike = 0.1,
    gamma: ArrayLike = 1e-3,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    r"""AdaBound: Adam's per-coordinate rate clipped into a band that closes on SGD's `final_lr`.

    The chain, as the authors' `adabound` package computes it: `add_decayed_weights` (L2), then
    `bound_lr` around `rms_step_size`; the band at step $t$ is
    $\eta^*(1 - 1/(\gamma t + 1)) \le \eta_t \le \eta^*(1 + 1/(\gamma t))$. Optax has none.

    References: Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate", ICLR 2019, Algorithm 2.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adabound(1e-3, final_lr=0.1)
    """
    return chain(
        add_decayed_weights(weight_decay),
        bound_lr(rms_step_size(b2, eps), learning_rate, final_lr, gamma, b1=b1),
    )


@register_alias
@compiles
def amsbound(
    learning_rate: ScalarOrSchedule = 1e-3,
    final_lr: ArrayLike = 0.1,
    gamma: ArrayLike = 1e-3,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
) -> GradientTransformation:
    """AMSBound: AdaBound on AMSGrad's non-decreasing second moment.

    The chain, as the authors' `adabound` package computes it: `add_decayed_weights` (L2), then
    `bound_lr` around `max_rms_step_size`. Optax has none.

    References: Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of Learning
    Rate", ICLR 2019, Algorithm 3.

    Example:
        >>> import gradtx
        >>> tx = gradtx.amsbound(1e-3, final_lr=0.1, gamma=1e-3)
    """
    return chain(
        add_decayed_weights(weight_decay),
        bound_lr(max_rms_step_size(b2, eps), learning_rate, final_lr, gamma, b1=b1),
    )


@register_alias
@compiles
def swats(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-9,
    *,
    eps_switch: ArrayLike = EPS_SWITCH,
) -> GradientTransformation:
    r"""SWATS: Adam until its projected step settles, then SGD at the rate it learned.

    The chain: `scale_by_swats`, then `scale_by_learning_rate`. $\alpha = 10^{-3}$ and
    $\epsilon = 10^{-9}$ are Algorithm 1's; the switch test is relative,
    $|\Lambda_k - \gamma_k| < \epsilon_{switch} |\gamma_k|$ with $\Lambda_k > 0$, at
    $\epsilon_{switch} = 10^{-3}$, where the paper's absolute $10^{-9}$ asks float32 for
    bit-equality (`scale_by_swats` says why). `gradtx.swats_switch(state, learning_rate)` reads
    the switch step and the learned SGD rate.

    References: Keskar & Socher, "Improving Generalization Performance by Switching from Adam to
    SGD", arXiv:1712.07628, 2017, Algorithm 1.

    Example:
        >>> import gradtx
        >>> tx = gradtx.swats(1e-3)
    """
    return chain(
        scale_by_swats(b1, b2, eps, eps_switch=eps_switch), scale_by_learning_rate(learning_rate)
    )
