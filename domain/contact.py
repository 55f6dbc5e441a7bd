"""Mainland mobile numbers: what a citizen types, checked and written one way."""

from __future__ import annotations

import re
import unicodedata

MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_SEPARATORS = str.maketrans("", "", " -()")


def normalise_mobile(text: str) -> str:
    """The 11-digit number in ``text`` ("138 0013 8000", "+86-13800138000", full-width
    digits), or :class:`ValueError` when it is not a mainland mobile number."""
    digits = unicodedata.normalize("NFKC", text).strip().translate(_SEPARATORS)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    if not _MOBILE.fullmatch(digits):
        raise ValueError(f"not a mainland mobile number: {len(digits)} characters")
    return digits


# how much else a message giving a number may say ("我的手机号码是", "电话：")
_WORDS_AROUND = 12


def mobile_in(text: str) -> str | None:
    """The one mainland mobile number in a short message that gives it with a few words
    ("我的电话是 139-0013-9000", "手机：13900139000"); ``None`` when there is none, more than
    one, other digits, or more words than a number needs (a description naming a number)."""
    plain = _plain(text)
    found = mobiles_in(text)
    if len(found) != 1:
        return None
    (number,) = found
    rest = plain.replace(number, "").removesuffix("。").removesuffix(".")
    if any(c.isdigit() for c in rest) or len(rest) > _WORDS_AROUND:
        return None
    return number


def mobiles_in(text: str) -> set[str]:
    """Every mainland mobile number written anywhere in ``text``, however spaced or
    dashed ("请打 139-0013-9000 找我")."""
    return {m.group(0) for m in MOBILE_IN_TEXT.finditer(_plain(text))}


def _plain(text: str) -> str:
    """``text`` with full-width digits as ASCII, no separators and no country code."""
    plain = unicodedata.normalize("NFKC", text).translate(_SEPARATORS)
    return plain.replace("+86", "").replace("0086", "")


def mask_mobile(text: str) -> str:
    """``13812345678`` → ``138****5678`` wherever a mainland mobile number appears."""
    return MOBILE_IN_TEXT.sub(r"\1****\3", text)
