"""Combining transformations: run them in sequence, or only on part of the tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from gradtx._base import GradientTransformation, OptState


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    r"""Apply transformations in sequence: u_t = T_n(... T_2(T_1(g_t)) ...).

    Each transformation keeps its own state; the chain's state is the tuple of them. Any object
    with `init` and `update` (an Optax transformation, say) can be a link.

    Example:
        >>> import gradtx
        >>> adam = gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(1e-3))
    """

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise ValueError(
                f"chain: the state must be a tuple of {len(transforms)} states, one per link, "
                f"got {type(state).__name__} of length {len(state) if isinstance(state, tuple) else '-'}. "
                "Was it made by this chain's `init`?"
            )
        new_state = []
        for transform, link_state in zip(transforms, state):
            updates, link_state = transform.update(updates, link_state, params)
            new_state.append(link_state)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


class MaskedState(NamedTuple):
    """State of `masked`: the inner state, built on the masked-in leaves only."""

    inner_state: OptState


class _MaskedOut(NamedTuple):
    """Placeholder for a masked-out leaf: an empty pytree node, so the inner tree keeps its shape."""


def _resolve_mask(mask: Any, params: Any) -> Any:
    return mask(params) if callable(mask) else mask


def _select(tree: Any, mask: Any) -> Any:
    """Keep the leaves where `mask` is True; masked-out leaves become empty nodes."""
    return jax.tree.map(lambda m, x: x if m else _MaskedOut(), mask, tree)


def masked(
    inner: GradientTransformation, mask: Any | Callable[[Any], Any]
) -> GradientTransformation:
    r"""Apply `inner` only to the leaves where `mask` is True.

    u_t[i] = inner(g_t)[i] where mask[i], g_t[i] otherwise.

    Masked-out leaves pass through unchanged (the gradient itself, not zero) and get no inner
    state, so a masked weight decay or a masked Adam costs nothing on them. `mask` is a tree of
    Python booleans with the params' structure, or a function of the params returning one.

    Example:
        >>> import gradtx
        >>> decay_weights_only = gradtx.masked(gradtx.add_decayed_weights(1e-4), {"w": True, "b": False})
    """

    def init(params):
        return MaskedState(inner.init(_select(params, _resolve_mask(mask, params))))

    def update(updates, state, params=None):
        leaf_mask = _resolve_mask(mask, updates if params is None else params)
        inner_params = None if params is None else _select(params, leaf_mask)
        new, inner_state = inner.update(_select(updates, leaf_mask), state.inner_state, inner_params)
        merged = jax.tree.map(
            lambda m, u, n: n if m else u,
            leaf_mask,
            updates,
            new,
            is_leaf=lambda x: isinstance(x, _MaskedOut),
        )
        return merged, MaskedState(inner_state)

    return GradientTransformation(init, update)

