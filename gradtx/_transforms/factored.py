"""Memory-savers: Adafactor's factored second moments and SM3's cover of maxima (2018-2019).

Adam keeps two numbers per parameter. Adafactor keeps, for a matrix, one number per row and one
per column and rebuilds the second moment as their outer product; SM3 keeps one number per row
and per column (per slice of each axis) and bounds each entry's sum of squares by the smallest
of them. Their statistics are not shaped like the params, so these rules are mapped leaf by leaf
by hand, with the lift's dtype policy (compute in float32 or wider, store in the param's dtype);
the lift runs what is shaped like the params (SM3's momentum, `ema`). The small links Adafactor
chains after its scaler live here too: `clip_by_block_rms`, `scale_by_param_block_rms`, `ema`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Updates, init_empty_state, transformation

Statistics = Any  # per-leaf statistics not shaped like the params (None where a leaf has none)


def _leaves(where: str, updates: Any, *trees: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    """The leaves of `updates`, and for each tree its subtrees at those leaves."""
    treedef = jax.tree.structure(updates)
    columns = [[jnp.asarray(g) for g in treedef.flatten_up_to(updates)]]
    for name, tree in zip(names, trees, strict=True):
        try:
            columns.append(treedef.flatten_up_to(tree))
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{where}: the state's {name} does not match the updates' tree ({error}). Was "
                "the state made by this optimizer's `init` on params shaped like these updates?"
            ) from None
    _tree.check_inexact(columns[0], tree=updates, name="updates", where=where)
    return treedef, columns


def _check_shape(where: str, updates: Any, index: int, name: str, got: Any, want: tuple) -> None:
    if got is None or jnp.shape(got) != want:
        path = _tree.leaf_paths(updates)[index]
        raise ValueError(
            f"{where}: {name} leaf {path} has shape {None if got is None else jnp.shape(got)} "
            f"but should have {want}. Was the state made by this optimizer's `init` on params "
            "shaped like these updates?"
        )


def _zeros_along(x: Any, axes: tuple[int, ...]) -> jax.Array:
    """Zeros shaped like `x` summed over `axes`, placed as XLA places that sum of a leaf sharded
    like `x` (the kept axes keep their sharding)."""
    return jnp.sum(_tree.zeros_like(jnp.asarray(x)), axis=axes)


# Adafactor.


def _decay_rate_pow(i: ArrayLike, exponent: ArrayLike = 0.8) -> jax.Array:
    r"""Adafactor's $\hat\beta_{2t} = 1 - t^{-c}$ with $t = i + 1$, in float64 when x64 is on."""
    t = jnp.asarray(i + 1).astype(jnp.result_type(float))
    return 1 - t ** -jnp.asarray(exponent).astype(t.dtype)


def factored_dims(
    shape: tuple[int, ...], factored: bool, min_dim_size_to_factor: int, last_axes: bool = False
):
    """(second-largest axis, largest axis) of a leaf whose second-largest axis has at least
    `min_dim_size_to_factor` entries; None for vectors, scalars and smaller leaves (Optax's rule,
    ties broken as `np.argsort` breaks them). With `last_axes`, the last two axes (rows, columns)
    whatever their sizes, if the smaller has at least `min_dim_size_to_factor` entries."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if last_axes:
        order = np.array([len(shape) - 2, len(shape) - 1])
    if min(shape[order[-2]], shape[order[-1]]) < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


class FactoredState(NamedTuple):
    """State of `scale_by_factored_rms`. For each leaf either `v_row` and `v_col` hold its
    statistics and `v` is None (factored), or `v` does and the other two are None."""

    count: jax.Array  # shape (), int32: the step t - 1 before this update
    v_row: Statistics  # R_t: the mean of g^2 + eps1 over the largest axis
    v_col: Statistics  # C_t: the mean of g^2 + eps1 over the second-largest axis
    v: Statistics  # V_t for unfactored leaves: the average of g^2 + eps1


def scale_by_factored_rms(
    factored: bool = True,
    decay_rate: ArrayLike = 0.8,
    step_offset: ArrayLike = 0,
    min_dim_size_to_factor: int = 128,
    epsilon: ArrayLike | None = 1e-30,
    decay_rate_fn: Callable[[ArrayLike, ArrayLike], ArrayLike] = _decay_rate_pow,
    *,
    last_axes: bool = False,
    eps_floor: bool = False,
) -> GradientTransformation:
    r"""Scale by the root of a factored estimate of the second moment (Adafactor).

    For a leaf whose two largest axes $a$ (second-largest) and $b$ (largest) both have at least
    `min_dim_size_to_factor` entries, with $\hat\beta_{2t} = 1 - t^{-c}$:

    $$R_t = \hat\beta_{2t} R_{t-1} + (1-\hat\beta_{2t}) \operatorname{mean}_b(g_t^2 + \epsilon_1),
    \qquad C_t = \hat\beta_{2t} C_{t-1} + (1-\hat\beta_{2t}) \operatorname{mean}_a(g_t^2 +
    \epsilon_1), \\ \hat V_t = R_t C_t / \operatorname{mean}_a(R_t), \qquad
    u_t = g_t / \sqrt{\hat V_t}$$

    (outer product along $a$ and $b$; other axes are kept by both statistics). Other leaves keep
    $V_t = \hat\beta_{2t} V_{t-1} + (1-\hat\beta_{2t})(g_t^2 + \epsilon_1)$ and
    $u_t = g_t / \sqrt{V_t}$. A matrix of $n \times m$ costs $n + m$ numbers instead of $nm$.

    With `eps_floor` (torch's convention), $\epsilon_1$ is a floor instead of an addend: the
    statistics average $g_t^2$ alone, and

    $$\hat V_t = R_t C_t / \max(\operatorname{mean}_a(R_t), \epsilon_1), \qquad
    u_t = g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}$$

    (unfactored leaves: $u_t = g_t / \sqrt{\max(V_t, \epsilon_1^2)}$).

    Args:
        factored: factor matrices (and higher-rank leaves); with False every leaf keeps $V_t$.
        decay_rate: $c$, the exponent of the decay schedule.
        step_offset: subtracted from the step before the schedule (fine-tuning restarts it);
            steps before the offset count as the schedule's first.
        min_dim_size_to_factor: factor only leaves whose second-largest axis has at least this
            many entries.
        epsilon: $\epsilon_1$, added to $g_t^2$ (or the floor, with `eps_floor`); None for the
            machine epsilon of each leaf's dtype (torch's default).
        decay_rate_fn: $\hat\beta_{2t}$ as a function of (step - step_offset, decay_rate), the
            step counting from 0.
        last_axes: factor the last two axes ($a$ the rows, $b$ the columns) whatever their
            sizes, as torch and Keras do, instead of the two largest (Optax).
        eps_floor: $\epsilon_1$ as a floor of the normaliser and of $\hat V_t$ (torch), not
            added to $g_t^2$.

    Returns:
        A transformation with state `FactoredState(count, v_row, v_col, v)`; the statistics are
        stored in each param's dtype.

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", ICML
        2018, Algorithms 4 and 5 (without update clipping and relative step size, which are
        `clip_by_block_rms` and `scale_by_param_block_rms`).

    Note:
        The paper sums where this takes means; $\hat V_t$ is the same. Optax 0.2.8 computes the
        default $\hat\beta_{2t}$ in float32 even when x64 is on, so its float64 runs carry a
        ~1e-8 relative error in every statistic; gradtx computes it in float64 there. Optax also
        requires `params` although only their shapes matter; gradtx does not. Before
        `step_offset` steps Optax's schedule sees a step below 0 and its updates are NaN (from a
        fresh state, for the first `step_offset` steps); gradtx clamps that step at 0.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_factored_rms(min_dim_size_to_factor=2)
        >>> state = tx.init(jnp.zeros((2, 3)))
        >>> state.v_row.shape, state.v_col.shape
        ((2,), (3,))
    """
    where = "scale_by_factored_rms"
    _validate.check_non_negative(where, decay_rate=decay_rate, epsilon=epsilon)
    _validate.check_int(where, min_dim_size_to_factor=min_dim_size_to_factor)
    _validate.check_schedule(where, "decay_rate_fn", decay_rate_fn)
    dims_of = functools.partial(
        factored_dims,
        factored=factored,
        min_dim_size_to_factor=min_dim_size_to_factor,
        last_axes=last_axes,
    )

    def init_leaf(x):
        dims = dims_of(jnp.shape(x))
        if dims is None:
            return None, None, _tree.zeros_like(jnp.asarray(x))
        a, b = dims
        return _zeros_along(x, (b,)), _zeros_along(x, (a,)), None

    def init(params):
        treedef = jax.tree.structure(params)
        stats = [init_leaf(x) for x in jax.tree.leaves(params)]
        rows, cols, vs = (treedef.unflatten([s[k] for s in stats]) for k in range(3))
        return FactoredState(_tree.zero_count(), rows, cols, vs)

    def rule(g, v_row, v_col, v, decay, eps):
        dims = dims_of(g.shape)
        dtype = _tree.compute_dtype(g, *(x for x in (v_row, v_col, v) if x is not None))
        eps = jnp.finfo(g.dtype).eps if eps is None else eps
        g_, decay, eps = g.astype(dtype), decay.astype(dtype), jnp.asarray(eps).astype(dtype)
        squares = _tree.abs_sq(g_) + (0 if eps_floor else eps)
        if dims is None:
            v_new = _tree.as_stored(_tree.ema(squares, v.astype(dtype), decay), v)
            v_hat = jnp.maximum(v_new, eps * eps) if eps_floor else v_new
            return (g_ * v_hat**-0.5).astype(g.dtype), None, None, _tree.cast_like(v_new, v)
        a, b = dims
        row = _tree.ema(jnp.mean(squares, axis=b), v_row.astype(dtype), decay)
        col = _tree.ema(jnp.mean(squares, axis=a), v_col.astype(dtype), decay)
        row, col = _tree.as_stored(row, v_row), _tree.as_stored(col, v_col)
        row_mean = jnp.mean(row, axis=a - (a > b), keepdims=True)
        if eps_floor:
            v_hat = jnp.expand_dims(row / jnp.maximum(row_mean, eps), b) * jnp.expand_dims(col, a)
            u = g_ * jnp.maximum(v_hat, eps * eps) ** -0.5
        else:
            row_factor = jnp.expand_dims((row / row_mean) ** -0.5, b)
            u = g_ * row_factor * jnp.expand_dims(col**-0.5, a)
        return u.astype(g.dtype), _tree.cast_like(row, v_row), _tree.cast_like(col, v_col), None

    def update(updates, state, params=None):
        del params
        names = ("v_row", "v_col", "v")
        treedef, (gs, *stats) = _leaves(where, updates, *state[1:], names=names)
        step = jnp.maximum(state.count - jnp.asarray(step_offset).astype(state.count.dtype), 0)
        decay = jnp.asarray(decay_rate_fn(step, decay_rate))
        results = []
        for i, (g, *leaf) in enumerate(zip(gs, *stats, strict=True)):
            dims = dims_of(g.shape)
            want = [None, None, g.shape]
            if dims is not None:
                want = [tuple(n for k, n in enumerate(g.shape) if k != d) for d in dims[::-1]]
                want.append(None)
            for name, x, shape in zip(names, leaf, want, strict=True):
                if shape is not None:
                    _check_shape(where, updates, i, name, x, shape)
            results.append(rule(g, *leaf, decay, epsilon))
        u, rows, cols, vs = (treedef.unflatten([r[k] for r in results]) for k in range(4))
        return u, FactoredState(_tree.safe_increment(state.count), rows, cols, vs)

    return transformation(init, update)


def _rms(x: jax.Array) -> jax.Array:
    """The root mean square of a leaf, real."""
    return jnp.sqrt(jnp.mean(jnp.real(_tree.abs_sq(x))))


def clip_by_block_rms(threshold: ArrayLike) -> GradientTransformation:
    r"""Scale each leaf down to a root mean square of at most `threshold` (update clipping).

    $$u_t = g_t / \max(1, \operatorname{RMS}(g_t) / d), \qquad
    \operatorname{RMS}(g) = \sqrt{\operatorname{mean}(g^2)}$$ per leaf (a "block").

    Args:
        threshold: $d$, > 0.

    Returns:
        A stateless transformation (`EmptyState`).

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", ICML
        2018, Section 6 (update clipping, $d = 1$).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.clip_by_block_rms(1.0)
        >>> tx.update(jnp.asarray([3.0, 4.0]), tx.init(None))[0]
        Array([0.84852815, 1.1313709 ], dtype=float32)
    """
    _validate.check_positive("clip_by_block_rms", threshold=threshold)

    def leaf(g):
        dtype = _tree.compute_dtype(g)
        g_, d = g.astype(dtype), jnp.asarray(threshold).astype(jnp.finfo(dtype).dtype)
        return (g_ / jnp.maximum(1, _rms(g_) / d).astype(dtype)).astype(g.dtype)

    def update(updates, state, params=None):
        del params
        return _tree.map_leaves(leaf, updates, where="clip_by_block_rms"), state

    return transformation(init_empty_state, update)


def scale_by_param_block_rms(min_scale: ArrayLike = 1e-3) -> GradientTransformation:
    r"""Multiply each leaf by its parameter's root mean square (relative step size).

    $$u_t = \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))\, g_t$$ per leaf.

    Args:
        min_scale: $\epsilon_2$, the smallest scale, so that parameters starting at zero move.

    Returns:
        A stateless transformation (`EmptyState`); it needs `params`.

    References:
        Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", ICML
        2018, Section 8 (relative step size).

    Note:
        The scale is computed so that its gradient with respect to zero params is 0, not NaN.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.scale_by_param_block_rms()
        >>> tx.update(jnp.ones(2), tx.init(None), jnp.asarray([3.0, 4.0]))[0]
        Array([3.535534, 3.535534], dtype=float32)
    """
    where = "scale_by_param_block_rms"
    _validate.check_non_negative(where, min_scale=min_scale)

    def leaf(g, p):
        dtype = _tree.compute_dtype(g, p)
        p_, floor = p.astype(dtype), jnp.asarray(min_scale).astype(jnp.finfo(dtype).dtype)
        small = _rms(p_) <= floor
        scale = jnp.where(small, floor, _rms(jnp.where(small, jnp.ones_like(p_), p_)))
        return (g.astype(dtype) * scale.astype(dtype)).astype(g.dtype)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(f"{where}: needs params; call update(updates, state, params)")
        return _tree.map_leaves(leaf, updates, params, where=where, names=("params",)), state

    return transformation(init_empty_state, update)


class EmaState(NamedTuple):
    """State of `ema`."""

    count: jax.Array  # shape (), int32: the step t
    ema: Updates  # m_t


def ema(
    decay: ArrayLike, debias: bool = True, accumulator_dtype: Any = None
) -> GradientTransformation:
    r"""Replace updates by their exponential moving average (Adafactor's momentum).

    $$m_t = \beta m_{t-1} + (1-\beta) g_t, \qquad u_t = m_t / (1-\beta^t) \text{ (debias)}
    \text{ or } m_t$$

    Args:
        decay: $\beta$, in [0, 1).
        debias: divide by $1-\beta^t$. Positional, as in Optax's `ema`.
        accumulator_dtype: dtype in which $m_t$ is stored; the params' dtype by default.

    Returns:
        A transformation with state `EmaState(count, ema)`.

    Note:
        The update is $m_t$ as stored (rounded to `accumulator_dtype`), as in every gradtx
        moment; Optax returns it before rounding.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.ema(0.9), gradtx.scale_by_learning_rate(0.1))
    """
    _validate.check_interval("ema", decay=decay)
    _validate.check_dtype("ema", "accumulator_dtype", accumulator_dtype)

    def init(params):
        return EmaState(_tree.zero_count(), _tree.zeros_like(params, accumulator_dtype))

    def average(g, s, h):
        return s._replace(ema=_tree.ema(g, s.ema, h.decay))

    def direction(g, s, h):
        return s.ema / _tree.bias_correction(h.decay, h.count, g.dtype) if debias else s.ema

    def update(updates, state, params=None):
        del params
        count = _tree.safe_increment(state.count)
        phases = (average, direction)
        updates, state = _tree.lift("ema", phases, updates, state, count=count, decay=decay)
        return updates, state._replace(count=count)

    return transformation(init, update)
