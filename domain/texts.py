"""The text catalogue: every user-facing sentence, loaded from a TOML file by key."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Protocol

REQUIRED_KEYS = ("welcome", "help", "unrecognised", "not_text", "busy")


class Wording(Protocol):
    """What words a text: :class:`Texts`, or a stand-in in a test."""

    def __call__(self, key: str, **values: str) -> str: ...


class CatalogueError(Exception):
    """The catalogue file is missing, unreadable, or lacks a key; the text names it."""


class Texts:
    def __init__(self, entries: dict[str, str]) -> None:
        missing = [k for k in REQUIRED_KEYS if k not in entries]
        if missing:
            raise CatalogueError(f"text catalogue lacks key {missing[0]!r}")
        for key, value in entries.items():
            try:
                list(string.Formatter().parse(value))
            except ValueError as exc:
                raise CatalogueError(f"text {key!r}: bad placeholder: {exc}") from None
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> Texts:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogueError(f"text catalogue {path} not found") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CatalogueError(f"text catalogue {path}: {exc}") from None
        entries = {k: v for k, v in data.items() if isinstance(v, str)}
        bad = [k for k, v in data.items() if not isinstance(v, str)]
        if bad:
            raise CatalogueError(f"text catalogue {path}: {bad[0]!r} must be a string")
        return cls(entries)

    def __call__(self, key: str, **values: str) -> str:
        template = self._entries[key]
        if "{help}" in template and "help" not in values:
            values["help"] = self._entries["help"]
        return template.format(**values)

    def __contains__(self, key: str) -> bool:
        return key in self._entries
