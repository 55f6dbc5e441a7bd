"""The text catalogue: every user-facing sentence, loaded from a TOML file by key.

Besides the texts, the file has two tables. ``[requires]`` ties a text to the feature it
promises (``service_legal = "legal"``): such a text is offered only while the feature is
switched on (:meth:`Texts.use_features`), so no text promises what the system does not do
at the time it is sent. ``[lists]`` names the texts a placeholder of that name is made
of (``services = ["service_complaint", …]``): ``{services}`` in a text is the offered ones,
numbered — what a citizen's "1" after the welcome means — and any other list's
placeholder the offered ones, a line each.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

NUMBERED_LISTS = frozenset({"services"})  # lists shown "1. …", "2. …"

REQUIRED_KEYS = ("welcome", "help", "unrecognised", "not_text", "busy")


class Wording(Protocol):
    """What words a text: :class:`Texts`, or a stand-in in a test."""

    def __call__(self, key: str, **values: str) -> str: ...


class CatalogueError(Exception):
    """The catalogue file is missing, unreadable, or lacks a key; the text names it."""


class Texts:
    def __init__(self, entries: dict[str, str], *, requires: dict[str, str] | None = None,
                 lists: dict[str, list[str]] | None = None) -> None:
        missing = [k for k in REQUIRED_KEYS if k not in entries]
        if missing:
            raise CatalogueError(f"text catalogue lacks key {missing[0]!r}")
        for key, value in entries.items():
            try:
                list(string.Formatter().parse(value))
            except ValueError as exc:
                raise CatalogueError(f"text {key!r}: bad placeholder: {exc}") from None
        self._requires = dict(requires or {})
        self._lists = {name: list(keys) for name, keys in (lists or {}).items()}
        for key in [*self._requires, *(k for keys in self._lists.values() for k in keys)]:
            if key not in entries:
                raise CatalogueError(f"text catalogue: {key!r} is listed but not a text")
        self._entries = entries
        self._features: Callable[[], frozenset[str]] = frozenset

    def use_features(self, features: Callable[[], frozenset[str]]) -> None:
        """What is switched on now (asked each time a text needs it): ``"legal"`` while
        the legal consultation can take questions."""
        self._features = features

    def offered(self, key: str) -> bool:
        """Is the feature text ``key`` promises (``[requires]``) switched on?"""
        feature = self._requires.get(key)
        return feature is None or feature in self._features()

    def requirement(self, key: str) -> str | None:
        """The feature text ``key`` promises, if any."""
        return self._requires.get(key)

    def listed(self, name: str) -> list[str]:
        """The keys of list ``name`` whose features are on, in order."""
        return [key for key in self._lists.get(name, ()) if self.offered(key)]

    @classmethod
    def load(cls, path: Path) -> Texts:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogueError(f"text catalogue {path} not found") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CatalogueError(f"text catalogue {path}: {exc}") from None
        requires = data.pop("requires", {})
        lists = data.pop("lists", {})
        if not (isinstance(requires, dict) and all(isinstance(v, str)
                                                   for v in requires.values())):
            raise CatalogueError(f"text catalogue {path}: [requires] maps keys to features")
        if not (isinstance(lists, dict) and all(
                isinstance(v, list) and all(isinstance(k, str) for k in v)
                for v in lists.values())):
            raise CatalogueError(f"text catalogue {path}: [lists] maps names to lists of keys")
        entries = {k: v for k, v in data.items() if isinstance(v, str)}
        bad = [k for k, v in data.items() if not isinstance(v, str)]
        if bad:
            raise CatalogueError(f"text catalogue {path}: {bad[0]!r} must be a string")
        return cls(entries, requires=requires, lists=lists)

    def __call__(self, key: str, **values: str) -> str:
        template = self._entries[key]
        if "{help}" in template and "help" not in values:
            values["help"] = self("help")
        for name in self._lists:
            if "{" + name + "}" in template and name not in values:
                values[name] = self._list(name)
        return template.format(**values)

    def _list(self, name: str) -> str:
        keys = self.listed(name)
        if name in NUMBERED_LISTS:
            return "\n".join(f"{i}. {self._entries[k]}" for i, k in enumerate(keys, 1))
        return "\n".join(self._entries[k] for k in keys)

    def __contains__(self, key: str) -> bool:
        return key in self._entries
