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


def mask_mobile(text: str) -> str:
    """``13812345678`` → ``138****5678`` wherever a mainland mobile number appears."""
    return MOBILE_IN_TEXT.sub(r"\1****\3", text)
