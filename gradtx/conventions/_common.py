"""Weight decay placement and Adafactor's relative step size, shared by the framework adapters."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.scaling import learning_rate_at, scale_by_learning_rate


def with_weight_decay(
    scaler: GradientTransformation,
    learning_rate: ScalarOrSchedule,
    weight_decay: float,
    *,
    decoupled: bool,
) -> GradientTransformation:
    r"""`scaler`, weight decay and the learning rate, in the framework's order.

    Coupled (L2): u = -\eta\, S(g + \lambda\theta). Decoupled: u = -\eta\,(S(g) + \lambda\theta),
    which is torch's \theta (1 - \eta\lambda) - \eta S(g).
    """
    decay = add_decayed_weights(weight_decay)
    if decoupled:
        return chain(scaler, decay, scale_by_learning_rate(learning_rate))
    return chain(decay, scaler, scale_by_learning_rate(learning_rate))


def relative_step_size(learning_rate: ScalarOrSchedule) -> Callable[[jax.Array], jax.Array]:
    r"""Adafactor's relative step size capped by the learning rate, as a schedule of the count.

    $$\rho_t = \min(\eta_t, 1/\sqrt{t}), \qquad t = \text{count} + 1$$

    torch's and Keras' `Adafactor` (the paper's Section 8 takes $\eta = 10^{-2}$); the step is
    $\rho_t$ times the parameter's RMS (`scale_by_param_block_rms`).

    Example:
        >>> import jax.numpy as jnp
        >>> float(relative_step_size(1.0)(jnp.asarray(3)))
        0.5
    """

    def schedule(count: jax.Array) -> jax.Array:
        t = jnp.asarray(count + 1).astype(jnp.result_type(float))
        return jnp.minimum(learning_rate_at(learning_rate, count), 1 / jnp.sqrt(t))

    return schedule
