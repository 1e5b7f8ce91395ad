"""The bandwidth floor in C++ (`floor_kernel.cc`): built at benchmark time, called through the FFI.

The XLA floor kernel (`measure.floor_kernel`) is what XLA:CPU makes of one pass over the arrays;
this one is what a C++ loop makes of it, the reference for gradtx's fused step (itself a C++
kernel): one 16M Adam leaf should step within 1.15x of it. It is compiled with the machine's
C++ compiler (`$CXX`, else `g++`) against `jax.ffi.include_dir()`, with the flags of
`gradtx/_native/build.py`, into a cache directory keyed by the source, the headers and the
flags, so that tree D's child processes and later runs reuse it. Without a compiler `load()`
says why, and the run goes on without the C floor.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import jax

from gradtx._native import build

SOURCE = Path(__file__).resolve().parent / "floor_kernel.cc"
TARGET, SYMBOL = "benchmarks_floor_c", "GradtxBenchFloor"


def _cache_path(cxx: str, include: str) -> Path:
    key = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        (build.HERE / "threads.h").read_bytes(),
        cxx.encode(),
        include.encode(),
        *map(str.encode, build.FLAGS),
    ):
        key.update(part)
    folder = Path(tempfile.gettempdir()) / f"gradtx-bench-floor-{key.hexdigest()[:16]}"
    return folder / build.library_name().replace(build.LIBRARY_STEM, "_floor_kernel")


@functools.cache
def load() -> str | None:
    """Build (or find) the library and register its target: None when ready, else why not."""
    cxx = os.environ.get("CXX") or "g++"
    if shutil.which(cxx) is None and not os.path.isfile(cxx):
        return f"no C++ compiler {cxx!r} (set $CXX, or install g++)"
    include = build.jax_include_dir()
    if include is None:
        return "jax's FFI headers not found (jax.ffi.include_dir())"
    library = _cache_path(cxx, include)
    if not library.exists() and not build.compile_library(library, include, cxx, SOURCE):
        return f"{cxx} failed to compile {SOURCE.name} (its errors are on stderr)"
    import ctypes

    try:
        handler = getattr(ctypes.cdll.LoadLibrary(str(library)), SYMBOL)
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(handler), platform="cpu")
    except (OSError, AttributeError, RuntimeError, ValueError) as error:
        return f"{library} did not load: {error}"
    return None


def kernel(inputs: int, outputs: int):
    """The floor as a JAX function of (params, moment_1..moment_k, grads) -> (params, moments),
    each output written in place over its input (`load()` must have returned None)."""
    assert inputs == outputs + 1, (inputs, outputs)

    def floor(*xs):
        out = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in xs[:outputs]]
        aliases = {i: i for i in range(outputs)}
        return tuple(jax.ffi.ffi_call(TARGET, out, input_output_aliases=aliases)(*xs))

    return floor
