"""Commands of the dev platform (``devplatform``, ``chat``, ``dev``); filled in by its module."""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    del sub
