"""The layers hold: web → push → insights → search → lessons, nothing upward, no import cycle.

Every import counts, inside functions and under `if TYPE_CHECKING:` too: a cycle a type
checker needs is still two modules that cannot be understood apart. The one exception is
`lessons.models`: one schema cut into files for reading, whose relationships point both
ways by nature (a lesson has its project, a project its lessons), so it counts as one module.
"""

import ast
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("lessons", "search", "insights", "push", "web")  # each imports only those before it
ONE_MODULE = "lessons.models"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return as_unit(".".join(parts[:-1] if parts[-1] == "__init__" else parts))


def as_unit(name: str) -> str:
    return ONE_MODULE if name.startswith(ONE_MODULE + ".") else name


def imported(path: Path) -> set[str]:
    """The project modules `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {as_unit(name) for name in names if name.split(".")[0] in LAYERS}


def graph() -> dict[str, set[str]]:
    """Each module's project imports (the files of `lessons.models` pooled)."""
    imports: dict[str, set[str]] = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            imports.setdefault(module_name(path), set()).update(imported(path))
    return {name: {target for target in targets if target in imports} - {name}
            for name, targets in imports.items()}


def test_no_module_imports_a_layer_above_its_own():
    upward = [(name, target) for name, targets in graph().items() for target in targets
              if LAYERS.index(target.split(".")[0]) > LAYERS.index(name.split(".")[0])]
    assert upward == []


def test_no_import_cycle():
    edges = graph()
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        for target in sorted(edges.get(name, ())):
            if target in path:
                cycles.append(path[path.index(target):] + [target])
            elif target not in done:
                visit(target, path + [target])
        done.add(name)

    done: set[str] = set()
    for start in sorted(edges):
        if start not in done:
            visit(start, [start])
    # A package importing its own modules from __init__ is how re-exports work, not a cycle.
    real = [cycle for cycle in cycles if not any(
        a != b and (b.startswith(a + ".") or a.startswith(b + ".")) for a, b in
        pairwise(cycle))]
    assert real == []
