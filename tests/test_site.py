"""The documentation site stays true: complete, strictly built, and every example in it runs.

- The API reference (docs/api/*.md, one `::: gradtx.name` directive per object) names every public
  name of `gradtx` exactly once, and each docstring carries what its kind needs: an annotated
  signature and an example for every function and schedule, the update rule as equations for
  every transformation, a paper reference for every optimizer and every transformation from one.
  Read from the markdown and the docstrings, without building the site.
- `mkdocs build --strict` passes (any warning, broken link or unresolved reference fails).
- Every Python block of docs/*.md runs: one child process runs each page's blocks in order in
  one namespace, a page per fresh namespace and folder, with JAX's defaults (as a reader meets
  them). The README's blocks run in tests/test_docs.py; the docstrings' examples are doctests
  there too.
"""

import ast
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import typing

import pytest

import gradtx

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DIRECTIVE = re.compile(r"^::: (gradtx(?:\.\w+)*)\s*$", re.M)


def _public_names() -> list[str]:
    """The names gradtx/__init__.py re-exports, one `... as name` a line (its public API)."""
    tree = ast.parse((ROOT / "gradtx" / "__init__.py").read_text())
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    return sorted(alias.asname for node in imports for alias in node.names if alias.asname)


PUBLIC = _public_names()
ALIASES = sorted({name for names in gradtx.catalog().values() for name in names})
TRANSFORMATION_TYPES = ("GradientTransformation", "GradientTransformationExtraArgs")

# Subpackages documented whole, which `import gradtx` does not import: their own pages.
SUBPACKAGES = ("problems", "tour")

# Transformations that change nothing, or only route or rebuild other transformations: their
# docstrings describe that without an update rule of their own.
NO_UPDATE_RULE = {
    "check_finite": "passes its inner transformation's updates through, checked",
    "from_config": "rebuilds a registered alias from its config",
}
# Transformations that come from no paper.
NO_PAPER = {
    "chain": "composition",
    "check_finite": "a debugging aid",
    "ema": "an exponential moving average",
    "freeze": "parameter groups",
    "from_config": "configs",
    "identity": "the identity",
    "masked": "parameter groups",
    "multi_transform": "parameter groups",
    "normalize": "a step of SAM, referenced at `sam`",
    "reduce_on_plateau": "torch's ReduceLROnPlateau, which has no paper",
    "scale": "a constant factor",
    "scale_by_learning_rate": "the learning rate",
    "scale_by_schedule": "a schedule",
    "set_to_zero": "parameter groups",
}


def _directives() -> list[tuple[str, str]]:
    """(page, dotted path) of every `::: path` directive of the API reference, in order."""
    found = []
    for page in sorted((DOCS / "api").glob("*.md")):
        found += [(page.name, path) for path in DIRECTIVE.findall(page.read_text())]
    return found


def _resolve(path: str):
    import importlib

    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(path)


def _is_type_alias(obj) -> bool:
    """`Params = Any`, `Schedule = Callable[...]`: shown by their definition, not a docstring."""
    return obj is typing.Any or typing.get_origin(obj) is not None


def _doc(name: str) -> str:
    return inspect.getdoc(getattr(gradtx, name)) or ""


def _is_transformation(name: str) -> bool:
    obj = getattr(gradtx, name)
    if not inspect.isfunction(obj) or name in ALIASES:
        return False
    returned = str(inspect.signature(obj).return_annotation)
    return any(returned.endswith(t) for t in TRANSFORMATION_TYPES)


def _is_schedule(name: str) -> bool:
    obj = getattr(gradtx, name)
    return inspect.isclass(obj) and obj.__module__.startswith("gradtx._schedules")


def _has_reference(doc: str) -> bool:
    return re.search(r"^\s*References?:", doc, re.M) is not None


def test_every_public_name_appears_exactly_once_in_the_api_reference():
    top_level = [path.split(".")[1] for _, path in _directives() if path.count(".") == 1]
    missing = sorted(set(PUBLIC) - set(top_level))
    twice = sorted({name for name in top_level if top_level.count(name) > 1})
    unknown = sorted(set(top_level) - set(PUBLIC) - set(SUBPACKAGES))
    assert not missing, f"public names with no `::: gradtx.NAME` in docs/api/*.md: {missing}"
    assert not twice, f"public names documented more than once in docs/api/*.md: {twice}"
    assert not unknown, f"docs/api/*.md documents names gradtx does not export: {unknown}"


def test_every_directive_of_the_api_reference_resolves():
    for page, path in _directives():
        try:
            _resolve(path)
        except (ImportError, AttributeError) as error:
            raise AssertionError(f"docs/api/{page}: `::: {path}` does not resolve") from error


def test_every_page_of_the_api_reference_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(f"api/{page.name}" for page in (DOCS / "api").glob("*.md"))
    assert [page for page in pages if page not in nav] == []


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_a_docstring_with_the_parts_its_kind_needs(name):
    obj = getattr(gradtx, name)
    if _is_type_alias(obj):
        return
    doc = _doc(name)
    assert doc.strip(), f"gradtx.{name} has no docstring"
    if inspect.isfunction(obj) or _is_schedule(name):
        params = inspect.signature(obj).parameters.values()
        unannotated = [p.name for p in params if p.annotation is inspect.Parameter.empty]
        assert not unannotated, f"gradtx.{name}: arguments without a type: {unannotated}"
        if inspect.isfunction(obj):
            returned = inspect.signature(obj).return_annotation
            assert returned is not inspect.Signature.empty, f"gradtx.{name}: no return type"
        assert ">>> " in doc, f"gradtx.{name}: the docstring has no example (`>>> `)"
    if _is_transformation(name) or _is_schedule(name):
        if name not in NO_UPDATE_RULE:
            assert "$" in doc, f"gradtx.{name}: the docstring has no equation ($...$)"
    if _is_transformation(name) and name not in NO_PAPER:
        assert _has_reference(doc), f"gradtx.{name}: the docstring has no 'References:'"


@pytest.mark.parametrize("name", ALIASES)
def test_optimizer_names_its_paper_and_its_update_rule(name):
    doc = _doc(name)
    assert _has_reference(doc), f"gradtx.{name}: the docstring has no 'References:'"
    named = [m for m in re.findall(r"`(\w+)", doc) if m in PUBLIC and _is_transformation(m)]
    with_rule = [m for m in named if "$" in _doc(m)]
    assert "$" in doc or with_rule, (
        f"gradtx.{name}: neither its docstring nor a transformation it names (in backticks) "
        f"gives the update rule as an equation; it names {named}"
    )


def test_the_exemptions_are_transformations_that_still_need_them():
    for name in {**NO_UPDATE_RULE, **NO_PAPER}:
        assert _is_transformation(name), f"{name} is listed as exempt but is not a transformation"
    for name in NO_UPDATE_RULE:
        assert "$" not in _doc(name), f"gradtx.{name} has an equation now: drop its exemption"
    for name in NO_PAPER:
        assert not _has_reference(_doc(name)), f"gradtx.{name} cites a paper: drop its exemption"


def test_the_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`: a warning (a broken link, an unresolved reference) fails it."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    for page in ("api/transformations", "api/optimizers", "notebooks/01_building_optimizers"):
        assert (tmp_path / page / "index.html").exists(), page


# Every Python block of docs/*.md, run page by page in one child process.

PAGES = sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

_RUNNER = """
import json, os, sys, tempfile, traceback
results = {}
for page, source in json.loads(sys.stdin.read()).items():
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        sys.argv = [page]
        try:
            exec(compile(source, page, "exec"), {"__name__": "__main__"})
            results[page] = None
        except BaseException:
            results[page] = traceback.format_exc()[-4000:]
print("RESULTS " + json.dumps(results))
"""


def _python_blocks(page: str) -> list[str]:
    return BLOCK.findall((ROOT / page).read_text())


def test_the_python_blocks_of_every_docs_page_run_in_order():
    """One child process (one JAX start-up) for every page; each failing page's traceback."""
    sources = {page: "\n".join(_python_blocks(page)) for page in PAGES if _python_blocks(page)}
    assert len(sources) >= 8, sorted(sources)
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    line = [line for line in result.stdout.splitlines() if line.startswith("RESULTS ")]
    assert line, result.stdout[-3000:] + result.stderr[-3000:]
    failed = {page: error for page, error in json.loads(line[-1][8:]).items() if error}
    assert not failed, "\n\n".join(f"{page}:\n{error}" for page, error in failed.items())
