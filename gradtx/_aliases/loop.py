"""Loop-level methods: optimistic gradient descent for games (2018-2020), and Optimistic Adam."""

from __future__ import annotations

from typing import Any

from jax.typing import ArrayLike

from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.adam import scale_by_adam
from gradtx._transforms.optimistic import scale_by_optimistic_gradient
from gradtx._transforms.scaling import scale, scale_by_learning_rate


@register_alias
@compiles
def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
) -> GradientTransformation:
    r"""Optimistic gradient descent: $\theta_{t+1} = \theta_t - \eta_t((\alpha + \beta) g_t -
    \beta g_{t-1})$, which converges in last iterate on min-max games where descent cycles.

    The chain: `scale_by_optimistic_gradient`, then `scale_by_learning_rate`.

    References: Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018;
    Mokhtari, Ozdaglar & Pattathil, AISTATS 2020.

    Note: Optax returns a `GradientTransformationExtraArgs` (every Optax chain is one); gradtx a
    plain `GradientTransformation`, as it takes no extra arguments.

    Example:
        >>> import gradtx
        >>> tx = gradtx.optimistic_gradient_descent(0.1)
    """
    return chain(scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(learning_rate))


@register_alias(static=("mu_dtype",))
@compiles
def optimistic_adam(
    learning_rate: ScalarOrSchedule,
    optimism: ScalarOrSchedule | None = None,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-08,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam: the optimistic extrapolation of Adam's direction $r_t$, with
    $u_t = -\big(\alpha_t r_t + o_t (r_t - r_{t-1})\big)$, $r_0 = r_1$.

    $r_t$ is `scale_by_adam`'s direction $\hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} +
    \epsilon)$ (Nadam's look-ahead $\hat m_t$ by default, `nesterov=True`), $\alpha_t$ the
    learning rate and $o_t$ the optimism, the learning rate when None (as in the paper, where
    the step is $-2\eta r_t + \eta r_{t-1}$).

    The chain: `scale_by_adam`, then `scale_by_optimistic_gradient(alpha=learning_rate,
    beta=optimism)`, then `scale(-1.0)`; `optimistic_adam_v2` is the same method with the
    learning rate outside the extrapolation.

    References: Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018,
    Algorithm 1 (Optimistic Adam).

    Note: Optax 0.2.8 deprecates this interface (with a warning) in favour of
    `optimistic_adam_v2`, and raises on a schedule as `learning_rate`; gradtx keeps it without a
    warning and takes schedules for both `learning_rate` and `optimism` (each evaluated at the
    number of earlier updates). The default `nesterov=True` is Optax's; the paper's Algorithm 1
    uses Adam's plain $\hat m_t$ (`nesterov=False`).

    Example:
        >>> import gradtx
        >>> tx = gradtx.optimistic_adam(1e-3)
    """
    optimism = learning_rate if optimism is None else optimism
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha=learning_rate, beta=optimism),
        scale(-1.0),
    )


@register_alias(static=("mu_dtype",))
@compiles
def optimistic_adam_v2(
    learning_rate: ScalarOrSchedule,
    *,
    alpha: ScalarOrSchedule = 1.0,
    beta: ScalarOrSchedule = 1.0,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-08,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    nesterov: bool = True,
) -> GradientTransformation:
    r"""Optimistic Adam with the learning rate outside: $u_t = -\eta_t\big((\alpha_t +
    \beta_t) r_t - \beta_t r_{t-1}\big)$, $r_0 = r_1$, with $r_t$ Adam's direction.

    $r_t = \hat m_t / (\sqrt{\hat v_t + \epsilon_{root}} + \epsilon)$ (Nadam's look-ahead
    $\hat m_t$ by default, `nesterov=True`); $\alpha = \beta = 1$ gives the paper's
    $-\eta(2 r_t - r_{t-1})$. Every argument after the learning rate is keyword-only, as in
    Optax.

    The chain: `scale_by_adam`, then `scale_by_optimistic_gradient(alpha, beta)`, then
    `scale_by_learning_rate`.

    References: Daskalakis, Ilyas, Syrgkanis & Zeng, "Training GANs with Optimism", ICLR 2018,
    Algorithm 1 (Optimistic Adam).

    Note: as in `optimistic_gradient_descent`, $\alpha$ and $\beta$ may be schedules here
    (Optax types them as arrays). The default `nesterov=True` is Optax's; the paper's
    Algorithm 1 uses Adam's plain $\hat m_t$ (`nesterov=False`).

    Example:
        >>> import gradtx
        >>> tx = gradtx.optimistic_adam_v2(1e-3, alpha=1.0, beta=0.5)
    """
    return chain(
        scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
        scale_by_optimistic_gradient(alpha, beta),
        scale_by_learning_rate(learning_rate),
    )
