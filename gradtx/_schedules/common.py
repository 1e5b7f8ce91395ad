"""What every schedule shares: the count as a float, and the check of step boundaries."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp


def as_float(count: jax.typing.ArrayLike) -> jax.Array:
    """The count (or a value) as an array of the default float dtype, unless already inexact."""
    x = jnp.asarray(count)
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


def check_boundaries(where: str, name: str, boundaries: Sequence[Any]) -> None:
    """Step boundaries must be non-negative integers in non-decreasing order."""
    ok = all(isinstance(b, numbers.Integral) and not isinstance(b, bool) for b in boundaries)
    if not (ok and all(b >= 0 for b in boundaries) and list(boundaries) == sorted(boundaries)):
        raise ValueError(
            f"{where}: {name} must be non-negative integers in non-decreasing order, "
            f"got {boundaries!r}"
        )
