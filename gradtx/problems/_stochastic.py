"""Stochastic problems: a gradient with heavy-tailed noise, and sparse logistic regression.

Both use the PRNG key passed to `Problem.value_and_grad`; both report the noise-free, full-data
`loss`. Data are generated in code with a fixed NumPy seed, so every run sees the same problem.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.problems._base import Problem

NOISE_DF = 1.5  # Student-t degrees of freedom: finite mean, infinite variance
NOISE_SCALE = 1.0


def noisy() -> Problem:
    r"""A quadratic whose gradient carries heavy-tailed Student-t noise.

    $$f(\theta) = \tfrac12 (\theta_1^2 + 4\,\theta_2^2), \qquad
    \tilde g = \nabla f(\theta) + s\, \xi, \quad \xi_i \sim t_\nu \text{ i.i.d.}$$

    with $\nu$ = `NOISE_DF` = 1.5 and $s$ = `NOISE_SCALE` = 1: the noise has mean zero but
    infinite variance: one draw in about 700 exceeds 100 in some coordinate. The reported value
    is the noise-free f.

    References: Simsekli, Sagun & Gurbuzbalaban, "A Tail-Index Analysis of Stochastic Gradient
    Noise in Deep Neural Networks", ICML 2019; Zhang et al., "Why are Adaptive Methods Good for
    Attention Models?", NeurIPS 2020.
    """

    def loss(theta):
        return 0.5 * (theta[0] ** 2 + 4.0 * theta[1] ** 2)

    def grad_noise(grads, key):
        xi = jax.random.t(key, NOISE_DF, jnp.shape(grads), jnp.result_type(grads))
        return grads + NOISE_SCALE * xi

    return Problem(
        name="noisy",
        description=(
            "A simple quadratic, (x² + 4 y²)/2, whose gradient is corrupted by heavy-tailed "
            "Student-t noise with 1.5 degrees of freedom: zero mean but infinite variance. One "
            "gradient in about 700 carries noise above 100, one in 20,000 above 1,000, while "
            "the true gradient is 13 at the start and vanishes at the minimum. "
            "Gradient noise in deep networks is heavy-tailed in this way (Simsekli et al., "
            "2019), notably for attention models (Zhang et al., 2020). One outlier can throw a "
            "plain SGD step far from the minimum. The literature's remedies are clipping the "
            "gradient (Zhang et al., 2020; Gorbunov et al., 2020), normalising it, averaging "
            "the iterates (Polyak & Juditsky, 1992) and a decaying learning rate against the "
            "noise floor. The reported loss is noise-free."
        ),
        loss=loss,
        start=jnp.array([4.0, 3.0]),
        tolerance=1e-2,
        optimum=jnp.array([0.0, 0.0]),
        optimum_value=0.0,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        grad_noise=grad_noise,
    )


SPARSE_SAMPLES = 2000
SPARSE_FEATURES = 200
SPARSE_BATCH = 32
SPARSE_L2 = 1e-4


@functools.cache
def _sparse_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Binary features with Zipf frequencies p_j = 0.5 / (j + 1) and logistic labels.

    Feature 0 is on in half the samples, feature 199 in about 5 of 2,000; 90 of the 200 features
    occur fewer than 10 times and a sample has about 3 active features. Labels are drawn
    from sigmoid(x . w_true + b_true) with w_true ~ N(0, 2^2), so rare features are as
    informative as frequent ones. Returns (x, y) as float64 arrays of shape (n, d) and (n,).
    """
    rng = np.random.default_rng(seed)
    freq = 0.5 / np.arange(1, SPARSE_FEATURES + 1, dtype=np.float64)
    x = (rng.random((SPARSE_SAMPLES, SPARSE_FEATURES)) < freq).astype(np.float64)
    w_true, b_true = 2.0 * rng.standard_normal(SPARSE_FEATURES), 0.5
    p = 1.0 / (1.0 + np.exp(-(x @ w_true + b_true)))
    y = (rng.random(SPARSE_SAMPLES) < p).astype(np.float64)
    return x, y


@functools.cache
def _sparse_optimum(seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """The regularised logistic-regression minimiser (w, b) and its loss, by Newton's method.

    The loss is strictly convex (the L2 term on w, and the bias column of ones), and Newton's
    method from zero reaches a gradient below 1e-13 in about eight steps.
    """
    x, y = _sparse_data(seed)
    n, d = x.shape
    features = np.hstack([x, np.ones((n, 1))])
    ridge = np.diag(np.r_[np.full(d, SPARSE_L2), 0.0])
    theta = np.zeros(d + 1)
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-features @ theta))
        grad = features.T @ (p - y) / n + ridge @ theta
        if np.max(np.abs(grad)) < 1e-13:
            break
        hessian = (features * (p * (1 - p))[:, None]).T @ features / n + ridge
        theta = theta - np.linalg.solve(hessian, grad)
    w, b = theta[:d], theta[d:].reshape(())
    z = x @ w + b
    value = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * SPARSE_L2 * w @ w
    return w, b, float(value)


def _logistic_loss(params, x, y):
    """Mean of log(1 + e^z) - y z with z = x . w + b, plus (lambda / 2) ||w||^2."""
    w, b = params["w"], params["b"]
    z = x.astype(w.dtype) @ w + b
    data = jnp.mean(jnp.logaddexp(0.0, z) - y.astype(w.dtype) * z)
    return data + 0.5 * SPARSE_L2 * jnp.sum(w**2)


def sparse() -> Problem:
    r"""L2-regularised logistic regression on sparse binary features with Zipf frequencies.

    $$f(w, b) = \frac1n \sum_{i=1}^{n} \bigl(\log(1 + e^{z_i}) - y_i z_i\bigr)
    + \frac{\lambda}{2}\lVert w\rVert^2, \qquad z_i = x_i^\top w + b$$

    with n = 2,000 samples, d = 200 features (see `_sparse_data`) and $\lambda = 10^{-4}$.
    Params are {"w": (200,), "b": ()}. The stochastic gradient is that of a minibatch of 32
    samples drawn with replacement with the key (an unbiased estimate of f); `loss` uses all the
    data. The optimum is computed once by Newton's method. `tolerance` is 1% of the optimal loss.

    References: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization", JMLR 2011; McMahan et al., "Ad Click Prediction: a View from the
    Trenches", KDD 2013.
    """
    x_np, y_np = _sparse_data()
    w_opt, b_opt, value = _sparse_optimum()
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)

    def loss(params):
        return _logistic_loss(params, x, y)

    def batch_loss(params, key):
        idx = jax.random.randint(key, (SPARSE_BATCH,), 0, SPARSE_SAMPLES)
        return _logistic_loss(params, x[idx], y[idx])

    return Problem(
        name="sparse",
        description=(
            "Logistic regression on 200 sparse binary features whose frequencies follow Zipf's "
            "law: the commonest is on in half of the 2,000 samples, nearly half of them in "
            "fewer than ten, yet rare features carry as much signal as common ones. A rare "
            "feature appears in a minibatch of 32 only now and then, so with one global "
            "learning rate its weight learns far more slowly than the common ones, and a rate "
            "large enough for it is too large for them. This is the setting of text and "
            "click-through prediction that motivated AdaGrad (Duchi et al., 2011; McMahan et "
            "al., 2013): per-coordinate step sizes that shrink with each feature's accumulated "
            "squared gradient give rare features large steps; RMSProp and Adam inherit this."
        ),
        loss=loss,
        start={"w": jnp.zeros(SPARSE_FEATURES), "b": jnp.zeros(())},
        tolerance=0.01 * value,
        optimum={"w": jnp.asarray(w_opt), "b": jnp.asarray(b_opt)},
        optimum_value=value,
        batch_loss=batch_loss,
    )
