"""How citizens write what they mean (issue 15): a choice from a numbered list ("2", "１",
"1、", "二", "第一个", "选1", "1吧", "第一个谢谢"), a command with punctuation or a polite
word ("确认。", "投诉！", "取消吧"), and the words and synonyms that name a command, a
service or a kind of message ("我要反应", "举报", "不用了"). The words live in
``domain/vocabulary.toml``, not here; :func:`words` and :func:`command_form` read them."""

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
    groups: dict[str, dict[str, frozenset[str]]]  # table → name → words (command form)


@cache
def vocabulary() -> Vocabulary:
    """The vocabulary shipped beside this module."""
    data = tomllib.loads(resources.files("domain").joinpath("vocabulary.toml")
                         .read_text(encoding="utf-8"))
    choice = data["choice"]
    # longest first, so "我选择" is taken whole rather than as "我选" + "择"
    def longest(words: list[str]) -> tuple[str, ...]:
        return tuple(sorted(words, key=len, reverse=True))

    punctuation = choice["punctuation"]
    polite = longest(choice["polite"])
    groups = {table: {name: frozenset(_form(str(w), punctuation, polite) for w in listed)
                      for name, listed in data[table].items()}
              for table in _GROUPS}
    return Vocabulary(numerals={str(k): int(v) for k, v in data["numerals"].items()},
                      before=longest(choice["before"]), after=longest(choice["after"]),
                      polite=polite, punctuation=punctuation, groups=groups)


_GROUPS = ("commands", "services", "kinds", "complaint", "consultation")


def words(table: str, name: str) -> frozenset[str]:
    """The words of ``[table] name`` in the vocabulary file, in command form: compare
    them with :func:`command_form` of a message."""
    return vocabulary().groups[table][name]


def command_form(text: str) -> str:
    """A whole message as a command is compared: width folded, lower-cased, without the
    punctuation, spaces and polite words people put around it ("确认。" → "确认",
    "投诉！" → "投诉", "取消吧" → "取消", " 帮助？" → "帮助"). A message that is nothing
    but those stays as it is ("？", "谢谢")."""
    words_ = vocabulary()
    return _form(text, words_.punctuation, words_.polite)


# longer than this once its punctuation is off, a message is no command: no word of the
# vocabulary with polite words after it is (a description is not worth the loop below)
_LONGEST = 24


# full-width forms (ＡＢ, １２, ！？, the ideographic space) as ASCII, one character for
# one: what NFKC does to them, at a fraction of its cost on a long message
WIDTH: dict[int, int] = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@cache
def _ends(polite: tuple[str, ...]) -> frozenset[str]:
    return frozenset(word[-1] for word in polite)


@cache
def _padding(punctuation: str) -> str:
    """The punctuation in either width, and white space: what may pad a command."""
    wide = "".join(chr(ord(c) + 0xFEE0) for c in punctuation if 0x21 <= ord(c) <= 0x7E)
    return punctuation + wide + "\u3000\t\n"


def _form(text: str, punctuation: str, polite: tuple[str, ...]) -> str:
    if len(text) > _LONGEST:  # most likely a sentence, which no word is: not folded
        core = text.strip().strip(_padding(punctuation))
        if len(core) > _LONGEST:
            return core
    plain = text.translate(WIDTH).strip().lower()
    ends = _ends(polite)
    changed = True
    while changed:
        changed = False
        stripped = plain.strip(punctuation)
        if stripped and stripped != plain:
            plain, changed = stripped, True
        if plain and plain[-1] in ends:
            for word in polite:
                if plain.endswith(word) and len(plain) > len(word):
                    plain, changed = plain[:-len(word)], True
                    break
    return plain


def named(table: str, text: str, *, form: str | None = None) -> str | None:
    """The name of the ``[table]`` entry whose words hold ``text`` as a command (the kind
    "投诉" for "我要举报！"), else ``None``; ``form``: its command form, if known."""
    form = command_form(text) if form is None else form
    return next((name for name, listed in vocabulary().groups[table].items()
                 if form in listed), None)


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
    if len(text) > _LONGEST:  # a sentence: no choice, and not worth normalising
        return None
    # every compatibility form as ASCII ("①", "｡", "﹗"), then in command form ("1吧。")
    plain = _form(unicodedata.normalize("NFKC", text), words.punctuation, words.polite)
    for _ in range(2):  # "我选第三个": two words before the number
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
