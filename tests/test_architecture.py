"""The map in docs/ARCHITECTURE.md, enforced: the imports that must never exist, no import cycle,
no room too big. Read from the source with `ast` (every import counts, including those inside
functions and under TYPE_CHECKING: a forbidden arrow is forbidden however it is drawn)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "playbooks")
MAX_LINES = 600

ENTRY_POINTS = ("bot.cli", "bot.__main__", "bot.app", "bot.console", "bot.health", "bot.runtime",
                "bot.cli_snapshot",
                "bot.cli_runs", "bot.worker")
CORE = ("bot.models", "bot.config", "bot.inputs", "bot.errors", "bot.redact", "bot.commands", "bot.text",
        "bot.changes")
GATEWAYS = ("bot.k8s", "bot.github", "bot.slack", "bot.prometheus")
IO_LIBRARIES = ("kubernetes", "httpx", "aiohttp", "slack_sdk.web", "slack_bolt", "sqlite3", "sqlite_utils", "socket",
                "urllib.request", "requests", "subprocess")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted (`from a import b` counts as a.b when b is a module)
    line: int
    top_level: bool  # executed at import time (not inside a function, not under TYPE_CHECKING)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, top_level: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(module, alias.name, child.lineno, top_level)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    yield Import(module, candidate if candidate in MODULES else base, child.lineno, top_level)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) or (
                isinstance(child, ast.If) and _is_type_checking(child)
            ):
                yield from visit(child, False)
            else:
                yield from visit(child, top_level)

    yield from visit(tree, True)


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# (who, must never import, why) -- the same rules, with their reasons, as docs/ARCHITECTURE.md
RULES: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (("handlers",), ("bot.k8s", "bot.github", "bot.sandbox", "kubernetes", "httpx"),
     "handlers acknowledge within Slack's 3 s: no cluster or GitHub call may sit on that path"),
    (("playbooks",), ("bot.slack", "bot.render", "bot.sandbox", "bot.threads", "bot.store", "handlers", "slack_sdk",
                      "slack_bolt", *ENTRY_POINTS),
     "playbooks derive findings from snapshots; how and where a report is shown is not their business,"
     " and the sandbox is only demo wiring"),
    (CORE, (*ENTRY_POINTS, *GATEWAYS, "bot.store", "bot.render", "bot.threads", "bot.sandbox", "handlers",
            "playbooks", *IO_LIBRARIES),
     "the core (models, settings, input checks, errors, redaction, command types) is imported by everything:"
     " it may depend on nothing that does I/O or starts the program"),
    (("bot.render",), ("playbooks", "bot.store", "bot.threads", "handlers", "bot.sandbox", *GATEWAYS,
                       *ENTRY_POINTS, *IO_LIBRARIES),
     "rendering turns one report into Block Kit or terminal text: pure, from the core models only"),
    (("bot.store",), ("playbooks", "bot.render", "bot.threads", "handlers", "bot.sandbox", *GATEWAYS, *ENTRY_POINTS,
                      "kubernetes", "httpx", "aiohttp", "slack_sdk", "slack_bolt"),
     "the store only does SQLite: it knows the core models, nothing that talks to the network"),
    (("bot.k8s", "bot.github", "bot.slack"), ("playbooks", "bot.render", "bot.store", "bot.threads", "handlers",
                                              "bot.sandbox", *ENTRY_POINTS),
     "a gateway translates one API into the core models; it knows no caller"),
    (("bot.threads",), ("bot.sandbox", "bot.k8s", "bot.github", *ENTRY_POINTS),
     "threads reach clusters only through playbooks, and never start the program"),
    (("bot.capture",), ("handlers", "bot.threads", "bot.render", "bot.store", *GATEWAYS, *ENTRY_POINTS),
     "a snapshot is the debug playbook's report written as a scenario: no Slack, no store, no fetch of its own"),
    (("bot.sandbox",), ("playbooks", "handlers", "bot.threads", "bot.render", "bot.store", *GATEWAYS,
                        "bot.cli", "bot.app", "bot.console", "bot.runtime", "bot.capture"),
     "the sandbox is a stand-in for a cluster and GitHub: it must not know the code it is tested with"),
]


def _violations() -> list[str]:
    out = []
    for imp in IMPORTS:
        for who, forbidden, why in RULES:
            if _within(imp.module, who) and _within(imp.target, forbidden):
                out.append(f"{imp.module}:{imp.line} imports {imp.target}: {why}")
        # nothing but the entry points start the program
        if not _within(imp.module, ENTRY_POINTS) and _within(imp.target, ("bot.cli", "bot.__main__", "bot.app",
                                                                             "bot.console")):
            out.append(f"{imp.module}:{imp.line} imports the entry point {imp.target}")
    return out


def test_no_forbidden_import() -> None:
    assert _violations() == []


def test_the_rules_see_a_forbidden_import() -> None:
    """The checker itself: a handler importing the Kubernetes gateway inside a function is caught."""
    source = "def f():\n    from bot.k8s import KubernetesGateway\n"
    fake = ROOT / "handlers" / "_probe_for_test.py"
    try:
        fake.write_text(source)
        caught = [i for i in _imports("handlers._probe_for_test", fake)]
    finally:
        fake.unlink()
    assert [i.target for i in caught] == ["bot.k8s"]
    assert any(
        _within("handlers._probe_for_test", who) and _within("bot.k8s", forbidden) for who, forbidden, _ in RULES
    )


def _cycle() -> list[str] | None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if imp.top_level and imp.target in MODULES and imp.target != imp.module:
            graph[imp.module].add(imp.target)
            # importing a.b.c runs a/__init__ and a/b/__init__ first
            parts = imp.target.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in MODULES and parent != imp.module and not imp.module.startswith(parent + "."):
                    graph[imp.module].add(parent)
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := dfs(module)):
            return found
    return None


def test_no_import_cycle() -> None:
    assert _cycle() is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_holds_one_idea(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by idea"


def test_the_architecture_map_names_every_package() -> None:
    """docs/ARCHITECTURE.md is the map of the tree: every sub-package and top-level module is on it."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = []
    for module, path in MODULES.items():
        parts = module.split(".")
        if len(parts) == 2 or (len(parts) == 1 and module in PACKAGES):
            shown = f"{parts[-1]}/" if path.name == "__init__.py" else f"{parts[-1]}.py"
            if not re.search(rf"(?<![\w.]){re.escape(shown)}", text):
                missing.append(shown)
    assert missing == []
