"""The README's install instructions, followed in a clean virtualenv: `pip install <clone>`, the
README's example, the `gradtx` command, the fused step's build, and the `[orbax]` extra.

Nothing of this project's .venv is used: a new virtualenv (its own pip, no system packages)
installs a copy of this working tree's files (what a clone of it holds: tracked and untracked,
not ignored) the way the README says, and jax, chex and numpy come from the package index, as
they would for a user. That takes about two minutes and the network, so the test runs only
where GRADTX_INSTALL_TEST=1: `.ci/run` sets it after `make test`, which skips it.
(`pip wheel --no-deps <clone>`, the README's third line, builds the same wheel pip builds and
installs here.)
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    os.environ.get("GRADTX_INSTALL_TEST") != "1",
    reason="a clean-virtualenv install (about 2 min, needs the package index): "
    "GRADTX_INSTALL_TEST=1, as .ci/run sets after make test",
)

# The child processes see neither this checkout (PYTHONPATH, the working directory) nor this venv.
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _run(*command, cwd):
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clone(destination: Path) -> Path:
    """Copy the files a clone of this working tree holds (tracked and untracked, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # a file deleted but not yet staged is listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    return destination


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"## Adam from its parts\n\n```python\n(.*?)```", readme, re.S).group(1)


ORBAX_ROUND_TRIP = """
import sys
import jax, jax.numpy as jnp
import orbax.checkpoint as ocp
import gradtx

params = {"w": jnp.arange(3.0)}
tx = gradtx.adam(1e-2)
state = tx.update(params, tx.init(params), params)[1]
checkpointer = ocp.StandardCheckpointer()
checkpointer.save(sys.argv[1], state)
checkpointer.wait_until_finished()
restored = checkpointer.restore(sys.argv[1], jax.eval_shape(tx.init, params))
assert jax.tree.structure(restored) == jax.tree.structure(state)
assert all(bool((a == b).all()) for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)))
print("restored")
"""


def test_pip_install_of_a_clone_then_the_readme_example(tmp_path):
    clone = _clone(tmp_path / "gradtx")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"

    # pip install /path/to/gradtx
    _run(python, "-m", "pip", "install", "--quiet", clone, cwd=tmp_path)
    where = _run(python, "-c", "import gradtx; print(gradtx.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(venv), where

    loss = _run(python, "-c", _readme_example(), cwd=tmp_path).strip().splitlines()[-1]
    assert float(loss) < 1e-10  # the README says ~1e-13

    listed = _run(venv / "bin" / "gradtx", "list", cwd=tmp_path).split()
    assert {"adam", "sgd", "rosenbrock"} <= set(listed)

    # jax arrived in the same install, so the fused CPU step was not compiled (as the install
    # section says); `python -m gradtx._native.build` compiles it where there is a compiler.
    fused = "import gradtx; print(gradtx.fused_available())"
    assert _run(python, "-c", fused, cwd=tmp_path).strip() == "False"
    if shutil.which(os.environ.get("CXX", "g++")):
        _run(python, "-m", "gradtx._native.build", cwd=tmp_path)
        assert _run(python, "-c", fused, cwd=tmp_path).strip() == "True"

    # pip install "/path/to/gradtx[orbax]": the extra resolves from the clone, and the README's
    # Orbax round trip works.
    _run(python, "-m", "pip", "install", "--quiet", f"{clone}[orbax]", cwd=tmp_path)
    script = tmp_path / "orbax_round_trip.py"
    script.write_text(ORBAX_ROUND_TRIP)
    assert _run(python, script, tmp_path / "ckpt", cwd=tmp_path).split() == ["restored"]
