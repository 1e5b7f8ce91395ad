"""Batch, stochastic and minibatch gradient descent: one compiled loop over epochs and batches."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import keystr, tree_flatten_with_path

from gradtx._base import GradientTransformation, OptState, Params, apply_updates

LAST_BATCH_POLICIES = ("drop", "smaller", "wrap")


class FitResult(NamedTuple):
    """What `fit` returns; unpacks as `params, opt_state, losses = fit(...)`."""

    params: Params  # the parameters after the last step
    opt_state: OptState  # the optimizer state after the last step
    losses: jax.Array  # shape (epochs, steps per epoch): each step's batch loss, before its update


def fit(
    loss_fn: Callable[[Params, Any], jax.Array],
    params: Params,
    data: Any,
    optimizer: GradientTransformation,
    *,
    epochs: int,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    last_batch: str = "drop",
) -> FitResult:
    r"""Train by batch (`batch_size=None`), stochastic (1) or minibatch (k) gradient descent.

    Each step takes the gradient of the loss on one batch B_t and hands it to `optimizer`:

    .. math::
        g_t = \nabla_\theta L(\theta_t; B_t), \qquad (u_t, s_t) = T(g_t, s_{t-1}, \theta_t),
        \qquad \theta_{t+1} = \theta_t + u_t

    where L(\theta; B) is `loss_fn(params, batch)`, usually the mean loss over B's examples;
    with `gradtx.sgd(eta)` this is Robbins & Monro's iteration
    \theta_{t+1} = \theta_t - \eta \frac{1}{|B_t|} \sum_{i \in B_t} \nabla \ell(\theta_t; z_i).
    With `batch_size=None`, B_t is the whole dataset (batch gradient descent, one step an
    epoch); otherwise each epoch draws a fresh permutation of the n examples,
    `jax.random.permutation(jax.random.fold_in(key, epoch), n)`, and cuts it into consecutive
    batches of `batch_size` (stochastic gradient descent for 1, minibatch for k). The whole run
    is one `jax.jit` of a `lax.scan` over epochs around a `lax.scan` over batches, compiled once
    for a given `loss_fn`, `optimizer` (the same objects), schedule and data shape: another key,
    other initial parameters or other data of the same shape reuse it.

    When k does not divide n, the last r = n mod k examples of a permutation are handled by
    `last_batch`:

    * ``"drop"``: skipped for this epoch (other ones next epoch); floor(n/k) steps an epoch.
    * ``"smaller"``: one more step on a batch of r examples, so that each example is used once an
      epoch and the loss of that step is its own mean over r, not diluted (as `drop_last=False`
      in PyTorch; `loss_fn` is traced for two batch shapes).
    * ``"wrap"``: the last batch is completed with the first k - r examples of the same
      permutation, which are then used twice that epoch; every batch has k examples.

    Args:
        loss_fn: `loss_fn(params, batch) -> scalar`, with `batch` shaped like `data` but with
            the batch's examples along the leading axis.
        params: the initial parameters \theta_0, a pytree of arrays.
        data: a pytree of arrays sharing their leading (example) dimension n.
        optimizer: the transformation T, e.g. `gradtx.sgd(0.1)`; its state starts at `init`.
        epochs: passes over the data, >= 1.
        batch_size: examples a step; None for the whole dataset, else in [1, n].
        key: a PRNG key for the shuffles; required unless `batch_size` is None.
        last_batch: ``"drop"`` (default), ``"smaller"`` or ``"wrap"``, as above.

    Returns:
        `FitResult(params, opt_state, losses)`; `losses[e, i]` is the loss of step i of epoch e
        on its batch, at the parameters that step started from (returned by the same
        `jax.value_and_grad` call as the gradient, so it costs no extra evaluation).

    References:
        Robbins & Monro, "A Stochastic Approximation Method", Annals of Mathematical Statistics
        22(3), 1951. Ruder, "An overview of gradient descent optimization algorithms",
        arXiv:1609.04747, 2016, Section 2 (batch, stochastic and mini-batch gradient descent).

    Example:
        >>> import gradtx, gradtx.training, jax, jax.numpy as jnp
        >>> x = jnp.linspace(-1.0, 1.0, 32); data = {"x": x, "y": 3.0 * x}
        >>> loss = lambda w, b: jnp.mean((w * b["x"] - b["y"]) ** 2)
        >>> w, _, losses = gradtx.training.fit(loss, jnp.zeros(()), data, gradtx.sgd(0.5),
        ...                                    epochs=20, batch_size=8, key=jax.random.key(0))
        >>> losses.shape, bool(jnp.abs(w - 3.0) < 1e-3)
        ((20, 4), True)
    """
    n = _dataset_size(data)
    _check_schedule(n, epochs, batch_size, key, last_batch)
    params = jax.tree.map(_strong, params)
    opt_state = jax.tree.map(_strong, optimizer.init(params))
    static = {
        "loss_fn": loss_fn,
        "optimizer": optimizer,
        "epochs": epochs,
        "batch_size": batch_size,
        "last_batch": last_batch,
    }
    try:
        hash(tuple(static.values()))
    except TypeError:  # an unhashable loss or optimizer: compile for this call only
        return jax.jit(functools.partial(_loop, **static))(params, opt_state, data, key)
    return _compiled_loop(params, opt_state, data, key, **static)


def _loop(params, opt_state, data, key, *, loss_fn, optimizer, epochs, batch_size, last_batch):
    """The training loop, traced once per loss, optimizer, schedule and data shape."""
    n = jax.tree.leaves(data)[0].shape[0]

    def step(carry, batch):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (apply_updates(params, updates), opt_state), loss

    def take(index):
        return jax.tree.map(lambda x: jnp.take(x, index, axis=0), data)

    def epoch(carry, e):
        if batch_size is None:
            carry, loss = step(carry, data)
            return carry, loss[None]
        full, rest = divmod(n, batch_size)
        perm = jax.random.permutation(jax.random.fold_in(key, e), n)
        if last_batch == "wrap" and rest:
            order = jnp.concatenate([perm, perm[: batch_size - rest]])
        else:
            order = perm[: full * batch_size]
        carry, losses = jax.lax.scan(
            lambda c, index: step(c, take(index)), carry, order.reshape(-1, batch_size)
        )
        if last_batch == "smaller" and rest:
            carry, loss = step(carry, take(perm[n - rest :]))
            losses = jnp.concatenate([losses, loss[None]])
        return carry, losses

    carry, losses = jax.lax.scan(epoch, (params, opt_state), jnp.arange(epochs))
    return FitResult(*carry, losses)


_compiled_loop = jax.jit(
    _loop, static_argnames=("loss_fn", "optimizer", "epochs", "batch_size", "last_batch")
)


def _strong(x: Any) -> jax.Array:
    """x as an array without a weak type (a Python float, say), so the scan carry keeps its type."""
    return jnp.asarray(x, jnp.result_type(x))


def _dataset_size(data: Any) -> int:
    leaves, _ = tree_flatten_with_path(data)
    if not leaves:
        raise ValueError("fit: data has no arrays; pass a pytree of arrays, e.g. {'x': x, 'y': y}")
    sizes = []
    for path, leaf in leaves:
        shape = jnp.shape(leaf)
        if not shape:
            raise ValueError(
                f"fit: data{keystr(path)} is a scalar; every leaf of data needs a leading "
                "dimension over the examples"
            )
        sizes.append((keystr(path), shape[0]))
    first_path, n = sizes[0]
    for path, size in sizes[1:]:
        if size != n:
            raise ValueError(
                f"fit: every leaf of data must have the same leading (example) dimension, but "
                f"data{path} has {size} rows, data{first_path} {n}. Are the leaves indexed by "
                "example along axis 0?"
            )
    if n == 0:
        raise ValueError("fit: data has no examples (its leading dimension is 0)")
    return n


def _check_schedule(n: int, epochs: Any, batch_size: Any, key: Any, last_batch: Any) -> None:
    """Raise a ValueError naming the first invalid argument of `fit`."""
    if not _is_int(epochs) or epochs < 1:
        raise ValueError(f"fit: epochs must be an integer >= 1, got {epochs!r}")
    if last_batch not in LAST_BATCH_POLICIES:
        valid = ", ".join(repr(p) for p in LAST_BATCH_POLICIES)
        raise ValueError(f"fit: last_batch must be one of {valid}, got {last_batch!r}")
    if batch_size is None:
        return
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(
            f"fit: batch_size must be None (the whole dataset) or an integer >= 1, "
            f"got {batch_size!r}"
        )
    if batch_size > n:
        raise ValueError(
            f"fit: batch_size={batch_size} is larger than the dataset ({n} examples). "
            f"Use batch_size=None for batch gradient descent, or a batch size <= {n}."
        )
    if key is None:
        raise ValueError(
            "fit: minibatch and stochastic gradient descent shuffle the data every epoch and "
            "need a PRNG key, e.g. key=jax.random.key(0)"
        )


def _is_int(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return not isinstance(value, bool)
