"""The layering is the table in docs/ARCHITECTURE.md §0; every import of every module
must keep to it."""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
# what counts as this project: the top-level packages (a folder of Python files)
PROJECT = frozenset({"bot", "devplatform", "domain", "storage", "flows", "handlers",
                     "scheduler", "migrations", "bench", "tests"})


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str] | None  # project packages; None: everything
    forbidden: frozenset[str]  # libraries (top-level names)


def read_table(text: str) -> dict[str, Rule]:
    """The rows between the ``layers`` markers: layer → rule."""
    match = re.search(r"<!-- layers: begin -->\n(.*?)<!-- layers: end -->", text, re.S)
    if match is None:
        raise AssertionError("docs/ARCHITECTURE.md has no layers table")
    rules: dict[str, Rule] = {}
    for line in match[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue  # the header and its rule
        layer = cells[0].strip("`").removesuffix(".py")
        names = [n.strip().strip("`") for n in cells[1].split(",") if n.strip()]
        allowed = None if names == ["everything"] else frozenset(names)
        forbidden = frozenset(n.strip().strip("`") for n in cells[2].split(",") if n.strip())
        rules[layer] = Rule(allowed, forbidden)
    return rules


def imports_of(source: str, package: str) -> list[tuple[int, str]]:
    """Every module ``source`` (a module of ``package``) imports: (line, absolute dotted
    name), wherever the import stands."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _imports_by_name(node.func):
            # importlib.import_module("bot.config"), __import__("bot"): by a literal name,
            # or, since the table cannot be checked then, by a name computed at run time
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((node.lineno, first.value))
            else:
                found.append((node.lineno, "<a module named at run time>"))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _imports_by_name(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def rule_for(module: str, rules: dict[str, Rule]) -> Rule | None:
    """The most specific row: a module's own (``bot/cli.py``), else its package's."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        rule = rules.get("/".join(parts[:end]))
        if rule is not None:
            return rule
    return None


def violations(root: Path, rules: dict[str, Rule]) -> list[str]:
    found: list[str] = []
    for package in sorted(PROJECT):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            parts = relative.with_suffix("").parts
            module = ".".join(parts).removesuffix(".__init__")
            package = ".".join(parts[:-1])
            rule = rule_for(module, rules)
            if rule is None:
                found.append(f"{relative}: its package has no row in the layers table")
                continue
            for line, name in imports_of(path.read_text(encoding="utf-8"), package):
                top = name.split(".")[0]
                if name.startswith("<") and rule.allowed is not None:
                    found.append(f"{relative}:{line} imports {name}")
                elif top in PROJECT:
                    if rule.allowed is not None and top not in rule.allowed:
                        found.append(f"{relative}:{line} imports {name}")
                elif top in rule.forbidden:
                    found.append(f"{relative}:{line} imports the library {name}")
    return found


def test_every_import_keeps_to_the_layers_table() -> None:
    rules = read_table(ARCHITECTURE.read_text(encoding="utf-8"))
    assert violations(ROOT, rules) == []


def test_the_table_names_every_package_and_nothing_else() -> None:
    rules = read_table(ARCHITECTURE.read_text(encoding="utf-8"))
    packages = {p.name for p in ROOT.iterdir()
                if p.is_dir() and any(p.glob("*.py")) and not p.name.startswith(".")}
    assert packages == PROJECT
    assert {layer.split("/")[0] for layer in rules} == PROJECT
    named = set().union(*(r.allowed or set() for r in rules.values()))
    assert named <= PROJECT, "a row allows a package that does not exist"


def test_the_product_never_imports_the_dev_platform() -> None:
    rules = read_table(ARCHITECTURE.read_text(encoding="utf-8"))
    product = ("bot", "domain", "storage", "flows", "handlers", "scheduler", "migrations")
    open_to_it = [layer for layer, rule in rules.items()
                  if layer.split("/")[0] in product
                  and (rule.allowed is None or "devplatform" in rule.allowed)]
    assert open_to_it == ["bot/cli"]  # the command line that starts it, nothing else


@pytest.mark.parametrize(("where", "line", "complaint"), [
    ("storage/repo.py", "from bot.config import Settings", "storage/repo.py:2 imports bot.config"),
    ("domain/rules.py", "import sqlalchemy.orm", "domain/rules.py:2 imports the library "
     "sqlalchemy.orm"),
    ("handlers/desk.py", "def late():\n    from devplatform import chat",
     "handlers/desk.py:3 imports devplatform"),
    ("flows/steps.py", "from ..bot import app", "flows/steps.py:2 imports bot"),
    ("scheduler/jobs.py", "if TYPE_CHECKING:\n    import aiohttp",
     "scheduler/jobs.py:3 imports the library aiohttp"),
    ("storage/late.py", "import importlib\nimportlib.import_module('bot.config')",
     "storage/late.py:3 imports bot.config"),
    ("domain/late.py", "x = __import__('devplatform.chat')", "domain/late.py:2 imports "
     "devplatform.chat"),
    ("handlers/late.py", "from importlib import import_module\nimport_module(NAME)",
     "handlers/late.py:3 imports <a module named at run time>"),
])
def test_a_forbidden_import_is_found_wherever_it_stands(
    tmp_path: Path, where: str, line: str, complaint: str,
) -> None:
    rules = read_table(ARCHITECTURE.read_text(encoding="utf-8"))
    for package in PROJECT:
        (tmp_path / package).mkdir()
    (tmp_path / where).write_text(f'"""A module."""\n{line}\n', encoding="utf-8")
    assert violations(tmp_path, rules) == [complaint]


def test_a_package_without_a_row_is_refused(tmp_path: Path) -> None:
    rules = read_table(ARCHITECTURE.read_text(encoding="utf-8"))
    rules.pop("scheduler")
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "scheduler" / "jobs.py").write_text("import os\n", encoding="utf-8")
    assert violations(tmp_path, rules) == [
        "scheduler/jobs.py: its package has no row in the layers table"]


def test_standard_library_names_are_not_mistaken_for_layers() -> None:
    assert not PROJECT & set(sys.stdlib_module_names)


def test_the_wechat_edge_knows_no_state_shape() -> None:
    """bot/wechat/ carries the user's state as an opaque value: of handlers/ it imports
    only the Handler protocol and the state context (handlers/context.py), which itself
    imports nothing of ours but domain/ (the table's rows keep flows/ out of both)."""
    offenders = []
    for path in sorted((ROOT / "bot" / "wechat").rglob("*.py")):
        for line, name in imports_of(path.read_text(encoding="utf-8"), "bot.wechat"):
            if name.split(".")[0] in ("flows", "handlers") and name != "handlers.context":
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offenders == []
