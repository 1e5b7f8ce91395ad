"""Weight decay placement shared by the framework adapters."""

from __future__ import annotations

from gradtx._base import GradientTransformation, ScalarOrSchedule
from gradtx._combine import chain
from gradtx._transforms.decay import add_decayed_weights
from gradtx._transforms.scaling import scale_by_learning_rate


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
