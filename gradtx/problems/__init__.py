"""Challenge problems for gradient descent: 2-D landscapes, noisy gradients, small datasets.

Every problem is trained through one call; deterministic problems ignore the key:

    >>> import jax
    >>> from gradtx import problems
    >>> problem = problems.get("rosenbrock")
    >>> value, grads = jax.jit(problem.value_and_grad)(problem.start, jax.random.key(0))
    >>> round(float(value), 4), sorted(problem.evaluate(problem.start))
    (24.2, ['distance_to_optimum', 'loss'])
"""

from gradtx.problems._base import Problem as Problem
from gradtx.problems._counterexamples import minimum_norm_solution as minimum_norm_solution
from gradtx.problems._counterexamples import reddi as reddi
from gradtx.problems._counterexamples import reddi_stochastic as reddi_stochastic
from gradtx.problems._counterexamples import wilson as wilson
from gradtx.problems._datasets import breast_cancer as breast_cancer
from gradtx.problems._datasets import digits as digits
from gradtx.problems._landscapes import cliff as cliff
from gradtx.problems._landscapes import himmelblau as himmelblau
from gradtx.problems._landscapes import plateau as plateau
from gradtx.problems._landscapes import rastrigin as rastrigin
from gradtx.problems._landscapes import ravine as ravine
from gradtx.problems._landscapes import rosenbrock as rosenbrock
from gradtx.problems._landscapes import saddle as saddle
from gradtx.problems._registry import COUNTEREXAMPLES as COUNTEREXAMPLES
from gradtx.problems._registry import PROBLEMS as PROBLEMS
from gradtx.problems._registry import get as get
from gradtx.problems._stochastic import noisy as noisy
from gradtx.problems._stochastic import sparse as sparse
