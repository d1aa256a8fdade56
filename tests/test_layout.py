"""The package's shape: the generic toolkit imports nothing from the embedded default."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "unmirage"
MAY_USE_EMBEDDED = {
    "embedded",
    "reproduce",
    "commands/world.py",
    "commands/reproduce.py",
    "commands/base.py",
    "commands/gcg.py",
}
"""The embedded package itself, `reproduce` and its command (whose default is the embedded
world, its presets included), the two commands that build a world and its base model, and
`gcg`, whose default target for a world query is the world's answer template
(`unmirage.depth` itself takes the rule as an argument)."""


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement names in `path`, at any depth (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_toolkit_imports_nothing_from_the_embedded_world():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.split("/")[0] in MAY_USE_EMBEDDED or rel in MAY_USE_EMBEDDED:
            continue
        found = sorted(m for m in imported_modules(path) if m.startswith("unmirage.embedded"))
        if found:
            offenders[rel] = found
    assert not offenders, offenders


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from unmirage.embedded import base\n", encoding="utf-8")
    assert "unmirage.embedded.base" in imported_modules(module)


def test_the_top_level_holds_at_most_a_dozen_modules():
    """Stages, plumbing and shims live in the packages they serve; the top level keeps the
    command line, the stages every user calls and the utilities every package shares."""
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 12, top


def module_graph() -> dict[str, set[str]]:
    """Module -> the package modules its import statements name (lazy imports too); `from
    pkg import sub` names the submodule, not the package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = "unmirage." + path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        modules[name.removesuffix(".__init__")] = path

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                named = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                named = [s if s in modules else node.module for s in subs]
            else:
                continue
            targets |= {t for n in named if (t := owner(n)) and t != name}
        graph[name] = targets
    return graph


def test_no_import_circle():
    graph = module_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, circles


def test_no_module_over_500_lines():
    """A module that outgrows 500 lines does several jobs: split it by job."""
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long, long
