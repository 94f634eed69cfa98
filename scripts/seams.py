"""Measures of the code's seams, for comparing two states of src/runyard:

    .venv/bin/python scripts/seams.py [SRC]      # default: src/runyard

- `is_remote` outside backend modules: how often code asks whether a workspace is a server's
  (modules under a `backends` folder are where that question belongs);
- import cycles: strongly connected groups of runyard modules in the import graph (every
  import, function-level ones included), with their sizes;
- function-level imports of runyard's own modules (a sign of cycles worked around);
- modules over 300 lines;
- the share of function parameters (self and cls aside) that carry a type annotation.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(name: str, path: Path, tree: ast.AST, known: set[str]) -> list[tuple[set[str], bool]]:
    """(runyard modules it imports, whether at function level) for each import statement."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue  # imports for the type checker only: no edge at run time
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            targets = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in child.names]
                # `from pkg import module` is an edge to the module, as `import pkg.module` is
                # (a package's __init__ runs for either); `from pkg import name` to the package.
                if not all(target in known for target in targets):
                    targets.append(base)
            hits = set()
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    hits.add(target)
            if hits:
                out.append((hits, in_function))
            visit(child, inner)

    visit(tree, False)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def strong(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                strong(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            strong(node)
    return found


def main(root: Path) -> None:
    found = modules(root)
    known = set(found)
    graph: dict[str, set[str]] = {}
    function_level = remote_checks = params = annotated = 0
    long_modules = []
    for name, path in found.items():
        text = path.read_text()
        tree = ast.parse(text)
        edges = imported(name, path, tree, known)
        graph[name] = {target for targets, _ in edges for target in targets}
        function_level += sum(1 for _, in_function in edges if in_function)
        if "backends" not in path.parts:
            remote_checks += text.count("is_remote")
        lines = len(text.splitlines())
        if lines > 300:
            long_modules.append((lines, name))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                args = [a for a in args if a.arg not in ("self", "cls")]
                params += len(args)
                annotated += sum(1 for a in args if a.annotation is not None)
    groups = cycles(graph)
    print(f"modules: {len(found)}")
    print(f"is_remote outside backend modules: {remote_checks}")
    print(f"import cycles: {len(groups)} ({', '.join(str(len(g)) + ' modules' for g in groups) or 'none'})")
    for group in groups:
        print(f"  - {' '.join(group)}")
    print(f"function-level imports of runyard modules: {function_level}")
    print(f"modules over 300 lines: {len(long_modules)} "
          f"({', '.join(f'{n} ({lines})' for lines, n in sorted(long_modules, reverse=True))})")
    print(f"annotated parameters: {annotated} of {params} ({100 * annotated / max(params, 1):.0f} %)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "src/runyard"))
