"""The import graph keeps its layers and rooms: nothing imports upward, and there are no cycles.

Every ``import`` counts, including those inside functions and under ``TYPE_CHECKING``: a lazy import
may only postpone a heavy optional dependency, never hide an upward edge.

The loader package (``spa_vl``) is layered module by module. The analysis toolkit
(``spa_vl.analysis``, kept in the repository's ``analysis/`` folder) is made of rooms, one kind of code
each, that only import rooms below them; the command line sits on top of everything.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest
from helpers import REPO

#: Lowest first. A module may import modules of its own layer or below.
CORE_LAYERS: tuple[tuple[str, ...], ...] = (
    # constants
    ("spa_vl.columns", "spa_vl.errors", "spa_vl._version", "spa_vl.cache"),
    # taxonomy, layout, and helpers with no I/O of their own
    ("spa_vl.taxonomy", "spa_vl.layout", "spa_vl.features", "spa_vl.keys", "spa_vl.atomic", "spa_vl.images", "spa_vl.sample_text",
     "spa_vl.progress"),
    # io
    ("spa_vl.sources", "spa_vl.hub", "spa_vl.tables", "spa_vl.meta_files", "spa_vl.meta"),
    # labels
    ("spa_vl.labels",),
    # the loader's public face
    ("spa_vl.card", "spa_vl.builder", "spa_vl.loading", "spa_vl.stats", "spa_vl.doctor", "spa_vl.sample", "spa_vl.opening", "spa_vl",
     "spa_vl.analysis"),
)

#: The rooms of spa_vl.analysis, lowest first, with the one kind of code each holds.
ROOMS: tuple[tuple[str, str], ...] = (
    ("metrics", "numbers from frames and arrays: numpy and pandas only, no I/O, no plotting"),
    ("inputs", "what the analyses read from a source: labelled frames, image bytes and hashes"),
    ("embeddings", "the encoder, its backends and its vector cache"),
    ("subsets", "the sampler contract, the ablation pool and the recipes (row ids)"),
    ("writers", "the writer contract, one module per output format, the export driver"),
    ("report", "sections, figures, palette, rendering, the explorer"),
)

#: What a metric may not import: the loader's I/O layers and every plotting or decoding library.
METRICS_FORBIDDEN = (
    "spa_vl.sources", "spa_vl.hub", "spa_vl.tables", "spa_vl.meta_files", "spa_vl.meta", "spa_vl.labels",
    "spa_vl.opening", "spa_vl.atomic", "spa_vl.cache", "matplotlib", "seaborn", "plotly", "PIL", "imagehash",
    "torch", "sentence_transformers",
)

LAYERS: tuple[tuple[str, ...], ...] = (
    *CORE_LAYERS,
    *((f"spa_vl.analysis.{room}", f"spa_vl.analysis.{room}.*") for room, _ in ROOMS),
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
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (or its folder to ROOMS)")


def _imported_names(path: Path, module: str) -> set[str]:
    """Every module name ``path`` imports: ``from pkg import sub`` gives ``pkg`` and ``pkg.sub``."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _files() -> list[Path]:
    return [p for folder in ("spa_vl", "analysis") for p in sorted((REPO / folder).rglob("*.py"))]


def _graph() -> dict[str, set[str]]:
    """Project module → the project modules it imports (the most specific name of each import)."""
    modules = {_module_name(p): p for p in _files()}
    graph = {}
    for m, p in modules.items():
        names = _imported_names(p, m)
        # ``from pkg import sub`` names the submodule when it is one, else the package itself
        deps = {n for n in names if n in modules and not any(o.startswith(n + ".") and o in modules for o in names)}
        graph[m] = deps - {m}
    return graph


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """Every edge of ``graph`` that runs from a lower layer (or room) to a higher one."""
    return [
        f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
        for m, deps in sorted(graph.items())
        for d in sorted(deps)
        if _layer(d) > _layer(m)
    ]


def test_no_module_imports_a_higher_layer_or_room():
    assert upward_imports(_graph()) == []


def test_the_check_catches_a_metric_that_imports_a_writer():
    """A synthetic graph: the rule is not vacuous, and it fires for every upward pair of rooms."""
    ok = {"spa_vl.analysis.writers.rlhf": {"spa_vl.analysis.metrics.diversity", "spa_vl.labels"}}
    assert upward_imports(ok) == []
    bad = {"spa_vl.analysis.metrics.diversity": {"spa_vl.analysis.writers.rlhf"}}
    assert upward_imports(bad) == [
        "spa_vl.analysis.metrics.diversity (layer 5) imports spa_vl.analysis.writers.rlhf (layer 9)"
    ]
    rooms = [room for room, _ in ROOMS]
    for i, low in enumerate(rooms):
        for high in rooms[i + 1:]:
            assert upward_imports({f"spa_vl.analysis.{low}.x": {f"spa_vl.analysis.{high}.y"}}), (low, high)
            assert not upward_imports({f"spa_vl.analysis.{high}.y": {f"spa_vl.analysis.{low}.x"}}), (low, high)
    assert upward_imports({"spa_vl.labels": {"spa_vl.analysis.metrics.diversity"}})  # the loader never imports analysis
    assert upward_imports({"spa_vl.analysis.report.build": {"spa_vl.cli"}})


def test_every_analysis_module_lives_in_a_room_and_drops_the_rooms_word():
    rooms = {room for room, _ in ROOMS}
    folders = {p.parent.name for p in (REPO / "analysis").rglob("*.py") if p.parent != REPO / "analysis"}
    assert folders == rooms
    assert [p.name for p in (REPO / "analysis").glob("*.py")] == ["__init__.py"]
    # a room's word (or its singular) is not repeated in its modules' names: writers/rlhf.py, not writers/writer_rlhf.py
    repeated = [
        str(p.relative_to(REPO)) for p in (REPO / "analysis").rglob("*.py")
        if p.parent != REPO / "analysis" and p.stem != "__init__"
        and (p.parent.name in p.stem or p.parent.name.rstrip("s") in p.stem)
    ]
    assert repeated == []


def test_metrics_do_no_io_and_no_plotting():
    offenders = []
    for path in sorted((REPO / "analysis" / "metrics").glob("*.py")):
        for name in sorted(_imported_names(path, _module_name(path))):
            if any(name == f or name.startswith(f + ".") for f in METRICS_FORBIDDEN):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


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


@pytest.mark.parametrize("room", [room for room, _ in ROOMS])
def test_each_room_says_what_it_holds(room):
    doc = ast.get_docstring(ast.parse((REPO / "analysis" / room / "__init__.py").read_text(encoding="utf-8")))
    assert doc and doc.lower().startswith(room)


def test_nothing_imports_the_repository_folder_as_a_top_level_package():
    """``analysis/`` installs as ``spa_vl.analysis``; importing it as ``analysis`` would load a second copy."""
    files = [p for folder in ("spa_vl", "analysis", "tests", "benchmarks") for p in sorted((REPO / folder).rglob("*.py"))]
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
