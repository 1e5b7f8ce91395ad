"""Weight decay as a term added to the updates."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Mask, ScalarOrSchedule, transformation
from gradtx._combine import masked
from gradtx._transforms.scaling import learning_rate_at


class AddDecayedWeightsState(NamedTuple):
    """State of `add_decayed_weights`."""

    count: jax.Array  # shape (), int32: updates so far, for a scheduled weight decay


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0, mask: Mask | None = None
) -> GradientTransformation:
    r"""Add the parameters scaled by the weight decay: $u_t = g_t + \lambda_t \theta_{t-1}$.

    Before an adaptive scaler this is L2 regularisation (coupled, as in torch.optim's Adam with
    weight_decay); after it, and before the learning rate, it is decoupled weight decay (AdamW).

    Args:
        weight_decay: $\lambda$, a non-negative number, an array, or a schedule.
        mask: a tree of booleans (or a function of the params returning one): decay only where
            True; other leaves pass through unchanged.

    Returns:
        A transformation with state `AddDecayedWeightsState(count)`; it needs `params`.

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.

    Example:
        >>> import gradtx
        >>> adamw = gradtx.chain(gradtx.scale_by_adam(), gradtx.add_decayed_weights(1e-4),
        ...                      gradtx.scale_by_learning_rate(1e-3))
    """
    _validate.check_scalar_or_schedule("add_decayed_weights", "weight_decay", weight_decay)

    def init(params):
        del params
        return AddDecayedWeightsState(jnp.zeros([], jnp.int32))

    def rule(decay, g, p):
        dt = _tree.compute_dtype(g, p)
        return (g.astype(dt) + jnp.asarray(decay, dt) * p.astype(dt)).astype(g.dtype)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(
                "add_decayed_weights: update needs the params to decay; call "
                "update(updates, state, params)"
            )
        decay = learning_rate_at(weight_decay, state.count)
        updates = _tree.map_leaves(
            lambda g, p: rule(decay, g, p),
            updates,
            params,
            where="add_decayed_weights",
            names=("params",),
        )
        return updates, AddDecayedWeightsState(_tree.safe_increment(state.count))

    transform = transformation(init, update)
    return transform if mask is None else masked(transform, mask)
