"""The fused CPU step: a C++ kernel registered with XLA as FFI custom calls.

`load()` finds the library that `build.py` compiled at install time, registers its handlers with
XLA for the CPU platform, and returns True; without a library (no compiler at install time), or
with `GRADTX_FUSED=0` in the environment, it returns False and gradtx takes the XLA path.
"""

from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

# FFI target name -> exported handler symbol in fused_step.cc.
TARGETS = {
    "gradtx_sgd": "GradtxSgd",
    "gradtx_momentum": "GradtxMomentum",
    "gradtx_nesterov": "GradtxNesterov",
    "gradtx_adam": "GradtxAdam",
    "gradtx_adamw": "GradtxAdamW",
    "gradtx_nadam": "GradtxNadam",
    "gradtx_nadamw": "GradtxNadamW",
    "gradtx_adamax": "GradtxAdamax",
    "gradtx_adamaxw": "GradtxAdamaxW",
    "gradtx_amsgrad": "GradtxAmsgrad",
    "gradtx_belief": "GradtxBelief",
    "gradtx_radam": "GradtxRadam",
    "gradtx_lion": "GradtxLion",
    "gradtx_lion_undecayed": "GradtxLionUndecayed",
    "gradtx_adagrad": "GradtxAdagrad",
    "gradtx_rmsprop": "GradtxRmsprop",
    "gradtx_rmsprop_centered": "GradtxRmspropCentered",
    "gradtx_rmsprop_momentum": "GradtxRmspropMomentum",
    "gradtx_rmsprop_centered_momentum": "GradtxRmspropCenteredMomentum",
    "gradtx_adabound": "GradtxAdaBound",
    "gradtx_amsbound": "GradtxAmsBound",
}


def disabled_by_environment() -> bool:
    """Whether `GRADTX_FUSED` is set to 0 (or false/no/off): the XLA path everywhere."""
    return os.environ.get("GRADTX_FUSED", "1").strip().lower() in ("0", "false", "no", "off")


def library_path() -> Path | None:
    """The compiled library in this directory, or None."""
    found = sorted(HERE.glob("_fused_step*.so")) + sorted(HERE.glob("_fused_step*.pyd"))
    return found[0] if found else None


@functools.cache
def _register() -> bool:
    path = library_path()
    if path is None:
        return False
    import jax

    try:
        library = ctypes.cdll.LoadLibrary(str(path))
        for target, symbol in TARGETS.items():
            capsule = jax.ffi.pycapsule(getattr(library, symbol))
            jax.ffi.register_ffi_target(target, capsule, platform="cpu")
    except (OSError, AttributeError, RuntimeError, ValueError):
        return False
    return True


def exact_rsqrt(dtype: str) -> bool:
    """Whether the kernel's rsqrt equals XLA:CPU's bit for bit on this host, for "float32" or
    "float64", checked once on 8,192 values (random bit patterns, zeros, subnormals,
    infinities, negatives). The hardware estimate both refine differs between processors and
    instruction sets; where they disagree, Adagrad and RMSprop in that dtype take the XLA path.
    Without `jax_enable_x64` there are no float64 arrays: False for "float64", and not cached."""
    import jax
    import numpy as np

    if dtype == "float64" and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        return False
    return _exact_rsqrt(dtype)


@functools.cache
def _exact_rsqrt(dtype: str) -> bool:
    path = library_path()
    if path is None:
        return False
    library = ctypes.cdll.LoadLibrary(str(path))
    probe = getattr(library, "GradtxRsqrt32" if dtype == "float32" else "GradtxRsqrt64", None)
    if probe is None:  # a library built from older sources: rebuild with gradtx._native.build
        return False
    if dtype == "float64" and not library.GradtxExactRsqrt64():
        return False
    import jax
    import numpy as np

    bits = np.dtype({"float32": np.uint32, "float64": np.uint64}[dtype])
    rng = np.random.default_rng(0)
    x = rng.integers(0, np.iinfo(bits).max, 8192, dtype=bits, endpoint=True).view(dtype)
    x[:6] = [0.0, -0.0, np.inf, -np.inf, -1.0, np.finfo(dtype).smallest_subnormal]
    x = np.where(np.isnan(x), 1.0, x).astype(dtype)
    got = np.empty_like(x)
    pointer = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    probe(pointer(x), pointer(got), ctypes.c_int64(x.size))
    with jax.ensure_compile_time_eval():
        cpu = jax.devices("cpu")[0]
        want = np.asarray(jax.jit(jax.lax.rsqrt)(jax.device_put(x, cpu)))
    same = (got.view(bits) == want.view(bits)) | (np.isnan(got) & np.isnan(want))
    return want.dtype == x.dtype and bool(same.all())


def load() -> bool:
    """Register the kernel once; True when the fused step can be used in this process."""
    return not disabled_by_environment() and _register()
