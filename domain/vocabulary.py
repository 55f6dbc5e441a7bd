"""How citizens write a choice from a numbered list: "2", "１", "1、", "二", "第一个", "选1",
"1吧", "第一个谢谢" (issue 15). The words live in ``domain/vocabulary.toml``, not here."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Vocabulary:
    numerals: dict[str, int]
    before: tuple[str, ...]
    after: tuple[str, ...]
    polite: tuple[str, ...]
    punctuation: str


@cache
def vocabulary() -> Vocabulary:
    """The vocabulary shipped beside this module."""
    data = tomllib.loads(resources.files("domain").joinpath("vocabulary.toml")
                         .read_text(encoding="utf-8"))
    choice = data["choice"]
    # longest first, so "我选择" is taken whole rather than as "我选" + "择"
    def longest(words: list[str]) -> tuple[str, ...]:
        return tuple(sorted(words, key=len, reverse=True))

    return Vocabulary(numerals={str(k): int(v) for k, v in data["numerals"].items()},
                      before=longest(choice["before"]), after=longest(choice["after"]),
                      polite=longest(choice["polite"]), punctuation=choice["punctuation"])


def numeral_value(text: str, numerals: dict[str, int]) -> int | None:
    """一 … 十, 十一 … 二十 (and 两, 幺, 壹 …) as a number; ``None`` otherwise."""
    if len(text) == 1:
        return numerals.get(text)
    ten = [n for n, v in numerals.items() if v == 10]
    if len(text) == 2 and text[0] in ten:  # 十一 … 十九
        unit = numerals.get(text[1])
        return None if unit is None or unit >= 10 or unit == 0 else 10 + unit
    if len(text) == 2 and text[1] in ten:  # 二十
        tens = numerals.get(text[0])
        return None if tens is None or not 1 <= tens <= 9 else tens * 10
    return None


def choice_number(text: str, words: Vocabulary | None = None) -> int | None:
    """The number a citizen's choice names, else ``None``: at most two digits or a
    numeral up to 二十, with the words before and after it that people add."""
    words = words or vocabulary()
    plain = unicodedata.normalize("NFKC", text).strip()
    changed = True
    while changed and plain:
        changed = False
        stripped = plain.strip(words.punctuation)
        if stripped != plain:
            plain, changed = stripped, True
        for word in words.polite:
            if plain.endswith(word) and len(plain) > len(word):
                plain, changed = plain[:-len(word)], True
                break
    for word in words.before:
        if plain.startswith(word) and len(plain) > len(word):
            plain = plain[len(word):]
            break
    for word in words.after:
        if plain.endswith(word) and len(plain) > len(word):
            plain = plain[:-len(word)]
            break
    plain = plain.strip(words.punctuation)
    if plain.isascii() and plain.isdigit() and len(plain) <= 2:
        return int(plain)
    return numeral_value(plain, words.numerals)
