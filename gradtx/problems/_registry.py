"""The registry of problems by name, in the order a race presents them."""

from __future__ import annotations

from collections.abc import Callable

from gradtx.problems._base import Problem
from gradtx.problems._counterexamples import reddi, reddi_stochastic, wilson
from gradtx.problems._datasets import breast_cancer, digits
from gradtx.problems._landscapes import (
    cliff,
    himmelblau,
    plateau,
    rastrigin,
    ravine,
    rosenbrock,
    saddle,
)
from gradtx.problems._stochastic import noisy, sparse

PROBLEMS: dict[str, Callable[[], Problem]] = {
    "ravine": ravine,
    "saddle": saddle,
    "plateau": plateau,
    "himmelblau": himmelblau,
    "rastrigin": rastrigin,
    "rosenbrock": rosenbrock,
    "cliff": cliff,
    "noisy": noisy,
    "sparse": sparse,
    "digits": digits,
    "breast_cancer": breast_cancer,
}

# The literature's counterexamples: each reproduces one paper's published outcome. They are kept
# out of PROBLEMS, the race's challenges, because an online or constrained problem needs its own
# loop (the step number as input, projected steps).
COUNTEREXAMPLES: dict[str, Callable[[], Problem]] = {
    "reddi": reddi,
    "reddi_stochastic": reddi_stochastic,
    "wilson": wilson,
}


def get(name: str) -> Problem:
    """Build the problem registered as `name`, e.g. `get("rosenbrock")` or `get("reddi")`."""
    known = {**PROBLEMS, **COUNTEREXAMPLES}
    if name not in known:
        raise ValueError(
            f"Unknown problem {name!r}. Valid names: {', '.join(known)}. "
            "Register a new one by adding its constructor to gradtx.problems.PROBLEMS."
        )
    return known[name]()
