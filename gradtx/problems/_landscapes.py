"""Deterministic 2-D landscapes: each isolates one classic difficulty of gradient descent.

Params are one array $\theta = (x, y)$ of shape (2,). Constants are Python floats, so a landscape
keeps the dtype of its params (float32, or float64 under `jax.enable_x64(True)`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gradtx.problems._base import Problem


def _point(x: float, y: float) -> jax.Array:
    return jnp.array([x, y])


def ravine() -> Problem:
    r"""An axis-aligned ill-conditioned quadratic with condition number 100.

    $$f(x, y) = \tfrac12 (x^2 + 100\, y^2), \qquad \theta^* = (0, 0),\ f^* = 0$$

    References: Polyak, "Some methods of speeding up the convergence of iteration methods",
    USSR Comput. Math. Math. Phys., 1964; Goh, "Why Momentum Really Works", Distill, 2017.
    """

    def loss(theta):
        x, y = theta[0], theta[1]
        return 0.5 * (x**2 + 100.0 * y**2)

    return Problem(
        name="ravine",
        description=(
            "An ill-conditioned quadratic f = (x² + 100 y²)/2: the walls of the ravine are 100 "
            "times steeper than its floor. Gradient descent must keep its step below 2/100 to "
            "stay stable across the ravine, so it zig-zags between the walls and crawls along "
            "the floor, needing a number of steps proportional to the condition number κ = 100. "
            "Heavy-ball momentum (Polyak, 1964) and Nesterov's method, with their parameters "
            "set from the two curvatures, damp the zig-zag and need a number of steps of order "
            "√κ (Goh, 'Why Momentum Really Works', 2017). The ravine is aligned with the axes, "
            "so a per-coordinate step size can scale the steep axis apart from the shallow one; "
            "a rotated ravine takes that possibility away."
        ),
        loss=loss,
        start=_point(-8.0, 1.5),
        tolerance=1e-3,
        optimum=_point(0.0, 0.0),
        optimum_value=0.0,
        bounds=((-10.0, 10.0), (-3.0, 3.0)),
    )


def saddle() -> Problem:
    r"""A saddle at the origin between two minima, started on its stable manifold.

    $$f(x, y) = \tfrac12 x^2 + \tfrac14 y^4 - \tfrac12 y^2,
    \qquad \theta^* = (0, \pm 1),\ f^* = -\tfrac14$$

    Gradient descent from (1, 1e-6) first slides into the saddle along the x axis, then
    leaves it only as fast as y grows, by a factor $1 + \eta$ per step.

    References: Dauphin et al., "Identifying and attacking the saddle point problem in
    high-dimensional non-convex optimization", NeurIPS 2014; Jin et al., "How to Escape Saddle
    Points Efficiently", ICML 2017.
    """

    def loss(theta):
        x, y = theta[0], theta[1]
        return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2

    return Problem(
        name="saddle",
        description=(
            "A saddle point at the origin of f = x²/2 + y⁴/4 − y²/2, whose two minima sit at "
            "(0, ±1). The start (1, 10⁻⁶) lies almost on the saddle's stable manifold, the x "
            "axis: gradient descent first slides into the saddle, where the gradient vanishes, "
            "and then escapes only as fast as the tiny offset in y grows, by a factor 1 + η per "
            "step, so the loss curve shows a long false plateau. In high dimensions saddles, not "
            "bad local minima, are the typical critical points (Dauphin et al., 2014). Gradient "
            "noise escapes them in polynomial time (Ge et al., 2015; Jin et al., 2017). How "
            "soon an optimizer leaves depends on how it scales the tiny escape direction, which "
            "the race measures."
        ),
        loss=loss,
        start=_point(1.0, 1e-6),
        tolerance=1e-3,
        optimum=_point(0.0, 1.0),
        optimum_value=-0.25,
        other_optima=(_point(0.0, -1.0),),
        bounds=((-1.5, 1.5), (-1.5, 1.5)),
    )


def plateau() -> Problem:
    r"""A Gaussian well in a flat plain, started four widths away where the gradient is ~1e-3.

    $$f(\theta) = 1 - \exp(-\lVert\theta\rVert^2 / 2), \qquad \theta^* = 0,\ f^* = 0$$

    References: Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks", ICLR 2014.
    """

    def loss(theta):
        return 1.0 - jnp.exp(-0.5 * jnp.sum(theta**2))

    return Problem(
        name="plateau",
        description=(
            "A narrow Gaussian well in a flat plain, f = 1 − exp(−‖θ‖²/2). The start lies four "
            "widths from the well, where the gradient is about 10⁻³: a plain gradient step "
            "barely moves, and the loss curve looks converged long before the minimum is found. "
            "Such plateaus slowed the training of early deep networks (Saxe et al., 2014). "
            "Momentum accumulates a small but consistent gradient, moving up to 1/(1 − β) times "
            "faster, and methods that divide by a running gradient scale (AdaGrad, RMSProp, "
            "Adam) take steps of about the learning rate whatever the gradient's size, in the "
            "plain and in the narrow well alike."
        ),
        loss=loss,
        start=_point(-3.2, 2.4),
        tolerance=1e-3,
        optimum=_point(0.0, 0.0),
        optimum_value=0.0,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
    )


_HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.283185991286169),
    (3.5844283403304917, -1.8481265269644034),
)


def himmelblau() -> Problem:
    r"""Himmelblau's function: four global minima of value 0 around one local maximum.

    $$f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2$$

    with minima at (3, 2), (-2.8051, 3.1313), (-3.7793, -3.2832), (3.5844, -1.8481) and a
    local maximum at (-0.2708, -0.9230). `distance_to_optimum` is to the nearest minimum.

    References: Himmelblau, "Applied Nonlinear Programming", McGraw-Hill, 1972.
    """

    def loss(theta):
        x, y = theta[0], theta[1]
        return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2

    minima = tuple(_point(x, y) for x, y in _HIMMELBLAU_MINIMA)
    return Problem(
        name="himmelblau",
        description=(
            "Himmelblau's function (x² + y − 11)² + (x + y² − 7)² (Himmelblau, 1972) has four "
            "global minima of value 0, separated by ridges and curved valleys, around a local "
            "maximum at (−0.27, −0.92). Started next to that maximum, an optimiser that "
            "converges finds one of the minima, and which one depends on its path: the steepest "
            "slope leads towards (3.58, −1.85), while a step that treats both coordinates alike "
            "(a sign-like first step) heads diagonally, towards (3, 2). Optimisers differ not "
            "only in speed but in where they end up, the question behind studies of their "
            "implicit bias (Wilson et al., 2017). Distance is measured to the nearest of the "
            "four minima."
        ),
        loss=loss,
        start=_point(-0.2, -0.9),
        tolerance=1e-3,
        optimum=minima[0],
        optimum_value=0.0,
        other_optima=minima[1:],
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
    )


def rastrigin() -> Problem:
    r"""The 2-D Rastrigin function: a bowl covered in a lattice of local minima.

    $$f(\theta) = 20 + \sum_{i=1}^{2} \bigl(\theta_i^2 - 10 \cos(2\pi\theta_i)\bigr),
    \qquad \theta^* = 0,\ f^* = 0$$

    References: Rastrigin, "Systems of extremal control", Nauka, 1974; Mühlenbein et al.,
    "The parallel genetic algorithm as function optimizer", Parallel Computing, 1991.
    """

    def loss(theta):
        return 20.0 + jnp.sum(theta**2 - 10.0 * jnp.cos(2.0 * jnp.pi * theta))

    return Problem(
        name="rastrigin",
        description=(
            "The Rastrigin function 20 + Σ(θᵢ² − 10 cos 2πθᵢ) (Rastrigin, 1974) lays a lattice "
            "of local minima, one near every integer point, over a wide bowl whose only global "
            "minimum is at the origin. Gradient descent with a small step stops in the first "
            "local minimum it meets; the curvature in each dimple (about 400) also makes steps "
            "above 0.005 unstable there, so larger steps bounce between dimples. Nothing "
            "gradient-based solves this reliably: the literature's remedies are noise and "
            "exploration, such as annealed gradient noise (Neelakantan et al., 2015), "
            "Langevin dynamics, warm restarts (Loshchilov & Hutter, 2017) or population methods. "
            "A run counts as reached only near the global minimum."
        ),
        loss=loss,
        start=_point(2.6, -3.4),
        tolerance=1e-3,
        optimum=_point(0.0, 0.0),
        optimum_value=0.0,
        bounds=((-5.12, 5.12), (-5.12, 5.12)),
    )


def rosenbrock() -> Problem:
    r"""Rosenbrock's banana valley from the classic start (-1.2, 1).

    $$f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2, \qquad \theta^* = (1, 1),\ f^* = 0$$

    References: Rosenbrock, "An automatic method for finding the greatest or least value of a
    function", The Computer Journal, 1960.
    """

    def loss(theta):
        x, y = theta[0], theta[1]
        return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2

    return Problem(
        name="rosenbrock",
        description=(
            "Rosenbrock's banana function (1 − x)² + 100 (y − x²)² (Rosenbrock, 1960) hides its "
            "minimum at (1, 1) at the end of a narrow, curved, nearly flat valley. From the "
            "classic start (−1.2, 1) gradient descent drops onto the valley floor quickly and "
            "then creeps along it: the step that keeps it stable across the valley (curvature "
            "up to about 1000 at the minimum, condition number about 2500) is tiny along it, "
            "and because the valley bends, the good direction keeps changing and is aligned "
            "with neither axis. Quasi-Newton methods such as BFGS, which learn the curvature, "
            "are the classic answer (Nocedal & Wright, 2006)."
        ),
        loss=loss,
        start=_point(-1.2, 1.0),
        tolerance=1e-3,
        optimum=_point(1.0, 1.0),
        optimum_value=0.0,
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
    )


def cliff() -> Problem:
    r"""A smooth valley behind a steep cliff wall whose gradient reaches ~1e3.

    $$f(x, y) = \sqrt{1 + x^2} - 1 + \tfrac12 y^2 + 100\,\sigma\bigl(50 (x - 1)\bigr)$$

    with $\sigma$ the logistic function. The start (1.02, 0.5) sits on the cliff face, where
    $\partial f / \partial x$ is about 980: a plain step of learning rate 0.1 throws x to about
    -97, and the valley's slope of at most 1 then needs about 970 steps to walk back. The optimum
    is (0, 0); there the wall adds $100\,\sigma(-50) < 2 \cdot 10^{-20}$ to f and its gradient,
    ignored in `optimum_value`.

    References: Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural
    networks", ICML 2013, Sec. 3 and Fig. 6; Goodfellow, Bengio & Courville, "Deep Learning",
    MIT Press, 2016, Sec. 8.2.4.
    """

    def loss(theta):
        x, y = theta[0], theta[1]
        valley = jnp.sqrt(1.0 + x**2) - 1.0 + 0.5 * y**2
        return valley + 100.0 * jax.nn.sigmoid(50.0 * (x - 1.0))

    return Problem(
        name="cliff",
        description=(
            "Exploding gradients: a gentle valley, √(1 + x²) − 1 + y²/2, is fenced by a cliff "
            "of height 100 at x = 1 whose face has gradients above 10³. The start sits on the "
            "face, so a plain gradient step of rate η is about 10³ η units long (about 100 at "
            "η = 0.1) and can throw the parameters far behind the minimum; since the valley's "
            "slope is at most 1, walking back takes hundreds of steps. This is the picture "
            "Pascanu, Mikolov and Bengio (2013) drew for recurrent networks, and their fix, "
            "clipping the gradient norm (also Mikolov, 2012), turns the catapult into a short "
            "step in the right direction."
        ),
        loss=loss,
        start=_point(1.02, 0.5),
        tolerance=1e-3,
        optimum=_point(0.0, 0.0),
        optimum_value=0.0,
        bounds=((-12.0, 3.0), (-3.0, 3.0)),
    )
