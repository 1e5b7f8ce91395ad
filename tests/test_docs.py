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


def test_readme_python_blocks_run_in_order(tmp_path):
    """A reader pastes the README's blocks one after the other into one session."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    script = tmp_path / "readme.py"
    script.write_text("\n".join(blocks))
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "opt_state.npz").exists()


def test_license_is_the_apache_license_pyproject_names():
    license_text = (ROOT / "LICENSE").read_text().split()
    assert license_text[:4] == ["Apache", "License", "Version", "2.0,"]
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()


def test_readme_example_trains_to_a_small_loss():
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"## Adam from its parts\n\n```python\n(.*?)```", readme, re.S).group(1)
    result = _run("-c", example)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.strip().splitlines()[-1]) < 1e-6


def _short_title(chapter: str) -> str:
    """A chapter title's leading words: up to its first ':', '(', ',', ';' or '.'."""
    return re.split(r"[:(,;.]", chapter, maxsplit=1)[0].strip()


def test_readme_catalog_has_every_alias_under_its_chapter():
    import gradtx

    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Catalog\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    headings = [m for m in re.finditer(r"^### (.+)$", section, re.M)]
    titles = [h.group(1).strip().casefold() for h in headings]
    found = []
    for chapter, names in gradtx.catalog().items():
        short = _short_title(chapter).casefold()
        where = [i for i, title in enumerate(titles) if title == short]
        where = where or [i for i, title in enumerate(titles) if title.startswith(short)]
        assert where, f"README's Catalog has no '### {_short_title(chapter)}' heading"
        i = where[0]
        found.append(i)
        end = headings[i + 1].start() if i + 1 < len(headings) else len(section)
        table = section[headings[i].end() : end]
        missing = [n for n in names if not re.search(rf"^\| `{re.escape(n)}\(", table, re.M)]
        assert not missing, f"no '| `name(' row under '### {headings[i].group(1)}': {missing}"
    assert found == sorted(found), "the Catalog's chapters are not in gradtx.catalog()'s order"
