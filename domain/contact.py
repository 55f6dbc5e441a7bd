"""Mainland mobile numbers: what a citizen types, checked and written one way.

One finder, :func:`find_mobiles`, reads every spelling (spaces, dashes, brackets, ``+86``
/ ``0086`` / ``86``, full-width or circled digits) and says where in the text each number
is; the answer check, the search in a sentence and the masking of log lines all use it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# what may stand between the digits of one number ("139 0013-9000", "(139)00139000")
SEPARATORS = " -()"
_SEP = f"[{re.escape(SEPARATORS)}]*"
# after NFKC: an optional country code, then 1, 3-9 and nine more digits, separators
# allowed between any two, and no digit right before or after (then it is part of a
# longer number: an order number, a date)
_WRITTEN = re.compile(
    rf"(?<![0-9])(?:(?:\+|00)?86{_SEP})?(?P<number>1{_SEP}[3-9](?:{_SEP}[0-9]){{9}})(?![0-9])"
)
_NOT_DIGIT = re.compile(r"[^0-9]")
_DROP_SEPARATORS = str.maketrans("", "", SEPARATORS)


@dataclass(frozen=True, slots=True)
class Mobile:
    """A number as written in a text: ``text[start:end]`` (country code included)."""

    number: str  # the 11 digits
    start: int
    end: int


def find_mobiles(text: str) -> Iterator[Mobile]:
    """Every mainland mobile number written in ``text``, left to right, however spaced,
    dashed or prefixed, in ASCII, full-width or other digits NFKC reads as ASCII."""
    if text.isascii():
        plain, origin = text, None
    else:  # normalise per character, so a match maps back to the text as written
        pieces: list[str] = []
        origin = []
        for i, char in enumerate(text):
            normal = char if char.isascii() else unicodedata.normalize("NFKC", char)
            pieces.append(normal)
            origin.extend([i] * len(normal))
        plain = "".join(pieces)
    for match in _WRITTEN.finditer(plain):
        start, end = match.span()
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        yield Mobile(_NOT_DIGIT.sub("", match.group("number")), start, end)


def normalise_mobile(text: str) -> str:
    """The 11-digit number that is all of ``text`` ("138 0013 8000", "+86-13800138000",
    full-width digits), or :class:`ValueError` when it is not a mainland mobile number."""
    whole = text.strip().strip(SEPARATORS)
    found = list(find_mobiles(whole))
    if len(found) != 1 or (found[0].start, found[0].end) != (0, len(whole)):
        raise ValueError(f"not a mainland mobile number: {len(whole)} characters")
    return found[0].number


# how much else a message giving a number may say ("我的手机号码是", "电话：")
_WORDS_AROUND = 12


def mobile_in(text: str) -> str | None:
    """The one mainland mobile number in a short message that gives it with a few words
    ("我的电话是 139-0013-9000", "手机：13900139000"); ``None`` when there is none, more than
    one, other digits, or more words than a number needs (a description naming a number)."""
    found = list(find_mobiles(text))
    if len({mobile.number for mobile in found}) != 1:
        return None
    rest = _without(text, found)
    rest = unicodedata.normalize("NFKC", rest).translate(_DROP_SEPARATORS)
    rest = rest.removesuffix("。").removesuffix(".")
    if any(c.isdigit() for c in rest) or len(rest) > _WORDS_AROUND:
        return None
    return found[0].number


def mobiles_in(text: str) -> set[str]:
    """Every mainland mobile number written anywhere in ``text``, however spaced or
    dashed ("请打 139-0013-9000 找我")."""
    return {mobile.number for mobile in find_mobiles(text)}


def mask_mobile(text: str) -> str:
    """``13812345678`` → ``138****5678`` wherever :func:`find_mobiles` finds a number, in
    any spelling (the country code and separators go with it). Repeated until none is
    left: the visible digits of a masked number and the digits after it never make a new
    one."""
    while True:
        found = list(find_mobiles(text))
        if not found:
            return text
        text = _without(text, found, lambda number: f"{number[:3]}****{number[7:]}")


def _without(text: str, found: list[Mobile],
             instead: Callable[[str], str] = lambda number: "") -> str:
    pieces: list[str] = []
    last = 0
    for mobile in found:
        pieces += [text[last:mobile.start], instead(mobile.number)]
        last = mobile.end
    pieces.append(text[last:])
    return "".join(pieces)


def mask_openid(openid: str) -> str:
    """A WeChat user id for a log line: its first and last four characters (enough to
    tell two users apart in one incident, not to address one)."""
    if len(openid) <= 10:
        return openid[:2] + "…"
    return f"{openid[:4]}…{openid[-4:]}"
