"""The shape of bot/: who may import whom, no cycles, and rooms of a readable size.

Every import counts, also those under ``TYPE_CHECKING`` and inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
MAX_CLASS = 450
MAX_FUNCTION = 120
COMPOSERS = {"bot.app", "bot.cli", "bot.runner", "bot.demo", "bot.features"}
"""The composition root and its callers (and the features list itself)."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(BOT.rglob("*.py")):
        name = ".".join(path.relative_to(BOT.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        for name in names:
            target = _resolve(name)
            if target and target != module and target.startswith("bot"):
                out.add(target)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_there_is_no_import_cycle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, "bot.features")
                                    and m != "bot.features"])
def test_a_feature_imports_only_the_core_storage_rules_and_itself(module: str) -> None:
    own = ".".join(module.split(".")[:3])
    for target in GRAPH[module]:
        assert _in(target, "bot.core", "bot.storage", "bot.rules", own), \
            f"{module} imports {target}"


@pytest.mark.parametrize("module", [m for m in MODULES if not _in(m, "bot.features", "bot.adapters")
                                    and m not in COMPOSERS])
def test_only_the_composition_root_and_adapters_import_features(module: str) -> None:
    assert not [t for t in GRAPH[module] if _in(t, "bot.features")], module


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, "bot.adapters")])
def test_adapters_read_feature_settings_only(module: str) -> None:
    for target in GRAPH[module]:
        if _in(target, "bot.features"):
            assert target.endswith(".config"), f"{module} imports {target}"
        assert not _in(target, "bot.core.runtime", "bot.storage", "bot.app"), \
            f"{module} imports {target}"


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, "bot.core")])
def test_the_core_knows_no_feature_adapter_or_model(module: str) -> None:
    for target in GRAPH[module]:
        assert _in(target, "bot.core", "bot.rules", "bot.storage"), f"{module} imports {target}"


def test_no_class_or_function_is_too_long() -> None:
    too_long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                limit = MAX_CLASS if isinstance(node, ast.ClassDef) else MAX_FUNCTION
                if size > limit:
                    too_long.append(f"{module}.{node.name}: {size} lines")
    assert too_long == []


def test_every_feature_package_is_listed() -> None:
    from bot.features import FEATURES

    packages = {p.name for p in (BOT / "features").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    assert {spec.name for spec in FEATURES} == packages
