"""The boundary: nothing below bot/ imports wechatpy or touches XML."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# scheduler/ sits beside the edge: it drives the WeChat API client to deliver pushes
BELOW_THE_EDGE = ("handlers", "flows", "domain", "storage")
FORBIDDEN = ("wechatpy", "xmltodict", "xml", "lxml", "aiohttp", "bot")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layers_below_the_edge_know_no_wechat() -> None:
    offenders = []
    for package in BELOW_THE_EDGE:
        for path in (ROOT / package).rglob("*.py"):
            for name in imported_modules(path):
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_wechat_edge_knows_no_state_shape() -> None:
    """bot/wechat/ carries the user's state as an opaque value: it imports no flow, and of
    handlers/ only the Handler protocol and the state context (handlers/context.py)."""
    offenders = []
    for path in (ROOT / "bot" / "wechat").rglob("*.py"):
        for name in imported_modules(path):
            if name.split(".")[0] == "flows" or (
                    name.split(".")[0] == "handlers" and name != "handlers.context"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_state_context_imports_nothing_that_knows_a_shape() -> None:
    names = imported_modules(ROOT / "handlers" / "context.py")
    assert not [n for n in names if n.split(".")[0] in ("flows", "handlers", "storage")]
