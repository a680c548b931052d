"""The rooms of ``lossadvisor/tune/``: each sub-package is entered through its ``__init__`` only, and the
modules import one another without a circle (read from the source with ``ast``, nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import lossadvisor

PACKAGE = Path(lossadvisor.__file__).parent
TUNE = PACKAGE / "tune"
SUB_PACKAGES = {"data", "training", "search", "confirm", "study", "outputs"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    """The module a ``from ... import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = _module_name(path).split(".")
    if not _is_package(path):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.Module, path: Path, *, module_level: bool) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of the imports run when the module executes (``module_level``: at import time
    only, not inside functions); ``if TYPE_CHECKING:`` blocks are never run, so they are left out."""
    found: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if _type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((_absolute(node, path), [alias.name for alias in node.names]))
        elif module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(module: str, names: list[str], known: set[str]) -> set[str]:
    """The modules an import loads: the named module, and each imported name that is itself a module."""
    out = {module} if module in known else set()
    out |= {f"{module}.{n}" for n in names if f"{module}.{n}" in known}
    return out


def private_imports(path: Path, source: str | None = None) -> list[str]:
    """Imports of a sub-package's private module (``lossadvisor.tune.<sub>._x``) from outside ``<sub>``."""
    mine = _module_name(path)
    bad = []
    tree = ast.parse(path.read_text() if source is None else source)
    for module, names in _imports(tree, path, module_level=False):
        # `from lossadvisor.tune.study import _lock` names the private module as an imported name
        candidates = [module] if module.count(".") >= 3 else [f"{module}.{n}" for n in names]
        for target in candidates:
            parts = target.split(".")
            if len(parts) < 4 or parts[:2] != ["lossadvisor", "tune"] or parts[2] not in SUB_PACKAGES:
                continue
            inside = mine.split(".")[:3] == parts[:3]
            if parts[3].startswith("_") and not inside:
                bad.append(f"{mine} imports {target}")
    return bad


def import_graph(root: Path, *, module_level: bool) -> dict[str, set[str]]:
    """Module -> the modules under ``root`` it imports (without the implicit import of its parents)."""
    paths = {_module_name(p): p for p in root.rglob("*.py")}
    known = set(paths)
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        edges: set[str] = set()
        for module, names in _imports(ast.parse(path.read_text()), path, module_level=module_level):
            edges |= _targets(module, names, known)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _sub_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[2] in SUB_PACKAGES else None


# --- the checks themselves catch what they are meant to catch ---------------------------------------


def test_private_import_check_sees_an_import_from_outside():
    source = "def f():\n    from lossadvisor.tune.study._lock import hold_folder\n"
    outside, inside = TUNE / "_phases" / "x.py", TUNE / "study" / "x.py"  # only the names are used
    assert private_imports(outside, source) == [
        "lossadvisor.tune._phases.x imports lossadvisor.tune.study._lock"
    ]
    assert private_imports(inside, source) == []
    assert private_imports(outside, "from lossadvisor.tune.study import _lock\n") == [
        "lossadvisor.tune._phases.x imports lossadvisor.tune.study._lock"
    ]
    assert _imports(ast.parse(source), outside, module_level=True) == []  # inside a function: not at import


def test_relative_imports_are_resolved():
    node = ast.parse("from ._lock import x").body[0]
    assert _absolute(node, TUNE / "study" / "_session.py") == "lossadvisor.tune.study._lock"
    assert _absolute(node, TUNE / "study" / "__init__.py") == "lossadvisor.tune.study._lock"


def test_find_cycle_on_small_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_type_checking_imports_are_not_run():
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lossadvisor.tune.search import x\n"
    )
    assert [m for m, _ in _imports(ast.parse(source), TUNE / "x.py", module_level=True)] == ["typing"]


# --- the package --------------------------------------------------------------------------------------


def test_the_sub_packages_are_the_ones_described():
    found = {p.parent.name for p in TUNE.glob("*/__init__.py") if not p.parent.name.startswith("_")}
    assert found == SUB_PACKAGES


def test_no_private_module_of_a_sub_package_is_imported_from_outside_it():
    bad = [line for path in sorted(PACKAGE.rglob("*.py")) for line in private_imports(path)]
    assert bad == []


def test_what_the_rest_of_tune_imports_from_a_sub_package_is_in_its_all():
    import importlib

    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _sub_package(_module_name(path))
        for module, names in _imports(ast.parse(path.read_text()), path, module_level=False):
            sub = _sub_package(module)
            if sub is None or module != f"lossadvisor.tune.{sub}" or sub == mine:
                continue
            public = importlib.import_module(module).__all__
            assert set(names) <= set(public), f"{path.name} imports {set(names) - set(public)} from {module}"


def test_every_name_in_a_sub_package_all_exists():
    import importlib

    for sub in sorted(SUB_PACKAGES):
        package = importlib.import_module(f"lossadvisor.tune.{sub}")
        assert package.__all__, sub
        for name in package.__all__:
            assert getattr(package, name) is not None, f"lossadvisor.tune.{sub}.{name}"


def test_tune_modules_import_each_other_without_a_circle():
    graph = import_graph(TUNE, module_level=True)
    assert "lossadvisor.tune.study._storage" in graph["lossadvisor.tune.study._session"]  # the graph is read
    assert find_cycle(graph) is None


def test_sub_packages_form_layers_even_counting_imports_inside_functions():
    graph = import_graph(TUNE, module_level=False)
    layers: dict[str, set[str]] = {sub: set() for sub in SUB_PACKAGES}
    for module, targets in graph.items():
        sub = _sub_package(module)
        if sub is not None:
            layers[sub] |= {t for t in map(_sub_package, targets) if t is not None and t != sub}
    assert "data" in layers["training"]  # the layers are read
    assert find_cycle(layers) is None, layers


def test_the_cli_imports_only_public_names_of_tune():
    import lossadvisor.tune as tune_package

    public = set(tune_package.__all__)
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for module, names in _imports(ast.parse(path.read_text()), path, module_level=False):
            if module.startswith("lossadvisor.tune"):
                assert module == "lossadvisor.tune", f"{path.name} imports {module}"
                assert set(names) <= public, f"{path.name} imports {set(names) - public} from tune"
