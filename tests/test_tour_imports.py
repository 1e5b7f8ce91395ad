"""The tour package is a client of gradtx: it imports only the public API and `gradtx.problems`,
and the library does not import it (read from the source with `ast`, nothing is imported)."""

import ast
from pathlib import Path

GRADTX = Path(__file__).resolve().parents[1] / "gradtx"
TOUR = GRADTX / "tour"
# `python -m gradtx` runs the command line: the one module outside the tour that imports it.
ENTRY_POINT = GRADTX / "__main__.py"


def _imported(path: Path) -> set[str]:
    """Every module `path` imports, with each `from m import name` also as `m.name`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use an absolute import"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _is_tour(name: str) -> bool:
    return name == "gradtx.tour" or name.startswith("gradtx.tour.")


def _is_private(name: str) -> bool:
    """Whether `name` is a private part of gradtx, e.g. gradtx._base or gradtx.problems._base."""
    package, *parts = name.split(".")
    return package == "gradtx" and any(part.startswith("_") for part in parts)


def test_no_module_outside_the_tour_imports_it():
    outside = [p for p in GRADTX.rglob("*.py") if TOUR not in p.parents and p != ENTRY_POINT]

    offenders = {str(p): sorted(filter(_is_tour, _imported(p))) for p in outside}

    assert not {path: names for path, names in offenders.items() if names}


def test_the_tour_imports_no_private_gradtx_module():
    offenders = {str(p): sorted(filter(_is_private, _imported(p))) for p in TOUR.rglob("*.py")}

    assert not {path: names for path, names in offenders.items() if names}
