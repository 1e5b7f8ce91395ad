"""Small MLP classifiers on scikit-learn's bundled datasets (no download).

Params are {"layers": [{"w": (d_in, 32), "b": (32,)}, {"w": (32, classes), "b": (classes,)}]};
the hidden layer uses tanh, which keeps the loss smooth. Features are standardised with the
training set's mean and standard deviation; the train/test split is fixed by a NumPy seed.
scikit-learn is imported only when a dataset problem is built (`pip install 'gradtx[tour]'`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.problems._base import Params, Problem

HIDDEN = 32
BATCH = 64
TEST_FRACTION = 0.25
SPLIT_SEED = 0


def _load_sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, integer labels) from `sklearn.datasets.load_<name>`, imported lazily."""
    try:
        from sklearn import datasets
    except ImportError as err:
        raise ImportError(
            f"The {name!r} problem needs scikit-learn, an optional dependency of gradtx. "
            "Install it with: pip install 'gradtx[tour]'"
        ) from err
    bunch = getattr(datasets, f"load_{name}")()
    return np.asarray(bunch.data, np.float64), np.asarray(bunch.target, np.int32)


@functools.cache
def load_split(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): a seeded 75/25 split, standardised on the train set.

    Features with zero variance in the training set (some digit pixels) are only centred.
    """
    x, y = _load_sklearn(name)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    n_test = round(TEST_FRACTION * len(y))
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x = (x - mean) / std
    return x[train], y[train], x[test], y[test]


def init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> Params:
    r"""LeCun-normal weights $w \sim \mathcal{N}(0, 1/d_{in})$, zero biases, default float dtype.

    References: LeCun et al., "Efficient BackProp", Neural Networks: Tricks of the Trade, 1998.
    """
    keys = jax.random.split(key, len(sizes) - 1)
    layers = [
        {"w": jax.random.normal(k, (d_in, d_out)) * d_in**-0.5, "b": jnp.zeros(d_out)}
        for k, d_in, d_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]
    return {"layers": layers}


def mlp_logits(params: Params, x: jax.Array) -> jax.Array:
    r"""$h_0 = x$, $h_{l+1} = \tanh(h_l W_l + b_l)$; the last layer is linear (the logits).

    x has shape (batch, d_in); each bias is broadcast over the batch explicitly.
    """
    *hidden, last = params["layers"]
    h = x.astype(last["w"].dtype)
    for layer in hidden:
        h = jnp.tanh(_affine(h, layer))
    return _affine(h, last)


def _affine(h: jax.Array, layer: Params) -> jax.Array:
    """h W + b, with b of shape (n,) broadcast to the (batch, n) product."""
    z = h @ layer["w"]
    return z + jnp.broadcast_to(layer["b"], z.shape)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    r"""Mean softmax cross-entropy, $\frac1n \sum_i (\log \sum_c e^{z_{ic}} - z_{i y_i})$."""
    picked = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The fraction of rows whose largest logit is the label's."""
    hits = jnp.argmax(logits, axis=1).astype(labels.dtype) == labels
    return jnp.mean(hits.astype(logits.dtype))


def _classifier(name: str, description: str, tolerance: float) -> Problem:
    """An MLP problem on `load_split(name)`: minibatch loss, full-train loss, and metrics."""
    x_train, y_train, x_test, y_test = (jnp.asarray(a) for a in load_split(name))
    sizes = (x_train.shape[1], HIDDEN, int(max(y_train.max(), y_test.max())) + 1)
    init = jax.jit(functools.partial(init_mlp, sizes=sizes))

    def loss(params):
        return cross_entropy(mlp_logits(params, x_train), y_train)

    def batch_loss(params, key):
        idx = jax.random.randint(key, (BATCH,), 0, x_train.shape[0])
        return cross_entropy(mlp_logits(params, x_train[idx]), y_train[idx])

    def metrics(params):
        train, test = mlp_logits(params, x_train), mlp_logits(params, x_test)
        return {
            "train_loss": cross_entropy(train, y_train),
            "train_accuracy": accuracy(train, y_train),
            "test_loss": cross_entropy(test, y_test),
            "test_accuracy": accuracy(test, y_test),
        }

    return Problem(
        name=name,
        description=description,
        loss=loss,
        start=init(jax.random.key(0)),
        tolerance=tolerance,
        batch_loss=batch_loss,
        sample_start=init,
        metrics=metrics,
    )


def digits() -> Problem:
    """A 64-32-10 tanh MLP on the 8x8 handwritten digits (1,797 images, 10 classes).

    `loss` is the cross-entropy on the 1,348 training images; the gradient is a minibatch of
    64 drawn with replacement with the key; `evaluate` adds train/test loss and accuracy on the
    449 held-out images. Reached: training loss below 0.05.

    References: Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI, 1998.
    """
    return _classifier(
        "digits",
        description=(
            "A small neural network (64 inputs, 32 tanh units, 10 outputs) classifying the 8×8 "
            "handwritten digits bundled with scikit-learn (Alpaydin & Kaynak, 1998), trained "
            "on minibatches of 64. It is the everyday case the 2-D landscapes caricature: "
            "non-convex, stochastic and moderately ill-conditioned, with symmetries and "
            "saturating units rather than one clean obstacle. The practical questions are "
            "which optimiser reaches a low training loss in the fewest steps and which "
            "generalises: adaptive methods often win on training loss yet can generalise worse "
            "than well-tuned SGD with momentum (Wilson et al., 2017), a gap that AdamW "
            "(Loshchilov & Hutter, 2019) and AdaBound (Luo et al., 2019) set out to close."
        ),
        tolerance=0.05,
    )


def breast_cancer() -> Problem:
    """A 30-32-2 tanh MLP on the Wisconsin diagnostic breast cancer data (569 samples).

    `loss` is the cross-entropy on the 427 training samples; the gradient is a minibatch of
    64 drawn with replacement with the key; `evaluate` adds train/test loss and accuracy on the
    142 held-out samples. Reached: training loss below 0.05.

    References: Street, Wolberg & Mangasarian, "Nuclear feature extraction for breast tumor
    diagnosis", IS&T/SPIE Electronic Imaging, 1993.
    """
    return _classifier(
        "breast_cancer",
        description=(
            "A small neural network (30 inputs, 32 tanh units, 2 outputs) diagnosing tumours "
            "from the Wisconsin breast cancer data (Street et al., 1993; 569 samples). The raw "
            "features span five orders of magnitude, the classic case for standardising "
            "inputs (LeCun et al., 1998); once standardised, as here, the classes are almost "
            "linearly separable and every optimiser lowers the loss quickly. The challenge is "
            "small data: the training loss can be driven towards zero by growing the weights "
            "while the held-out loss rises, so compare test accuracy, not only speed; weight "
            "decay (Krogh & Hertz, 1992) and early stopping are the classic remedies."
        ),
        tolerance=0.05,
    )
