"""Reduce the step when the loss stops improving (a plateau), as Keras and torch schedulers do."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, transformation


class ReduceOnPlateauState(NamedTuple):
    """State of `reduce_on_plateau`: Optax's `ReduceLROnPlateauState` in the same order, with its
    `count` named `window_count` (in gradtx a `count` counts every update). Scalars are in the
    dtype the loss is averaged in: the params' widest, at least float32."""

    scale: jax.Array  # shape (): s, the factor applied to the updates
    best_value: jax.Array  # shape (): the best average loss so far (inf at first)
    plateau_count: jax.Array  # shape (), int32: windows without improvement
    cooldown_count: jax.Array  # shape (), int32: windows left to wait after a reduction
    window_count: jax.Array  # shape (), int32: losses in the current window
    avg_value: jax.Array  # shape (): the mean loss of the current window


def reduce_on_plateau(
    factor: ArrayLike = 0.1,
    patience: ArrayLike = 10,
    rtol: ArrayLike = 1e-4,
    atol: ArrayLike = 0.0,
    cooldown: ArrayLike = 0,
    accumulation_size: ArrayLike = 1,
    min_scale: ArrayLike = 0.0,
) -> GradientTransformation:
    r"""Scale updates by $s$, multiplied by `factor` whenever the loss has stopped improving.

    Each call takes the loss as `value=`. Losses are averaged over windows of $A$ calls; at the
    end of a window with mean $\bar f$ and best mean so far $f^*$:

    $$\text{improved} = \bar f < (1 - r) f^* - a, \qquad
    f^* \leftarrow \bar f \text{ if improved}, \qquad
    p \leftarrow 0 \text{ if improved else } p + 1$$

    and, unless in a cooldown (then $p \leftarrow 0$ and one cooldown window passes), when
    $p = P$: $s \leftarrow \max(\phi s, s_{min})$, $p \leftarrow 0$, and a cooldown of $C$
    windows starts. Every update is $u_t = s\, g_t$, with $s$ after this call's window.

    Args:
        factor: $\phi$, in (0, 1): the factor by which $s$ shrinks.
        patience: $P \ge 1$, windows without improvement before a reduction.
        rtol: $r$, in [0, 1]: the relative improvement that counts.
        atol: $a \ge 0$: the absolute improvement that counts (one of $r$, $a$ must be > 0).
        cooldown: $C \ge 0$, windows after a reduction during which none is counted.
        accumulation_size: $A \ge 1$, losses averaged per window.
        min_scale: $s_{min} \ge 0$, the floor of $s$ (and $s \ge s_{min}$ from the first window).

    Returns:
        A `GradientTransformationExtraArgs` whose `update(updates, state, params=None, *, value)`
        takes the loss, with state
        `ReduceOnPlateauState(scale, best_value, plateau_count, cooldown_count, window_count,
        avg_value)`.

    Note:
        As Optax's `optax.contrib.reduce_on_plateau`, with two differences. With $r = 1$ the
        threshold $(1 - r) f^*$ is $0 \cdot \infty = $ NaN at first in Optax, so no loss ever
        improves on it and $s$ shrinks every $P$ windows; gradtx's first window always improves.
        Optax keeps $s$ in the params' narrowest dtype (bfloat16 for bfloat16 params, where
        $0.1$ is $0.10009765625$) and the losses in their widest; gradtx keeps all three in
        float32 or wider. torch's `ReduceLROnPlateau` and Keras' callback work per epoch; a
        window of $A$ calls is the epoch here.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.chain(gradtx.sgd(0.1), gradtx.reduce_on_plateau(patience=1))
        >>> state = tx.init(jnp.zeros(2))
        >>> for loss in (3.0, 2.0, 2.0):
        ...     updates, state = tx.update(jnp.ones(2), state, value=loss)
        >>> updates
        Array([-0.01, -0.01], dtype=float32)
    """
    where = "reduce_on_plateau"
    _validate.check_finite(where, factor=factor)
    if isinstance(factor, (int, float)) and not 0 < factor < 1:
        raise ValueError(f"{where}: factor must be in (0, 1), got {factor!r}")
    _validate.check_non_negative(where, rtol=rtol, atol=atol, min_scale=min_scale)
    if isinstance(rtol, (int, float)) and rtol > 1:
        raise ValueError(f"{where}: rtol must be in [0, 1], got {rtol!r}")
    if isinstance(rtol, (int, float)) and isinstance(atol, (int, float)) and rtol == atol == 0:
        raise ValueError(
            f"{where}: rtol and atol are both 0, so no loss would count as an improvement; "
            "make one positive, e.g. rtol=1e-4"
        )
    _validate.check_int(where, 1, patience=patience, accumulation_size=accumulation_size)
    _validate.check_int(where, 0, cooldown=cooldown)

    def init(params):
        leaves = jax.tree.leaves(params)
        dtype = _tree.compute_dtype(*leaves) if leaves else jnp.float32
        dtype = jnp.finfo(dtype).dtype  # real, for complex params
        zero = lambda: jnp.zeros([], jnp.int32)  # noqa: E731
        return ReduceOnPlateauState(
            scale=jnp.ones([], dtype),
            best_value=jnp.full([], jnp.inf, dtype),
            plateau_count=zero(),
            cooldown_count=zero(),
            window_count=zero(),
            avg_value=jnp.zeros([], dtype),
        )

    def end_of_window(state, avg):
        phi, r, a, floor = _tree.as_dtype(avg.dtype, factor, rtol, atol, min_scale)
        threshold = jnp.where(jnp.isinf(state.best_value), jnp.inf, (1 - r) * state.best_value - a)
        improved = avg < threshold
        plateau = jnp.where(improved, 0, _tree.safe_increment(state.plateau_count))
        cooling = state.cooldown_count > 0
        reduce = ~cooling & (plateau == jnp.asarray(patience, jnp.int32))
        scale = jnp.where(reduce, state.scale * phi, state.scale)
        return ReduceOnPlateauState(
            scale=jnp.where(cooling, state.scale, jnp.maximum(scale, floor)),
            best_value=jnp.where(improved, avg, state.best_value),
            plateau_count=jnp.where(cooling | reduce, 0, plateau),
            cooldown_count=jnp.where(
                cooling,
                state.cooldown_count - 1,
                jnp.where(reduce, jnp.asarray(cooldown, jnp.int32), 0),
            ),
            window_count=jnp.zeros([], jnp.int32),
            avg_value=jnp.zeros([], avg.dtype),
        )

    def update(updates, state, params=None, *, value, **extra_args):
        del params, extra_args
        _validate.check_loss("reduce_on_plateau", value)
        dtype = state.avg_value.dtype
        previous, count = state.window_count, _tree.safe_increment(state.window_count)
        value = jnp.asarray(value).astype(dtype)
        avg = (previous.astype(dtype) * state.avg_value + value) / count.astype(dtype)
        window_ends = count == jnp.asarray(accumulation_size, jnp.int32)
        ended = end_of_window(state, avg)
        running = state._replace(window_count=count, avg_value=avg)
        state = jax.tree.map(lambda e, r: jnp.where(window_ends, e, r), ended, running)

        def scaled(g):
            g = jnp.asarray(g)
            wide = _tree.compute_dtype(g)
            return (state.scale.astype(wide) * g.astype(wide)).astype(g.dtype)

        return jax.tree.map(scaled, updates), state

    return transformation(init, update, extra_args=True)
