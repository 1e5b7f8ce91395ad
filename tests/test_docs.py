"""The documentation runs: every docstring example, and the README's Python example.

Both run in a child process with JAX's defaults (float32, standard promotion), as a user would
meet them, not under this suite's float64 settings.
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run(*args, **kwargs):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, **kwargs
    )


def test_docstring_examples_run():
    pytest_args = ["-q", "--doctest-modules", "gradtx", "-p", "no:cacheprovider", "-o", "addopts="]
    result = _run("-m", "pytest", *pytest_args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_readme_example_trains_to_a_small_loss():
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## Adam from its parts\n\n```python\n(.*?)```", readme, re.S).group(1)
    result = _run("-c", example)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip().splitlines()[-1]) < 1e-6
