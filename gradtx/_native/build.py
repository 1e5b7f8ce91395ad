"""Compile the fused CPU step (`fused_step.cc`) into a shared library beside this file.

Run at install time by `setup.py` (`pip install -e .` or a wheel build), or by hand:
`python -m gradtx._native.build`. It needs a C++17 compiler (`$CXX`, else `g++`) and the XLA FFI
headers shipped with jaxlib (`jax.ffi.include_dir()`). A failure is reported and returns False:
gradtx then takes the XLA path. This module imports neither gradtx nor jax at import time, so
`setup.py` can load it by path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "fused_step.cc"
LIBRARY_STEM = "_fused_step"

# No -ffast-math, and no contraction into fused multiply-adds: the kernel must round exactly as
# the XLA path does. -fno-math-errno only lets sqrt vectorize (errno is never read).
FLAGS = ["-std=c++17", "-O3", "-fPIC", "-shared", "-ffp-contract=off", "-fno-math-errno"]
FAST_FLAGS = ["-march=native", "-fopenmp"]  # each dropped if the compiler refuses it


def library_name() -> str:
    """The file name the library gets: `_fused_step` with the platform's extension suffix."""
    return LIBRARY_STEM + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def jax_include_dir(python: str | None = None) -> str | None:
    """jaxlib's FFI header directory: from this interpreter's jax, else from `python`'s (the
    target environment when pip builds in an isolated one), else None."""
    try:
        import jax.ffi

        return jax.ffi.include_dir()
    except Exception:  # noqa: BLE001 - any failure means "not here"
        pass
    if python is None:
        return None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    code = "import jax.ffi; print(jax.ffi.include_dir())"
    try:
        out = subprocess.run(
            [python, "-I", "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.SubprocessError):
        return None
    path = out.stdout.strip()
    return path if out.returncode == 0 and path and os.path.isdir(path) else None


def _compiles(
    cxx: str, flags: list[str], include: str, source: Path, output: Path, log: list[str]
) -> bool:
    command = [cxx, *flags, f"-I{include}", f"-I{HERE}", str(source), "-o", str(output)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as error:
        log.append(f"{' '.join(command)}: {error}")
        return False
    if result.returncode != 0:
        log.append(f"{' '.join(command)}:\n{result.stderr[-2000:]}")
    return result.returncode == 0


def compile_library(
    output: Path, include: str | None = None, cxx: str | None = None, source: Path = SOURCE
) -> bool:
    """Compile the kernel (or another `source` that includes this directory's headers, as the
    benchmark's floor kernel does) to `output`; True on success. Tries the fast flags, then
    without each.

    The library is written to a temporary file and moved into place, so a concurrent reader
    never sees half a file.
    """
    log: list[str] = []
    what = "fused CPU step" if source == SOURCE else source.name
    cxx = cxx or os.environ.get("CXX") or "g++"
    include = include or jax_include_dir(sys.executable)
    if include is None:
        print(f"gradtx: {what} not built: jax's FFI headers not found", file=sys.stderr)
        return False
    if shutil.which(cxx) is None and not os.path.isfile(cxx):
        print(f"gradtx: {what} not built: no C++ compiler {cxx!r}", file=sys.stderr)
        return False
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / output.name
        for extra in (FAST_FLAGS, FAST_FLAGS[1:], []):
            if _compiles(cxx, FLAGS + extra, include, source, trial, log):
                _move(trial, output)
                return True
    print(f"gradtx: {what} not built:\n" + "\n".join(log), file=sys.stderr)
    return False


def _move(source: Path, output: Path) -> None:
    """Copy next to `output`, then rename: atomic even across file systems."""
    partial = output.with_name(output.name + f".{os.getpid()}.partial")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o755)
    os.replace(partial, output)


def main() -> int:
    output = HERE / library_name()
    ok = compile_library(output)
    print(f"gradtx: fused CPU step {'built: ' + str(output) if ok else 'not built'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
