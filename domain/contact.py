"""Phone numbers as citizens write them: mainland mobiles and landlines with an area code,
found, checked and written one way.

One finder, :func:`find_phones`, reads every spelling and says where in the text each
number is; the answer check, the search in a sentence and the masking of log lines and of
what others see all use it. It reads:

- digits in ASCII, full-width, circled or any other form NFKC reads as ASCII, and the
  Chinese numerals (:data:`NUMERALS`: 〇/零/洞 = 0, 一/幺 = 1, 二/两 = 2, 三 … 九), alone
  or mixed with digits ("一三八 〇〇一三 八〇〇〇", "138零零138零零零");
- spaces, dashes and brackets between digits;
- a mobile: 1, 3–9 and nine more digits, after an optional ``+86`` / ``0086`` / ``86``;
- a landline: an area code — 010 and 020–029, otherwise 0 and three digits (0731) — with
  no separator inside it, then a local number of 7 or 8 digits starting with 2–9
  ("0731-84567890", "(0731)8456 7890", "073184567890"). Written ``0731-84567890``.

A digit right before or after a number makes it part of a longer one (an order number, a
date). A numeral right after it starts the next word when a Chinese character that is no
numeral follows ("13800138000一直没人接", "两次"); a numeral right before it ends the
word before when one precedes it ("第一", "统一").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

# Chinese numerals as digits: the one table the finder here and domain/redact.py read by
NUMERALS: dict[int, int] = str.maketrans("〇零洞一幺二两三四五六七八九", "00011223456789")
# what may stand between the digits of one number ("139 0013-9000", "(0731)84567890")
SEPARATORS = " -()"

_SEP = f"[{re.escape(SEPARATORS)}]*"
_NUMERAL = "".join(chr(c) for c in NUMERALS)
_N = f"[{_NUMERAL}]"
_HAN = r"\u4e00-\u9fff"  # 〇 is outside: it is no word character
# a numeral that continues a number rather than starting a word: another numeral, no
# Chinese character, or the end follows it
_NUMERAL_IN_NUMBER = rf"{_N}(?={_N}|[^{_HAN}]|$)"


def _digit(ascii_class: str) -> str:
    """A pattern for one digit of ``ascii_class`` ("3-9"), as a digit or a numeral."""
    wanted = re.compile(f"[{ascii_class}]")
    numerals = "".join(chr(c) for c, d in NUMERALS.items() if wanted.fullmatch(chr(d)))
    return f"[{ascii_class}{numerals}]"


_D, _D0, _D1, _D2, _D29, _D39 = (_digit(c) for c in ("0-9", "0", "1", "2", "2-9", "3-9"))
# no digit before: an Arabic one, or a numeral that does not end a word ("第一")
_STARTS = rf"(?<![0-9])(?<!^{_N})(?<!(?:[^{_HAN}]|{_N}){_N})"
# no digit after: an Arabic one, or a numeral that does not start a word ("一直")
_ENDS = rf"(?![0-9])(?!{_NUMERAL_IN_NUMBER})"
_MOBILE = (rf"(?:(?:\+|{_D0}{_D0})?[8八][6六]{_SEP})?"
           rf"(?P<mobile>{_D1}{_SEP}{_D39}(?:{_SEP}{_D}){{9}})")
# the area code's first digits say its length, a bracket may open before it; the eighth
# digit of a local number is no numeral that starts a word after seven digits
# ("0731-8456789一直", "…三天"), unless the seventh is a numeral too ("…七八九〇谢谢")
_LANDLINE = (rf"\(?(?P<area>{_D0}(?:{_D1}{_D0}|{_D2}{_D}|{_D39}{_D}{_D})){_SEP}"
             rf"(?P<local>{_D29}(?:{_SEP}{_D}){{6}}"
             rf"(?:{_SEP}(?:[0-9]|{_NUMERAL_IN_NUMBER}|(?<={_N}){_N}))?)")
# read after NFKC character by character (numerals are left as they are)
_WRITTEN = re.compile(rf"{_STARTS}(?:{_MOBILE}|{_LANDLINE}){_ENDS}")
_NOT_DIGIT = re.compile(r"[^0-9]")
_DROP_SEPARATORS = str.maketrans("", "", SEPARATORS)
_LOOSE_NUMERAL = re.compile(_NUMERAL_IN_NUMBER)


@dataclass(frozen=True, slots=True)
class Phone:
    """A number as written in a text: ``text[start:end]`` (country code included)."""

    number: str  # a mobile's 11 digits, or a landline's "0731-84567890"
    start: int
    end: int


def find_phones(text: str) -> Iterator[Phone]:
    """Every mainland mobile and landline number written in ``text``, left to right, in
    any spelling the module docstring lists."""
    plain, origin = _read(text)
    for match in _WRITTEN.finditer(plain):
        start, end = match.span()
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        if match.group("mobile") is not None:
            number = _digits(match.group("mobile"))
        else:
            number = f"{_digits(match.group('area'))}-{_digits(match.group('local'))}"
        yield Phone(number, start, end)


def _read(text: str) -> tuple[str, list[int] | None]:
    """``text`` normalised per character, and where each character of it comes from
    (``None``: the same place), so a match maps back to the text as written."""
    if text.isascii():
        return text, None
    pieces: list[str] = []
    origin: list[int] = []
    for i, char in enumerate(text):
        normal = char if char.isascii() else unicodedata.normalize("NFKC", char)
        pieces.append(normal)
        origin.extend([i] * len(normal))
    return "".join(pieces), origin


def _digits(written: str) -> str:
    return _NOT_DIGIT.sub("", written.translate(NUMERALS))


Reason = Literal["unread", "length", "area_code", "landline"]


class NotAPhone(ValueError):
    """A text that is no phone number, and what is wrong, read from its longest run of
    digits (at least five): ``"length"``, a mobile's first digit and not 11 digits (the
    run's length in ``digits``); ``"area_code"``, 7 or 8 digits starting with 2–9 (a
    landline without its area code); ``"landline"``, 0 and no valid area code and local
    number; ``"unread"``, anything else (words, several numbers, a number and more). The
    message gives the text's length, never what was typed (it may reach a log line)."""

    def __init__(self, text: str) -> None:
        super().__init__(f"not a phone number: {len(text)} characters")
        self.reason, self.digits = _what_is_wrong(text)


_RUN = re.compile(rf"[0-9{_NUMERAL}](?:{_SEP}[0-9{_NUMERAL}])*")
_COUNTRY_CODE = re.compile(r"^(?:00)?86(?=1)")
_FEWEST_DIGITS = 5  # fewer: "1" or "一个" is no attempt at a number


def _what_is_wrong(text: str) -> tuple[Reason, int]:
    runs = [_digits(run) for run in _RUN.findall(_read(text)[0])]
    if not runs or any(find_phones(text)):
        return "unread", 0
    digits = _COUNTRY_CODE.sub("", max(runs, key=len))
    if len(digits) < _FEWEST_DIGITS:
        return "unread", len(digits)
    if digits.startswith("1"):
        return ("unread" if len(digits) == 11 else "length"), len(digits)
    if digits.startswith("0"):
        return "landline", len(digits)
    return ("area_code" if len(digits) in (7, 8) else "unread"), len(digits)


def normalise_phone(text: str) -> str:
    """The number that is all of ``text`` — a mobile's 11 digits, a landline's
    "0731-84567890" — in any spelling; :class:`NotAPhone` when it is none."""
    whole = text.strip().strip(SEPARATORS)
    found = list(find_phones(whole))
    if len(found) != 1 or (found[0].start, found[0].end) != (0, len(whole)):
        raise NotAPhone(whole)
    return found[0].number


# how much else a message giving a number may say ("我的手机号码是", "电话：")
_WORDS_AROUND = 12


def phone_in(text: str) -> str | None:
    """The one phone number in a short message that gives it with a few words
    ("我的电话是 139-0013-9000", "座机：0731-84567890"); ``None`` when there is none, more
    than one, other digits (numerals too, unless they start a word: "一直开机"), or more
    words than a number needs (a description naming a number)."""
    found = list(find_phones(text))
    if len({phone.number for phone in found}) != 1:
        return None
    rest = _without(text, found)
    rest = unicodedata.normalize("NFKC", rest).translate(_DROP_SEPARATORS)
    rest = rest.removesuffix("。").removesuffix(".")
    if any(c.isdigit() for c in rest) or _LOOSE_NUMERAL.search(rest) \
            or len(rest) > _WORDS_AROUND:
        return None
    return found[0].number


def phones_in(text: str) -> set[str]:
    """Every phone number written anywhere in ``text``, in any spelling ("请打 139-0013-9000
    找我", "家里座机〇七三一 八四五六七八九〇")."""
    return {phone.number for phone in find_phones(text)}


def masked(number: str) -> str:
    """A number as :func:`find_phones` writes it, shown to whoever may not call it: the
    last four digits and what says where it rings — ``138****5678``, ``0731-****7890``."""
    area, dash, local = number.rpartition("-")
    if dash:
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    return f"{number[:3]}****{number[7:]}"


def mask_phones(text: str) -> str:
    """``text`` with every number :func:`find_phones` finds in it :func:`masked` (the
    country code and separators go with it). Repeated until none is left: the visible
    digits of a masked number and the digits around it never make a new one."""
    while True:
        found = list(find_phones(text))
        if not found:
            return text
        text = _without(text, found, masked)


def _without(text: str, found: list[Phone],
             instead: Callable[[str], str] = lambda number: "") -> str:
    pieces: list[str] = []
    last = 0
    for phone in found:
        pieces += [text[last:phone.start], instead(phone.number)]
        last = phone.end
    pieces.append(text[last:])
    return "".join(pieces)


def mask_openid(openid: str) -> str:
    """A WeChat user id for a log line: its first and last four characters (enough to
    tell two users apart in one incident, not to address one)."""
    if len(openid) <= 10:
        return openid[:2] + "…"
    return f"{openid[:4]}…{openid[-4:]}"
