"""Combining transformations: run them in sequence, on part of the tree, or per parameter group."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey

from gradtx import _tree, _validate
from gradtx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    Mask,
    OptState,
    stateless,
    takes_extra_args,
)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    r"""Apply transformations in sequence: $u_t = T_n(\dots T_2(T_1(g_t)) \dots)$.

    Each transformation keeps its own state; the chain's state is the tuple of them. Any object
    with `init` and `update` (an Optax transformation, say) can be a link. When a link takes
    extra keyword arguments (a `GradientTransformationExtraArgs`, e.g. `reduce_on_plateau`'s
    `value=`), so does the chain, and it passes them to such links only. Other links, and a
    chain without such a link, ignore them, as Optax's `chain` does: a training loop that always
    passes `value=loss` (or `flax.nnx.Optimizer.update(model, grads, value=loss)`) works with
    any optimizer.

    Example:
        >>> import gradtx
        >>> adam = gradtx.chain(gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(1e-3))
    """

    for i, transform in enumerate(transforms):
        _validate.check_transformation("chain", f"link {i}", transform)

    def init(params):
        return tuple(t.init(params) for t in transforms)

    extra = [takes_extra_args(t) for t in transforms]

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple) or len(state) != len(transforms):
            got = (
                f"a tuple of {len(state)}"
                if isinstance(state, tuple)
                else f"a {type(state).__name__}"
            )
            raise ValueError(
                f"chain: the state must be a tuple of {len(transforms)} states, one per link, "
                f"got {got}" + _validate.state_hint(state, "this chain")
            )
        new_state = []
        for transform, link_state, takes in zip(transforms, state, extra, strict=True):
            kwargs = extra_args if takes else {}
            updates, link_state = transform.update(updates, link_state, params, **kwargs)
            new_state.append(link_state)
        return updates, tuple(new_state)

    if any(extra):
        return GradientTransformationExtraArgs(init, update)
    return GradientTransformation(init, update)


class MaskedState(NamedTuple):
    """State of `masked`: the inner state, built on the masked-in leaves only."""

    inner_state: OptState


class _MaskedOut(NamedTuple):
    """Placeholder for a masked-out leaf: an empty pytree node; the inner tree keeps its shape."""


def _resolve_mask(where: str, mask: Any, params: Any) -> Any:
    """The tree of bools for these params, checked to be one and to fit them."""
    if callable(mask):
        mask = mask(params)
        _validate.check_mask(where, "mask (as returned by the mask function)", mask)
    if not _is_prefix(mask, params):
        raise ValueError(
            f"{where}: the mask must have the params' tree structure or a prefix of it; mask is "
            f"{jax.tree.structure(mask)}, params are {jax.tree.structure(params)}"
        )
    return mask


def _select(tree: Any, mask: Any) -> Any:
    """Keep the leaves where `mask` is True; masked-out leaves become empty nodes."""
    return jax.tree.map(lambda m, x: x if m else _MaskedOut(), mask, tree)


def masked(inner: GradientTransformation, mask: Mask) -> GradientTransformation:
    r"""Apply `inner` only to the leaves where `mask` is True.

    $$u_{t,i} = \begin{cases} \mathrm{inner}(g_t)_i & \text{where } \mathrm{mask}_i \\
    g_{t,i} & \text{otherwise} \end{cases}$$

    Masked-out leaves pass through unchanged (the gradient itself, not zero; `freeze` zeros them)
    and get no inner state, so a masked weight decay or a masked Adam costs nothing on them.
    `mask` is a tree of Python booleans with the params' structure (or a prefix of it), or a
    function of the params returning one.

    Example:
        >>> import gradtx
        >>> decay_w = gradtx.masked(gradtx.add_decayed_weights(1e-4), {"w": True, "b": False})
    """
    return _masked("masked", inner, mask)


def _masked(where: str, inner: GradientTransformation, mask: Mask) -> GradientTransformation:
    _validate.check_transformation(where, "inner", inner)
    _validate.check_mask(where, "mask", mask)

    def init(params):
        return MaskedState(inner.init(_select(params, _resolve_mask(where, mask, params))))

    def update(updates, state, params=None):
        _validate.check_state(where, state, MaskedState)
        leaf_mask = _resolve_mask(where, mask, updates if params is None else params)
        inner_params = None if params is None else _select(params, leaf_mask)
        new, inner_state = inner.update(
            _select(updates, leaf_mask), state.inner_state, inner_params
        )
        merged = jax.tree.map(
            lambda m, u, n: n if m else u,
            leaf_mask,
            updates,
            new,
            is_leaf=lambda x: isinstance(x, _MaskedOut),
        )
        return merged, MaskedState(inner_state)

    return GradientTransformation(init, update)


def set_to_zero() -> GradientTransformation:
    r"""Replace every update by zero: $u_t = 0$.

    Stateless. With `multi_transform` or `masked` it freezes a group of parameters.

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.set_to_zero()
        >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
        Array([0., 0.], dtype=float32)
    """
    return stateless(
        lambda updates, params: _tree.map_leaves(jnp.zeros_like, updates, where="set_to_zero")
    )


def freeze(mask: Mask) -> GradientTransformation:
    r"""Zero the updates of the leaves where `mask` is True: `masked(set_to_zero(), mask)`.

    $u_{t,i} = 0$ where $\mathrm{mask}_i$, $g_{t,i}$ otherwise. The state holds no arrays.

    Args:
        mask: a tree of Python booleans with the params' structure (or a prefix of it, or a single
            bool), or a function of the params returning one. True freezes.

    Note:
        `chain(freeze(mask), adam)` feeds zeros to Adam, which still keeps moments for the frozen
        leaves (and weight decay placed after `freeze` still moves them). To give frozen leaves
        no optimizer state at all, route them to `set_to_zero()` with `multi_transform`.

    Example:
        >>> import gradtx
        >>> tx = gradtx.chain(gradtx.sgd(0.1), gradtx.freeze({"embed": True, "head": False}))
    """
    return _masked("freeze", set_to_zero(), mask)


class MultiTransformState(NamedTuple):
    """State of `multi_transform`: one inner state per label, built on that label's leaves only."""

    inner_states: dict[Any, OptState]


def _pattern_key(path: tuple[Any, ...]) -> str:
    """A jax key path as the "/"-joined keys that `param_labels` patterns match: dict keys,
    sequence indices, attribute names. Errors write paths as `_tree.path_name` does."""
    parts = []
    for key in path:
        if isinstance(key, DictKey):
            parts.append(str(key.key))
        elif isinstance(key, SequenceKey):
            parts.append(str(key.idx))
        elif isinstance(key, GetAttrKey):
            parts.append(key.name)
        elif isinstance(key, FlattenedIndexKey):
            parts.append(str(key.key))
        else:
            parts.append(str(key))
    return "/".join(parts)


def _is_prefix(prefix: Any, tree: Any) -> bool:
    try:
        jax.tree.map(lambda *_: None, prefix, tree)
    except (ValueError, TypeError):
        return False
    return True


def _is_pattern_dict(labels: Any) -> bool:
    return (
        isinstance(labels, Mapping)
        and len(labels) > 0
        and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    )


def _labels_from_patterns(patterns: Mapping[str, str], tree: Any) -> Any:
    compiled = []
    for pattern, label in patterns.items():
        try:
            compiled.append((re.compile(pattern), label))
        except re.error as err:
            raise ValueError(
                f"multi_transform: {pattern!r} in param_labels is not a regular expression ({err})"
            ) from None

    def label_of(path, _):
        key = _pattern_key(path)
        for regex, label in compiled:
            if regex.fullmatch(key):
                return label
        raise ValueError(
            f"multi_transform: the parameter at {_tree.path_name(path)} (matched as {key!r}) "
            f"matches none of the patterns "
            f"{list(patterns)} (each must match the whole path, re.fullmatch). Add a catch-all "
            f"last, e.g. {{..., r'.*': 'default'}}. (param_labels was read as patterns because "
            "it is not a prefix of the params tree.)"
        )

    labels = jax.tree_util.tree_map_with_path(label_of, tree)
    keys = [_pattern_key(path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    subtrees = {"/".join(key.split("/")[:n]) for key in keys for n in range(1, key.count("/") + 1)}
    for (regex, label), pattern in zip(compiled, patterns, strict=True):
        # A pattern that names a subtree but no leaf ("enc" for "enc/w") reads as a prefix key
        # and labels nothing: its group would be empty, silently. (A pattern that matches no
        # path at all, such as ".*bias" for a model without biases, is fine.)
        if not any(regex.fullmatch(key) for key in keys) and any(map(regex.fullmatch, subtrees)):
            raise ValueError(
                f"multi_transform: the pattern {pattern!r} (label {label!r}) in param_labels "
                f"matches a subtree but no leaf, so no leaf gets that label; a pattern must "
                f"match a whole leaf path (re.fullmatch), and the paths are {_some(keys)}. For "
                f"the subtree's leaves, write {pattern + '/.*'!r}."
            )
    return labels


def _some(keys: list[str], shown: int = 5) -> str:
    listed = ", ".join(repr(k) for k in keys[:shown])
    return f"{listed}, ... ({len(keys)} in all)" if len(keys) > shown else listed


def _check_labels(labels: Any, transforms: Mapping[Any, Any], given: str) -> None:
    for path, label in jax.tree_util.tree_flatten_with_path(labels)[0]:
        if label not in transforms:
            raise ValueError(
                f"multi_transform: no transformation for label {label!r} (given for "
                f"{_tree.path_name(path)} {given}); labels with a transformation: "
                f"{list(transforms)}. Add {label!r} to transforms_by_label or relabel."
            )


def multi_transform(
    transforms_by_label: Mapping[str, GradientTransformation],
    param_labels: Any | Callable[[Any], Any] | Mapping[str, str],
) -> GradientTransformation:
    r"""Parameter groups: apply a different transformation to each labelled group of leaves.

    $$u_{t,i} = T_{\ell(i)}\big(g_t \text{ restricted to the leaves labelled } \ell(i)\big)_i$$

    Each transformation sees only its own leaves (the others are empty nodes, as in `masked`),
    keeps state for them only, and gets the matching params. Every leaf must have a label.

    Args:
        transforms_by_label: a dict label -> transformation.
        param_labels: the label of each leaf, in one of three forms:

            * a tree of labels with the params' structure, or a prefix of it
              (`{"encoder": "slow", "decoder": "fast"}` labels whole subtrees);
            * a function of the params (of the updates when `update` gets no params) returning
              such a tree;
            * a dict `{regular expression: label}` over parameter paths. The path of a leaf is
              its jax key path with the keys joined by "/": dict keys as `str(key)`, list and
              tuple indices as decimal numbers, NamedTuple and dataclass fields by name; so
              `{"layers": [{"w": ..., "bias": ...}]}` has paths "layers/0/w" and
              "layers/0/bias". Each pattern must match the whole path (`re.fullmatch`) and the
              first matching pattern, in the dict's order, wins; a path that matches none, or a
              pattern that matches a subtree but no leaf (`"enc"` where the paths are "enc/w",
              ...), raises a ValueError naming it. A dict of strings is read as patterns unless
              it is a prefix of the params tree (its keys are the params' top-level keys), in
              which case it is a tree of labels.

    Returns:
        A transformation with state `MultiTransformState(inner_states={label: state})`.

    Example:
        A smaller learning rate for the first layer, no weight decay on biases and norms, and a
        frozen embedding (first match wins, so the first layer's bias is not decayed either):

        >>> import gradtx, jax.numpy as jnp
        >>> params = {"embed": jnp.zeros((100, 8)), "norm": {"scale": jnp.ones(8)},
        ...           "layers": [{"w": jnp.zeros((8, 8)), "bias": jnp.zeros(8)} for _ in range(3)]}
        >>> tx = gradtx.multi_transform(
        ...     {"frozen": gradtx.set_to_zero(),
        ...      "no_decay": gradtx.adam(1e-3),
        ...      "first": gradtx.adamw(1e-4, weight_decay=1e-2),
        ...      "default": gradtx.adamw(1e-3, weight_decay=1e-2)},
        ...     {r"embed": "frozen", r".*bias|norm/.*": "no_decay",
        ...      r"layers/0/.*": "first", r".*": "default"})
        >>> state = tx.init(params)
        >>> sorted(state.inner_states)
        ['default', 'first', 'frozen', 'no_decay']
    """
    _validate.check_transformations("multi_transform", "transforms_by_label", transforms_by_label)
    transforms = dict(transforms_by_label)
    if not callable(param_labels):
        _check_labels(param_labels, transforms, "in param_labels")

    def resolve(tree):
        if callable(param_labels):
            labels = param_labels(tree)
        elif _is_pattern_dict(param_labels) and not _is_prefix(param_labels, tree):
            labels = _labels_from_patterns(param_labels, tree)
        else:
            labels = param_labels
        if not _is_prefix(labels, tree):
            raise ValueError(
                "multi_transform: the labels must have the params' tree structure or a prefix of "
                f"it; labels are {jax.tree.structure(labels)}, params are "
                f"{jax.tree.structure(tree)}"
            )
        _check_labels(labels, transforms, "in the params")
        return labels

    def group(labels, label):
        return jax.tree.map(lambda leaf_label: leaf_label == label, labels)

    def init(params):
        labels = resolve(params)
        return MultiTransformState(
            {
                label: tx.init(_select(params, group(labels, label)))
                for label, tx in transforms.items()
            }
        )

    def update(updates, state, params=None):
        inner_states = getattr(state, "inner_states", None)
        if not isinstance(inner_states, Mapping) or set(inner_states) != set(transforms):
            got = (
                f"labels {list(inner_states)}"
                if isinstance(inner_states, Mapping)
                else f"a {type(state).__name__}"
            )
            raise ValueError(
                f"multi_transform: the state must be a MultiTransformState with one inner state "
                f"per label {list(transforms)}, got {got}"
                + _validate.state_hint(state, "this multi_transform")
            )
        labels = resolve(updates if params is None else params)
        outputs, new_states = {}, {}
        for label, tx in transforms.items():
            mask = group(labels, label)
            inner_params = None if params is None else _select(params, mask)
            outputs[label], new_states[label] = tx.update(
                _select(updates, mask), inner_states[label], inner_params
            )
        merged = jax.tree.map(
            lambda label, *outs: dict(zip(outputs, outs, strict=True))[label],
            labels,
            *outputs.values(),
        )
        return merged, MultiTransformState(new_states)

    return GradientTransformation(init, update)


def named_chain(*args: tuple[str, GradientTransformation]) -> GradientTransformation:
    r"""`chain` with a name for each link: the state is a dict name -> that link's state.

    $$u_t = T_n(\dots T_1(g_t) \dots), \qquad \text{state} = \{\text{name}_i: s_i\}$$

    Args:
        *args: `(name, transformation)` pairs, names unique strings, in the order applied.

    Returns:
        A transformation whose state is a dict keyed by the names (so `state["adam"]` finds a
        link's state); it takes extra keyword arguments when a link does, as `chain`.

    References:
        Optax 0.2.8, `optax.named_chain` (same API; Optax keeps the state in an `OrderedDict`,
        gradtx in a dict, whose pytree order is the sorted names).

    Example:
        >>> import gradtx, jax.numpy as jnp
        >>> tx = gradtx.named_chain(("clip", gradtx.clip(1.0)), ("sgd", gradtx.sgd(0.1)))
        >>> sorted(tx.init(jnp.zeros(2)))
        ['clip', 'sgd']
    """
    where = "named_chain"
    for i, pair in enumerate(args):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            _validate.fail_type(
                where,
                f"argument {i}",
                pair,
                "a (name, transformation) pair",
                got=type(pair).__name__,
            )
        _validate.check_transformation(where, f"argument {i} ({pair[0]!r})", pair[1])
    names = [name for name, _ in args]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: the names must be unique, got {names}")
    inner = chain(*(transform for _, transform in args))

    def init(params):
        return dict(zip(names, inner.init(params), strict=True))

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, Mapping) or sorted(state) != sorted(names):
            raise ValueError(
                f"{where}: the state must be a dict with the keys {sorted(names)}, got "
                f"{sorted(state) if isinstance(state, Mapping) else type(state).__name__}. "
                "Was it made by this named_chain's `init`?"
            )
        updates, states = inner.update(
            updates, tuple(state[name] for name in names), params, **extra_args
        )
        return updates, dict(zip(names, states, strict=True))

    return type(inner)(init, update)
