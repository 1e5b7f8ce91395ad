"""Test-wide settings: float64 available, strict dtype promotion, no implicit rank promotion.

x64 is enabled so that conformance tests can compare in float64; tests that care about other
dtypes build their arrays with an explicit dtype. Strict promotion makes a silent upcast (a
bfloat16 state turned float32 by a stray float32 constant) an error instead, and rank promotion
"raise" does the same for a silent broadcast of a (3,) array against a (2, 3) one. Warnings are
errors too (`filterwarnings` in pyproject.toml).

A test that runs Optax as its reference asks for standard promotion with
`@pytest.mark.usefixtures("_standard_promotion")`, or for a whole module with
`pytestmark = pytest.mark.usefixtures("_standard_promotion")`.
"""

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def _standard_promotion():
    """Optax mixes Python floats with int32 step counts, which strict promotion rejects."""
    with jax.numpy_dtype_promotion("standard"):
        yield
