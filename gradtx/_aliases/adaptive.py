"""Per-parameter learning rates: Adagrad, Adadelta and RMSprop (2011-2012)."""

from __future__ import annotations

from jax.typing import ArrayLike

from gradtx._aliases.descent import momentum_or_identity
from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._registry import compiles, register_alias
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.moments import scale_by_adadelta, scale_by_rms, scale_by_rss
from gradtx._transforms.scaling import scale_by_learning_rate


@register_alias
@compiles
def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
) -> GradientTransformation:
    """Adagrad: each coordinate's step divided by the root of its summed squared gradients.

    The chain: `scale_by_rss`, then `scale_by_learning_rate`.

    References: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization", JMLR 2011.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adagrad(0.5, initial_accumulator_value=0.0)
    """
    return chain(
        scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate)
    )


@register_alias(static=("weight_decay_mask",))
@compiles
def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Mask = None,
) -> GradientTransformation:
    r"""Adadelta: Adagrad's step with units, from decaying averages of squared gradients and steps.

    The chain: `add_decayed_weights` (L2), `scale_by_adadelta`, then `scale_by_learning_rate`.
    Without a learning rate this is Zeiler's rule, $x_{t+1} = x_t - u_t$, and descends. Optax
    0.2.8 skips the sign flip when `learning_rate=None` and so *ascends* the loss ($\sum x^2$ from
    14.0 to 16.4 in 50 steps); gradtx uses a learning rate of 1 instead.

    References: Zeiler, "ADADELTA: An Adaptive Learning Rate Method", arXiv:1212.5701, 2012,
    Algorithm 1.

    Example:
        >>> import gradtx
        >>> tx = gradtx.adadelta(rho=0.95)  # no learning rate to tune
    """
    return chain(
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_adadelta(rho, eps),
        scale_by_learning_rate(1.0 if learning_rate is None else learning_rate),
    )


@register_alias
@compiles
def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSprop: each step divided by the root of a decaying average of squared gradients.

    The chain: `scale_by_rms`, `scale_by_learning_rate`, then momentum (`trace`) on the scaled
    step, as in Optax. The switches `eps_in_sqrt`, `centered`, `nesterov` and `bias_correction`
    stay positional, in Optax 0.2.8's order.

    References: Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning", lecture 6e,
    2012; centered: Graves, "Generating Sequences With Recurrent Neural Networks",
    arXiv:1308.0850, 2013, eq. 38-41.

    Example:
        >>> import gradtx
        >>> tx = gradtx.rmsprop(1e-3, centered=True, momentum=0.9)
    """
    return chain(
        scale_by_rms(
            decay,
            eps,
            initial_scale,
            eps_in_sqrt=eps_in_sqrt,
            bias_correction=bias_correction,
            centered=centered,
        ),
        scale_by_learning_rate(learning_rate),
        momentum_or_identity(momentum, nesterov),
    )
