"""Finds the secret names a step handler reads, by scanning its package's source.

This is the detector behind the catalog's declared `secrets`: terraform grants only what the
catalog declares, so a handler that reads a secret the catalog does not list must fail a test
(a renamed variable or a new secret read never silently loses its grant).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_file(module: str, root: Path) -> Path | None:
    base = root.joinpath("shared", *module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=512)
def _parse(path: str, mtime_ns: int, size: int) -> ast.Module:
    """Parse a source file once per version of it (the key holds its mtime and size)."""
    return ast.parse(Path(path).read_text(encoding="utf-8"))


def _package_modules(module: str, root: Path) -> list[ast.Module]:
    """Parse `module` and every module of its package (`mhi.<pkg>`) it imports, transitively."""
    package = ".".join(module.split(".")[:2])
    trees: dict[str, ast.Module] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_file(name, root)
        if name in trees or path is None:
            continue
        stat = path.stat()
        trees[name] = tree = _parse(str(path), stat.st_mtime_ns, stat.st_size)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                todo += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
        todo = [m for m in todo if m == package or m.startswith(package + ".")]
    return list(trees.values())


def _literal_arg(
    node: ast.AST, methods: tuple[str, ...], receiver: str | None = None
) -> str | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    if node.func.attr not in methods or not node.args:
        return None
    if receiver and not (isinstance(node.func.value, ast.Name) and node.func.value.id == receiver):
        return None
    arg = node.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def _listed(node: ast.AST) -> list[str]:
    """Return the strings of a module-level `SECRETS = (...)`."""
    if not isinstance(node, ast.Assign) or not any(
        isinstance(t, ast.Name) and t.id == "SECRETS" for t in node.targets
    ):
        return []
    elts = getattr(node.value, "elts", [])
    return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def _fixed_base_url(tree: ast.Module) -> bool:
    return any(
        isinstance(n, ast.Call)
        and getattr(n.func, "id", None) == "System"
        and any(k.arg == "base_url" for k in n.keywords)
        for n in ast.walk(tree)
    )


def secrets_read(target: str, root: Path | None = None) -> tuple[str, ...]:
    """Return the secret names a step handler may read, found in its package's source.

    Scans the handler's module and the modules of its package it imports: `<x>.secret("name")`
    calls and module-level `SECRETS = (...)` lists. Extractors read `<system>-<suffix>` through
    `creds.get("<suffix>")` (the system is the handler module's name); `base-url` only when
    the module's `System(...)` sets no `base_url`.
    """
    root = root or ROOT
    module = target.partition(":")[0]
    if _module_file(module, root) is None:
        raise LookupError(f"handler module {module!r} of {target!r} not found under {root}")
    trees = _package_modules(module, root)
    names: set[str] = set()
    suffixes: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            names.update(filter(None, [_literal_arg(node, ("secret",))]))
            suffixes.update(filter(None, [_literal_arg(node, ("get", "name"), "creds")]))
        names.update(n for node in tree.body for n in _listed(node))
    if module.startswith("mhi.connectors.") and suffixes:
        if _fixed_base_url(trees[0]):
            suffixes.discard("base-url")
        system = module.rpartition(".")[2]
        names.update(f"{system}-{suffix}" for suffix in suffixes)
    return tuple(sorted(names))
