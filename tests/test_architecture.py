"""The package's shape: stages import only earlier stages, no cycles, no borrowed private names.

Layers, lowest first (docs/architecture.md): io, lineage, settings and distributions; validate; harmonize; synthesis;
figures; report; provenance; and cli on top. A module may import its own stage and any earlier one.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "src" / "livertrials"
LAYERS = [("io", "lineage", "settings", "distributions"), ("validate",), ("harmonize",), ("synthesis",), ("figures",), ("report",),
          ("provenance",), ("cli",)]
RANK = {stage: rank for rank, stages in enumerate(LAYERS) for stage in stages}
# modules that hold one concept and may be long (issue: "statconv, scores, meta may stay as they are")
LONG_ALLOWED = {"harmonize/statconv.py", "harmonize/scores.py", "synthesis/meta.py"}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("livertrials",) + tuple(p for p in parts if p != "__init__"))
        found[name] = path
    return found


MODULES = modules()


def stage(module: str) -> str:
    return module.split(".")[1]


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every livertrials import in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("livertrials"):
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("livertrials")]
    return found


def graph() -> dict[str, set[str]]:
    edges = defaultdict(set)
    for name, path in MODULES.items():
        for module, names in imports(path):
            for target in [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES] or [module]:
                if target in MODULES and target != name:
                    edges[name].add(target)
    return edges


def test_every_module_belongs_to_a_stage():
    unknown = {m for m in MODULES if m != "livertrials" and stage(m) not in RANK}
    assert not unknown, f"modules outside the stage folders: {sorted(unknown)}"


def test_no_stage_imports_a_later_one():
    wrong = [f"{a} -> {b}" for a, targets in graph().items() for b in targets
             if a != "livertrials" and b != "livertrials" and RANK[stage(b)] > RANK[stage(a)]]
    assert not wrong, "imports from a later stage:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    edges, state, cycles = graph(), {}, []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]) if nxt in trail else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_borrows_another_modules_private_names():
    borrowed = [f"{name} takes {module}.{n}" for name, path in MODULES.items() for module, names in imports(path)
                for n in names if n.startswith("_") and module != name]
    assert not borrowed, "\n".join(borrowed)


def test_modules_stay_short_unless_they_hold_one_concept():
    long = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES.values()}
    over = {p: n for p, n in long.items() if n > MAX_LINES * 1.1 and p not in LONG_ALLOWED}
    assert not over, f"modules over ~{MAX_LINES} lines: {over}"


def test_the_layers_are_the_ones_the_docs_draw():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for stages in LAYERS:
        for name in stages:
            assert f"`{name}`" in text or f"`{name}/`" in text, f"docs/architecture.md does not name {name}"
