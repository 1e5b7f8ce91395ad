"""The install-time build step: compile gradtx's fused CPU step (gradtx/_native/fused_step.cc).

Everything else about the package is in pyproject.toml. The kernel is a plain shared library
(loaded with ctypes and registered with XLA, not imported as a Python module); it needs a C++17
compiler and jaxlib's FFI headers, taken from the environment being installed into. If either is
missing, or compiling fails, the install still succeeds and gradtx takes the XLA path;
`python -m gradtx._native.build` builds it later.
"""

import importlib.util
import pathlib

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


def _builder():
    """gradtx/_native/build.py, loaded by path: gradtx itself may not be importable yet."""
    path = ROOT / "gradtx" / "_native" / "build.py"
    spec = importlib.util.spec_from_file_location("_gradtx_native_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildFusedStep(build_ext):
    """Compile the kernel with `build.compile_library`; a failure is a warning, not an error,
    and the library is then left out of what the install copies."""

    def build_extension(self, ext):
        output = pathlib.Path(self.get_ext_fullpath(ext.name))
        if not _builder().compile_library(output):
            self.warn("gradtx: fused CPU step not built; gradtx will use the XLA path")
            self.extensions = [e for e in self.extensions if e is not ext]


setup(
    ext_modules=[
        Extension(
            "gradtx._native._fused_step",
            ["gradtx/_native/fused_step.cc"],
            depends=[f"gradtx/_native/{h}" for h in ("fused_math.h", "fused_rules.h", "threads.h")],
        )
    ],
    cmdclass={"build_ext": BuildFusedStep},
)
