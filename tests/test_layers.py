"""The layering contract: imports point one way (core <- storage <- services <- web, workers <- server).

Every .py file of the six packages is parsed (never imported), so a lazy import inside a function counts as much
as one at the top: lazy imports are how upward imports hide. Imports under ``if TYPE_CHECKING:`` count for the
layer rules and for import cycles alike: they never run, but a circle the type checker follows still ties the
modules together (``matcher.fitted``, ``matcher.table`` and ``matcher.decision.Knobs`` are how the core avoids
them). ``server`` is the composition root: it may import every layer.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("matcher", "storage", "services", "labeling_ui", "workers", "server")
UPPER_FRAMEWORKS = ("flask", "werkzeug", "celery", "kombu", "gunicorn")  # the web process's and the workers'
# Top-level modules each layer must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "matcher": ("sqlalchemy", "alembic", *UPPER_FRAMEWORKS, "storage", "services", "labeling_ui", "workers",
                "server"),
    "storage": (*UPPER_FRAMEWORKS, "services", "labeling_ui", "workers", "server"),
    "services": (*UPPER_FRAMEWORKS, "labeling_ui", "workers", "server"),
    "labeling_ui": ("server",),
    "workers": ("server",),
}


@dataclass(frozen=True)
class Import:
    file: Path  # relative to the repository
    line: int
    module: str  # dotted, absolute
    type_only: bool  # under `if TYPE_CHECKING:`

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.module}" + (" (type-only)" if self.type_only else "")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _type_only_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _dynamic_target(node: ast.Call) -> str | None:
    """``importlib.import_module("x.y")`` / ``__import__("x.y")`` with a literal name: an import all the same."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import in the file, at any depth, as absolute module names (``from a import b`` yields ``a.b``
    when ``a/b.py`` or ``a/b/`` exists, else ``a``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    importer, is_package = module_name(path, root), path.name == "__init__.py"
    type_only, rel = _type_only_lines(tree), path.relative_to(root)
    found: list[Import] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, importer, is_package)
            names = [_submodule_or(root, base, alias.name) for alias in node.names]
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
            names = [target]
        found += [Import(rel, node.lineno, name, node.lineno in type_only) for name in names]
    return sorted(found, key=lambda imp: imp.line)


def _submodule_or(root: Path, base: str, name: str) -> str:
    candidate = root.joinpath(*base.split("."), name)
    if candidate.with_suffix(".py").is_file() or candidate.is_dir():
        return f"{base}.{name}"
    return base


def all_imports(root: Path = ROOT) -> list[Import]:
    return [imp for package in PACKAGES for path in sorted((root / package).rglob("*.py"))
            for imp in imports_of(path, root)]


def layer_violations(imports: list[Import]) -> list[str]:
    bad = []
    for imp in imports:
        layer, target = imp.file.parts[0], imp.module.split(".")[0]
        if target in FORBIDDEN.get(layer, ()):
            bad.append(f"{imp}: the {layer} layer must not import {target}")
    return bad


def import_graph(imports: list[Import], package: str) -> dict[str, list[Import]]:
    """Edges between the package's own modules, type-only ones included: importer -> its first import of each
    other module."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports:
        importer = module_name(Path(imp.file), Path())
        if imp.file.parts[0] != package or imp.module.split(".")[0] != package:
            continue
        if imp.module != importer:
            graph.setdefault(importer, {}).setdefault(imp.module, imp)
    return {importer: list(edges.values()) for importer, edges in graph.items()}


def cycles(graph: dict[str, list[Import]]) -> list[list[Import]]:
    """Every elementary cycle, each once (started from its smallest module), as its chain of imports."""
    found: list[list[Import]] = []

    def walk(start: str, node: str, path: list[Import], seen: set[str]) -> None:
        for imp in graph.get(node, []):
            if imp.module == start:
                found.append([*path, imp])
            elif imp.module > start and imp.module not in seen:
                walk(start, imp.module, [*path, imp], seen | {imp.module})

    for start in sorted(graph):
        walk(start, start, [], {start})
    return found


def describe(cycle: list[Import]) -> str:
    names = " -> ".join([module_name(Path(cycle[0].file), Path()), *(imp.module for imp in cycle)])
    return names + "\n    " + "\n    ".join(str(imp) for imp in cycle)


def test_every_layer_imports_only_downwards() -> None:
    bad = layer_violations(all_imports())
    if bad:
        pytest.fail("upward or forbidden imports:\n" + "\n".join(bad), pytrace=False)


def test_the_core_has_no_import_cycle() -> None:
    found = cycles(import_graph(all_imports(), "matcher"))
    if found:
        pytest.fail(f"{len(found)} import cycle(s) inside matcher/:\n" + "\n".join(map(describe, found)), pytrace=False)


# The checks themselves, on small files written for the purpose: a contract test that cannot fail proves nothing.

def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_an_upward_import_is_named_by_file_and_line_even_lazy_or_dynamic(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "matcher/__init__.py": "",
        "matcher/core.py": "import numpy\n\ndef f():\n    from sqlalchemy import select\n",
        "services/__init__.py": "",
        "services/runs.py": "import os\n\n\ndef g():\n    import workers.dispatch\n",
        "storage/__init__.py": "",
        "storage/db.py": "from services import runs\n",
        "workers/__init__.py": "",
        "workers/tasks.py": "import importlib\nimportlib.import_module('server.cli')\n",
        "server/cli.py": "import labeling_ui, workers, services, storage, matcher\n",
    })
    assert layer_violations(all_imports(root)) == [
        "matcher/core.py:4 imports sqlalchemy: the matcher layer must not import sqlalchemy",
        "storage/db.py:1 imports services.runs: the storage layer must not import services",
        "services/runs.py:5 imports workers.dispatch: the services layer must not import workers",
        "workers/tasks.py:2 imports server.cli: the workers layer must not import server",
    ]


def test_a_type_only_import_still_breaks_the_layers(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"matcher/core.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                               "    from flask import Flask\n"})
    assert layer_violations(all_imports(root)) == [
        "matcher/core.py:3 imports flask (type-only): the matcher layer must not import flask"]


def test_every_cycle_is_found_lazy_and_type_only_imports_included(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "matcher/__init__.py": "",
        "matcher/a.py": "from matcher import b\nimport matcher.b\n",
        "matcher/b.py": "def f():\n    from matcher.c import x\n",
        "matcher/c.py": "import matcher.a\nfrom matcher.d import y\n",
        "matcher/d.py": "from . import c\n",
        "matcher/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from matcher.f import F\n",
        "matcher/f.py": "import matcher.e\n",  # e -> f only for the type checker: a cycle all the same
    })
    found = [describe(c).splitlines()[0] for c in cycles(import_graph(all_imports(root), "matcher"))]
    assert found == ["matcher.a -> matcher.b -> matcher.c -> matcher.a", "matcher.c -> matcher.d -> matcher.c",
                     "matcher.e -> matcher.f -> matcher.e"]
    type_only = describe(cycles(import_graph(all_imports(root), "matcher"))[-1]).splitlines()[1].strip()
    assert type_only == "matcher/e.py:3 imports matcher.f (type-only)"
    first = describe(cycles(import_graph(all_imports(root), "matcher"))[0]).splitlines()[1:]
    assert [line.strip() for line in first] == ["matcher/a.py:1 imports matcher.b", "matcher/b.py:2 imports matcher.c",
                                                "matcher/c.py:1 imports matcher.a"]
