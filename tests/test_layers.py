"""The layers hold: web → search → lessons, nothing upward, and no import cycle below web.

Every import counts, inside functions and under `if TYPE_CHECKING:` too: a cycle a type
checker needs is still two modules that cannot be understood apart.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("lessons", "search", "web")  # each may import only those before it


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The project modules `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in LAYERS}


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for layer in LAYERS
               for path in (ROOT / layer).rglob("*.py")}
    return {name: {target for target in imported(path) if target in modules} - {name}
            for name, path in modules.items()}


def test_no_module_imports_a_layer_above_its_own():
    upward = [(name, target) for name, targets in graph().items() for target in targets
              if LAYERS.index(target.split(".")[0]) > LAYERS.index(name.split(".")[0])]
    assert upward == []


def test_no_import_cycle_in_lessons_or_search():
    edges = {name: {t for t in targets if not t.startswith("web")}
             for name, targets in graph().items() if not name.startswith("web")}
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
        zip(cycle, cycle[1:]))]
    assert real == []
