"""The import graph keeps its layers: no module imports a higher layer, and there are no cycles.

Every ``import`` counts, including those inside functions: a lazy import may only postpone a heavy
optional dependency, never hide an upward edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

#: Lowest first. A module may import modules of its own layer or below.
LAYERS: tuple[tuple[str, ...], ...] = (
    # constants
    ("spa_vl.columns", "spa_vl.errors", "spa_vl._version", "spa_vl.cache"),
    # taxonomy, layout, and helpers with no I/O of their own
    ("spa_vl.taxonomy", "spa_vl.layout", "spa_vl.features", "spa_vl.keys", "spa_vl.atomic", "spa_vl.images", "spa_vl.sample_text"),
    # io
    ("spa_vl.sources", "spa_vl.hub", "spa_vl.tables", "spa_vl.meta_files", "spa_vl.meta"),
    # labels
    ("spa_vl.labels",),
    # the loader's public face, and numpy-only metrics
    ("spa_vl.card", "spa_vl.builder", "spa_vl.loading", "spa_vl.stats", "spa_vl.doctor", "spa_vl.sample", "spa_vl.opening", "spa_vl",
     "spa_vl.analysis.records", "spa_vl.analysis.sampling", "spa_vl.analysis.distributions", "spa_vl.analysis.diversity",
     "spa_vl.analysis.palette"),
    # analyses, recipes, writers, report
    ("spa_vl.analysis", "spa_vl.analysis.*"),
    # the command line, on top of everything
    ("spa_vl.cli",),
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[0] == "analysis":  # the analysis/ folder installs as spa_vl.analysis
        parts = ("spa_vl", *parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    for level, names in enumerate(LAYERS):
        if module in names:
            return level
    for level, names in enumerate(LAYERS):
        if any(n.endswith(".*") and module.startswith(n[:-1]) for n in names):
            return level
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """Project modules ``path`` imports: ``from pkg import sub`` names ``pkg.sub``, else ``pkg``."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in modules and m != module}


def _graph() -> dict[str, set[str]]:
    files = [p for folder in ("spa_vl", "analysis") for p in sorted((REPO / folder).glob("*.py"))]
    modules = {_module_name(p): p for p in files}
    return {m: _imports(p, m, set(modules)) for m, p in modules.items()}


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
        for m, deps in _graph().items()
        for d in sorted(deps)
        if _layer(d) > _layer(m)
    ]
    assert upward == []


def test_the_import_graph_has_no_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_nothing_imports_the_repository_folder_as_a_top_level_package():
    """``analysis/`` installs as ``spa_vl.analysis``; importing it as ``analysis`` would load a second copy."""
    files = [p for folder in ("spa_vl", "analysis", "tests", "benchmarks") for p in sorted((REPO / folder).glob("*.py"))]
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "analysis"]
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    offenders += [str(p.relative_to(REPO)) for p in notebooks if "from analysis" in p.read_text() or "import analysis" in p.read_text()]
    assert offenders == []
