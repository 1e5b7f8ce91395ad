"""Loop-level methods: optimistic gradient descent for games (2018-2020)."""

from __future__ import annotations

from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.optimistic import scale_by_optimistic_gradient
from gradtx._transforms.scaling import scale_by_learning_rate


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
