"""Public functions and methods carry numpydoc ``Parameters`` / ``Returns`` sections (tracker issue 12).

The check is static (``ast``; nothing is imported): every public function or method (name not
starting with ``_``, in a public class or at module level) that takes parameters beyond
``self``/``cls`` must have a docstring with a ``Parameters`` section, and every one whose body has
``return <value>`` must have ``Returns`` (``Yields`` for a generator). Properties need only a
docstring; ``typing.overload`` stubs are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("spa_vl", "analysis")

ALL_MODULES: tuple[str, ...] = tuple(
    sorted(str(p.relative_to(ROOT).as_posix()) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
)
#: Every module of spa_vl/ and analysis/ is held to the rule.
CHECKED: tuple[str, ...] = ALL_MODULES

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _decorator_names(node: FunctionNode) -> set[str]:
    names = set()
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Attribute):
            names.add(target.attr)
        elif isinstance(target, ast.Name):
            names.add(target.id)
    return names


def _own_nodes(node: FunctionNode):
    """Every node in the body of ``node``, not descending into nested functions, lambdas or classes."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                stack.append(child)


def _takes_parameters(node: FunctionNode, in_class: bool) -> bool:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    if in_class and "staticmethod" not in _decorator_names(node) and positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    return bool(positional or args.kwonlyargs or args.vararg or args.kwarg)


def _returns_value(node: FunctionNode) -> bool:
    return any(
        isinstance(n, ast.Return)
        and n.value is not None
        and not (isinstance(n.value, ast.Constant) and n.value.value is None)
        for n in _own_nodes(node)
    )


def _is_generator(node: FunctionNode) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(node))


def _public_functions(body: list[ast.stmt], owner: str = "", in_class: bool = False):
    """``(qualified name, node, in_class)`` of every public function/method under ``body``.

    Module-level ``if``/``try``/``with`` blocks are searched too (fallback definitions); functions
    nested in functions are not public API and are skipped.
    """
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not stmt.name.startswith("_"):
                yield f"{owner}{stmt.name}", stmt, in_class
        elif isinstance(stmt, ast.ClassDef):
            if not stmt.name.startswith("_"):
                yield from _public_functions(stmt.body, f"{owner}{stmt.name}.", True)
        elif isinstance(stmt, (ast.If, ast.Try, ast.With)):
            blocks = [stmt.body, getattr(stmt, "orelse", []), getattr(stmt, "finalbody", [])]
            blocks += [handler.body for handler in getattr(stmt, "handlers", [])]
            for block in blocks:
                yield from _public_functions(block, owner, in_class)


def docstring_problems(path: Path, root: Path = ROOT) -> list[str]:
    """What is missing from the docstrings of the public functions in the module at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    for name, node, in_class in _public_functions(tree.body):
        decorators = _decorator_names(node)
        if "overload" in decorators:
            continue
        doc = ast.get_docstring(node) or ""
        where = f"{path.relative_to(root).as_posix()}:{node.lineno} {name}"
        if not doc:
            problems.append(f"{where}: no docstring")
            continue
        if decorators & {"property", "cached_property"} or "setter" in decorators:
            continue
        if _takes_parameters(node, in_class) and "Parameters" not in doc:
            problems.append(f"{where}: no Parameters section")
        if _is_generator(node):
            if "Yields" not in doc:
                problems.append(f"{where}: generator without a Yields section")
        elif _returns_value(node) and "Returns" not in doc:
            problems.append(f"{where}: no Returns section")
    return problems


def test_checked_modules_exist():
    missing = [p for p in CHECKED if not (ROOT / p).is_file()]
    assert not missing, f"CHECKED lists modules that do not exist: {missing}"


@pytest.mark.parametrize("module", ALL_MODULES)
def test_public_functions_have_numpydoc_sections(module):
    # Every module is walked (so each still parses); only those in CHECKED must be complete.
    problems = docstring_problems(ROOT / module)
    if module not in CHECKED:
        pytest.skip(f"not in CHECKED yet ({len(problems)} missing section(s))")
    assert not problems, "\n".join(problems)


def test_checker_flags_missing_sections(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "def documented(x):\n"
        '    """Double.\n\n    Parameters\n    ----------\n    x : int\n\n    Returns\n    -------\n    int\n    """\n'
        "    return 2 * x\n\n"
        "def bare(x):\n"
        '    """Double."""\n'
        "    return 2 * x\n\n"
        "def gen(n):\n"
        '    """Count.\n\n    Parameters\n    ----------\n    n : int\n    """\n'
        "    yield from range(n)\n\n"
        "def _private(x):\n"
        "    return x\n\n"
        "class C:\n"
        "    @property\n"
        "    def p(self):\n"
        '        """The value."""\n'
        "        return 1\n\n"
        "    def m(self):\n"
        "        return 1\n",
        encoding="utf-8",
    )
    assert docstring_problems(source, root=tmp_path) == [
        "mod.py:14 bare: no Parameters section",
        "mod.py:14 bare: no Returns section",
        "mod.py:18 gen: generator without a Yields section",
        "mod.py:36 C.m: no docstring",
    ]
