"""The shape of the package (issue 15): no import cycle between mujun's modules, deferred
imports included; the orchestrator only orchestrates; the stage table is declared once and
DESIGN.md shows it."""

from __future__ import annotations

import ast
from pathlib import Path

from mujun.stages import STAGES

SRC = Path(__file__).resolve().parents[1] / "src" / "mujun"
ROOT = SRC.parents[1]


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The mujun modules ``path`` imports anywhere (functions too), but not those imported
    only for type checking."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mujun"):
            for alias in node.names:  # "from mujun import geodesy" imports a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mujun")}
    return found & modules


def test_no_import_cycle_between_modules():
    files = {_module(p): p for p in SRC.rglob("*.py")}
    modules = set(files)
    graph = {m: _imports(p, modules) - {m} for m, p in files.items()}
    # packages import their own modules for re-export; a module importing its package's
    # __init__ is not a cycle through logic, so a package's edges to its children are dropped
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*trail[trail.index(dep) :], dep] if dep in trail else [node, dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
    assert "mujun.pipeline" not in graph["mujun.distributed"]
    assert "mujun.distributed" not in graph["mujun.stages"]


def test_pipeline_only_orchestrates():
    lines = (SRC / "pipeline.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 300
    text = "\n".join(lines)
    for stage_logic in ("ledger.set_fate", "ledger.note", "aggregate(", "sjoin", "to_crs"):
        assert stage_logic not in text


def test_design_shows_the_stage_table():
    design = (ROOT / "DESIGN.md").read_text(encoding="utf-8")
    names = [s.name for s in STAGES]
    assert len(names) == len(set(names)) == 18
    rows = [line for line in design.splitlines() if line.startswith("| `")]
    shown = [row.split("`")[1] for row in rows]
    assert [n for n in shown if n in names] == names  # every stage, in the run's order
