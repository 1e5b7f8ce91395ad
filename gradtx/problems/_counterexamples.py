"""Counterexamples from the literature: where Adam fails to converge, where it generalises worse.

Each problem is small and exactly specified, so that a paper's published outcome can be reproduced
in seconds: Reddi, Kale & Kumar's online problem on [-1, 1] (and its stochastic variant), on which
Adam drifts to the worst point while AMSGrad converges; and Wilson et al.'s over-parameterised
classification problem, on which the adaptive methods interpolate the training set with a solution
that predicts +1 for every new point while gradient descent finds one that generalises perfectly.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.problems._base import Problem


def _project_to_interval(x):
    """The Euclidean projection onto the feasible set F = [-1, 1]."""
    return jnp.clip(x, -1.0, 1.0)


def reddi(c: float = 3.0) -> Problem:
    r"""Reddi, Kale & Kumar's online problem on [-1, 1], where Adam converges to the worst point.

    $$f_t(x) = \begin{cases} C x & t \bmod 3 = 0 \\ -x & \text{otherwise} \end{cases},
    \qquad x \in F = [-1, 1], \qquad x_{t+1} = \Pi_F(x_t + u_t)$$

    with $C$ = `c` > 2 and steps t = 0, 1, 2, ... (the paper counts from 1 and puts $Cx$ at
    $t \bmod 3 = 1$: the same sequence). Over each period of three steps the losses add up to
    $(C - 2)x$, so the best fixed point is $x^* = -1$; `loss` is their average $(C - 2)x / 3$,
    the quantity the regret compares with. An online problem: `value_and_grad(x, t)` takes the
    step number t. Params are an array of shape (1,), starting at $x_1 = 1$ as in the proof.

    Published outcome (Theorem 1): with $\beta_1 = 0$, $\beta_2 = 1/(1 + C^2)$ and
    $\alpha_t = \alpha/\sqrt t$, $\alpha < \sqrt{1 - \beta_2}$, Adam returns to $x = 1$, the worst
    point, after every period, so its average regret does not vanish; AMSGrad (Algorithm 2)
    converges to $x^* = -1$. The large gradient $C$ comes once in three steps and Adam's
    short-memory second moment forgets it, so the two small gradients that point the wrong way
    undo the step it caused.

    References: Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Section 3
    and Theorem 1.
    """
    if not c > 2:
        raise ValueError(f"reddi: c must be > 2 (so that x = -1 is optimal), got {c!r}")

    def online_loss(x, t):
        return jnp.sum(jnp.where(t % 3 == 0, c, -1.0) * x)

    def loss(x):
        return jnp.sum((c - 2.0) / 3.0 * x)

    return Problem(
        name="reddi",
        description=(
            f"Reddi, Kale and Kumar's online problem (ICLR 2018): on [−1, 1] the loss is {c:g}x "
            "at every third step and −x at the others, so the best fixed point is x = −1. Adam "
            f"with β₁ = 0 and β₂ = 1/(1 + {c:g}²) forgets the rare large gradient within a step, "
            "and the two small gradients that follow it push it back: it returns to x = +1, the "
            "worst point, after every period. AMSGrad keeps the largest second moment it has "
            "seen, so the rare large gradient keeps its weight and it converges to −1. Steps are "
            "projected onto [−1, 1]."
        ),
        loss=loss,
        start=jnp.array([1.0]),
        tolerance=0.05 * (c - 2.0) / 3.0,  # reached when x <= -0.95
        optimum=jnp.array([-1.0]),
        optimum_value=-(c - 2.0) / 3.0,
        online_loss=online_loss,
        project=_project_to_interval,
    )


def reddi_stochastic(c: float = 10.0, delta: float = 1.0) -> Problem:
    r"""Reddi, Kale & Kumar's stochastic problem on [-1, 1]: Adam drifts to +1, AMSGrad to -1.

    $$f(x; \xi) = \begin{cases} C x & \text{with probability } p = \frac{1 + \delta}{C + 1} \\
    -x & \text{otherwise} \end{cases}, \qquad
    F(x) = \mathbb{E} f(x; \xi) = \delta x, \qquad x \in [-1, 1]$$

    with $C$ = `c` and $\delta$ = `delta` > 0; the optimum is $x^* = -1$. The key draws $\xi$;
    `loss` is $F$. Params are an array of shape (1,), starting at 1.

    Published outcome (Theorem 3): for any $\beta_1 < \sqrt{\beta_2}$ there are $C$ and $\delta$
    for which Adam does not converge to $x^*$: a large gradient is rare, Adam's step on it is
    bounded, and the frequent small gradients, each as large a step, win. Here (an instance
    chosen and measured in gradtx, not the paper's figure) C = 10, $\delta = 1$,
    $\beta_1 = 0$, $\beta_2 = 1/(1 + C^2)$ and $\alpha_t = 0.5/\sqrt t$: over 3,000 steps Adam
    stays at +1 and AMSGrad reaches -1 for every seed tested.

    References: Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, Theorem 3
    and Section 5 (a stochastic experiment with $C$ = 1010, p = 0.01).
    """
    if not c > 0 or not delta > 0 or not (1.0 + delta) / (c + 1.0) < 1.0:
        raise ValueError(
            f"reddi_stochastic: need c > 0 and 0 < delta < c (so that p < 1), got c={c!r}, "
            f"delta={delta!r}"
        )
    p = (1.0 + delta) / (c + 1.0)

    def batch_loss(x, key):
        return jnp.sum(jnp.where(jax.random.uniform(key) < p, c, -1.0) * x)

    def loss(x):
        return jnp.sum(delta * x)

    return Problem(
        name="reddi_stochastic",
        description=(
            f"The stochastic version of Reddi et al.'s counterexample: on [−1, 1] the loss is "
            f"{c:g}x with probability {p:.3g} and −x otherwise, so its expectation is "
            f"{delta:g}x and the optimum is x = −1. Adam's step is about as long for the rare "
            "large gradient as for each frequent small one, so it drifts to +1; AMSGrad "
            "remembers the large gradient's second moment and converges to −1."
        ),
        loss=loss,
        start=jnp.array([1.0]),
        tolerance=0.05 * delta,  # reached when x <= -0.95
        optimum=jnp.array([-1.0]),
        optimum_value=-delta,
        batch_loss=batch_loss,
        project=_project_to_interval,
    )


WILSON_SAMPLES = 40
WILSON_P = 0.55
WILSON_SEED = 1  # a draw with more positive than negative labels, as the construction needs
WILSON_TEST_POINTS = 10_000


def wilson_features(y: np.ndarray) -> np.ndarray:
    """Wilson et al.'s feature matrix for labels y in {-1, +1}: shape (n, 3 + 5 n).

    Row i has $x_{i1} = y_i$, $x_{i2} = x_{i3} = 1$, and ones in its own block of five columns
    starting at $4 + 5(i - 1)$ (1-based): the first column of the block for a positive sample, all
    five for a negative one (columns $4 + 5(i-1), \\dots, 4 + 5(i-1) + 2(1 - y_i)$).
    """
    n = y.shape[0]
    x = np.zeros((n, 3 + 5 * n))
    x[:, 0], x[:, 1:3] = y, 1.0
    for i, label in enumerate(y):
        x[i, 3 + 5 * i : 3 + 5 * i + (1 if label > 0 else 5)] = 1.0
    return x


@functools.cache
def wilson_data(
    n: int = WILSON_SAMPLES, p: float = WILSON_P, seed: int = WILSON_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): n labels, +1 with probability p, and their features (`wilson_features`)."""
    y = np.where(np.random.default_rng(seed).random(n) < p, 1.0, -1.0)
    if not y.sum() > 0:
        raise ValueError(
            f"wilson: the draw (n={n}, p={p}, seed={seed}) has no more positive than negative "
            "labels, which the construction assumes; choose another seed or a larger n."
        )
    return wilson_features(y), y


def minimum_norm_solution(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""$w^\dagger = X^\top (X X^\top)^{-1} y$, the interpolating solution of least norm.

    Gradient descent and SGD started at 0 stay in the row space of X and converge to it.
    """
    return x.T @ np.linalg.solve(x @ x.T, y)


def _errors(w, x, y, test_labels):
    """Training and fresh-draw error rates of sign(x . w) (a score of 0 counts as an error).

    A fresh point has features $(y, 1, 1)$ and five new columns no training point uses, so its
    score is $y w_1 + w_2 + w_3$.
    """
    wrong = lambda scores, labels: jnp.mean((jnp.sign(scores) != labels).astype(w.dtype))
    scores = test_labels * w[0] + w[1] + w[2]
    return {"train_error": wrong(x @ w, y), "test_error": wrong(scores, test_labels)}


def wilson(n: int = WILSON_SAMPLES, p: float = WILSON_P, seed: int = WILSON_SEED) -> Problem:
    r"""Wilson et al.'s over-parameterised classification problem, where adaptivity overfits.

    $$f(w) = \frac{1}{2n} \lVert X w - y \rVert^2, \qquad X \in \mathbb{R}^{n \times (3 + 5n)},$$

    labels $y_i = +1$ with probability p > 1/2, else -1; feature 1 is the label, features 2 and 3
    are always 1, and each sample has features of its own: one for a positive sample, five for a
    negative one (`wilson_features`). Here n = 40, p = 0.55 and a fixed draw (26 positive, 14
    negative). Params are one array of 203 weights, starting at 0. `batch_loss` draws one sample
    (SGD). `metrics` reports `train_error` and `test_error`, the error rate on 10,000 fresh draws
    from the same construction (a fixed NumPy seed), whose own features are new columns.

    Because $X\,\mathrm{sign}(X^\top y) = 4 y$, the adaptive methods started at 0 (AdaGrad, RMSProp,
    Adam) move along $\mathrm{sign}(X^\top y)$ and converge to $w = \mathrm{sign}(X^\top y) / 4$,
    whose score on a fresh point is $(y + 2)/4 > 0$: it predicts +1 everywhere, an error of
    1 - p on fresh draws. Gradient descent and SGD converge to the minimum-norm solution, stored as
    `optimum`, which classifies a fresh point by its feature 1 (checked for this draw).

    The paper's statement (abstract): "We construct an illustrative binary classification problem
    where the data is linearly separable, GD and SGD achieve zero test error, and AdaGrad, Adam,
    and RMSProp attain test errors arbitrarily close to half." The construction is transcribed
    from Section 3.3 as recalled offline (its full text could not be read here); the mechanism it
    relies on, $X\,\mathrm{sign}(X^\top y) \propto y$, is verified in the tests, and the test
    errors are measured, not quoted: 1 - p tends to one half as p does.

    References: Wilson, Roelofs, Stern, Srebro & Recht, "The Marginal Value of Adaptive Gradient
    Methods in Machine Learning", NeurIPS 2017, Section 3.3.
    """
    x_np, y_np = wilson_data(n, p, seed)
    test_np = np.where(np.random.default_rng(seed + 1).random(WILSON_TEST_POINTS) < p, 1.0, -1.0)
    x, y, test_labels = jnp.asarray(x_np), jnp.asarray(y_np), jnp.asarray(test_np)
    w_min = minimum_norm_solution(x_np, y_np)

    def residual_loss(w, xs, ys):
        return 0.5 * jnp.mean((xs.astype(w.dtype) @ w - ys.astype(w.dtype)) ** 2)

    def loss(w):
        return residual_loss(w, x, y)

    def batch_loss(w, key):
        i = jax.random.randint(key, (1,), 0, n)
        return residual_loss(w, x[i], y[i])

    def metrics(w):
        return _errors(w, x.astype(w.dtype), y.astype(w.dtype), test_labels.astype(w.dtype))

    return Problem(
        name="wilson",
        description=(
            "Wilson et al.'s construction (NeurIPS 2017): least-squares classification with 203 "
            "features and 40 samples, labels +1 with probability 0.55. Feature 1 is the label, "
            "features 2 and 3 are always 1, and each sample has features of its own (one for a "
            "positive sample, five for a negative one). Every method fits the training set "
            "exactly, but from zero the adaptive methods (AdaGrad, RMSProp, Adam) move along "
            "sign(Xᵀy) and end at a solution that scores every new point positive, misclassifying "
            "all negatives, while gradient descent and SGD converge to the minimum-norm solution, "
            "which classifies new points by feature 1 without error."
        ),
        loss=loss,
        start=jnp.zeros(x_np.shape[1]),
        tolerance=1e-6,
        optimum=jnp.asarray(w_min),
        optimum_value=0.0,
        batch_loss=batch_loss,
        metrics=metrics,
    )
