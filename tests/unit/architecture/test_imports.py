"""The package structure DESIGN.md draws, checked on the source (imports inside functions too)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "autopay_app"
SQL = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b")
SQLALCHEMY_BUILDERS = {"select", "text", "update", "insert", "delete", "func", "exists", "join"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(under: Path) -> dict[str, Path]:
    return {module_name(p): p for p in sorted(under.rglob("*.py"))}


def imported(path: Path, known: set[str], name: str | None = None) -> Iterator[str]:
    """Every module ``path`` (module ``name``) imports, anywhere in it (functions and
    TYPE_CHECKING too); ``from package import x`` counts as the submodule when ``x`` is one."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_agent_package_has_no_import_cycle() -> None:
    agent = modules(PACKAGE / "agent")
    graph = {
        name: {m for m in imported(path, set(agent)) if m in agent and m != name}
        for name, path in agent.items()
    }
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from autopay_app.agent import core\n")
    found = imported(source, {"autopay_app.agent.core"}, "autopay_app.agent.m")
    assert list(found) == ["autopay_app.agent.core"]


def test_the_agent_builds_no_sql_of_its_own() -> None:
    """Database work lives in autopay_app.ledger: no SQL text or query builder in agent/."""
    offenders = []
    for name, path in modules(PACKAGE / "agent").items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if SQL.search(node.value):
                    offenders.append(f"{name}: SQL text {node.value[:40]!r}")
            elif isinstance(node, ast.Attribute) and node.attr in SQLALCHEMY_BUILDERS:
                if isinstance(node.value, ast.Name) and node.value.id in ("sa", "sqlalchemy"):
                    offenders.append(f"{name}: sa.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                used = {a.name for a in node.names} & SQLALCHEMY_BUILDERS
                offenders.extend(f"{name}: from {node.module} import {u}" for u in used)
    assert offenders == []


def test_product_code_never_imports_the_tooling() -> None:
    """Only the CLI (which composes everything) and the tests may import devtools."""
    everything = modules(PACKAGE)
    offenders = [
        f"{name} imports {target}"
        for name, path in everything.items()
        if not name.startswith(("autopay_app.devtools", "autopay_app.cli"))
        for target in imported(path, set(everything))
        if target.startswith("autopay_app.devtools")
    ]
    assert offenders == []
    assert "autopay_app.devtools.scratch" in everything  # the tooling is where it is looked for


def test_nothing_in_the_ledger_imports_the_app_factory() -> None:
    ledger = modules(PACKAGE / "ledger")
    offenders = [
        name
        for name, path in ledger.items()
        for target in imported(path, set(ledger))
        if target in ("autopay_app", "autopay_app.create_app") or target.startswith("flask")
    ]
    assert offenders == []


def test_no_issue_tracking_markers_in_code() -> None:
    marker = re.compile(r"\b(TODO|FIXME|XXX)\b|\bissue\s+#?\d+", re.IGNORECASE)
    roots = [PACKAGE, ROOT / "mock_premium_api", ROOT / "harness", ROOT / "tests", ROOT / "fuzz"]
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for root in roots
        for path in sorted(root.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if marker.search(line) and path.name != "test_imports.py"
    ]
    assert found == []
