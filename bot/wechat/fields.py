"""Local checks of what we send to the WeChat API, before any network call.

The platform refuses a bad template value with ``47003 argument invalid!
data.thing1.value invalid`` and a bad menu with one of ``40015``–``40027``; checking here
first names the offending field in a :class:`FieldError` and spends no quota.

Template and subscribe-message values are checked by the type prefix of their key
(``thing1`` is a ``thing``, ``character_string21`` a ``character_string``), after the
platform's tables for 类目模板 and 订阅通知. A key whose prefix is not known (``first``,
``keyword1``, ``short_thing2``) gets only the rules every value has: not empty, no line
breaks or control characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from domain.sending import FieldError as FieldError  # what these checks raise

MediaKind = Literal["image", "voice", "video", "thumb"]


# -- character classes ---------------------------------------------------------------------

def _is_han(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x2EBEF  # extensions B-F
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
    )


def _is_symbol(char: str) -> bool:
    """Punctuation or a symbol (``-``, ``+``, ``:``, ``¥``, ``。``)."""
    return unicodedata.category(char)[0] in "PS"


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_ascii_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


# -- template and subscribe data -----------------------------------------------------------

_KEY = re.compile(r"([a-z_]+?)_?(\d+)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_AMOUNT = re.compile(r"(?P<currency>\S)(?P<digits>[0-9]+(?:\.[0-9]+)?)元?")
_CAR = re.compile(r"[\u4e00-\u9fff]?[A-Za-z0-9]+[\u4e00-\u9fff]?")

TemplateKind = Literal["template", "subscribe"]
_Rule = Callable[[str, TemplateKind], "str | None"]


def _at_most(value: str, limit: int, what: str = "characters") -> str | None:
    return f"{len(value)} {what}, at most {limit}" if len(value) > limit else None


def _thing(value: str, kind: TemplateKind) -> str | None:
    return _at_most(value, 20)


def _character_string(value: str, kind: TemplateKind) -> str | None:
    bad = next((c for c in value if not (c.isascii() and c.isprintable())), None)
    if bad is not None:
        return f"{bad!r} is not allowed: only ASCII letters, digits and symbols (no Chinese)"
    return _at_most(value, 32)


def _phrase(value: str, kind: TemplateKind) -> str | None:
    if not all(_is_han(c) for c in value):
        return "only Chinese characters are allowed"
    return _at_most(value, 5, "Chinese characters")


def _number(value: str, kind: TemplateKind) -> str | None:
    if not _NUMBER.fullmatch(value):
        return "must be digits, optionally with a decimal part (12.5)"
    return _at_most(value, 32)


def _letter(value: str, kind: TemplateKind) -> str | None:
    if not all(_is_ascii_letter(c) for c in value):
        return "only letters (A-Z, a-z) are allowed"
    return _at_most(value, 32)


def _symbol(value: str, kind: TemplateKind) -> str | None:
    if not all(_is_symbol(c) for c in value):
        return "only symbols are allowed"
    return _at_most(value, 5, "symbols")


def _amount(value: str, kind: TemplateKind) -> str | None:
    # 1 currency symbol + digits (decimals allowed) + an optional 元. The digit limit is
    # 10 in the subscribe-message table and 12 in the template table.
    match = _AMOUNT.fullmatch(value)
    if match is None or unicodedata.category(match["currency"]) != "Sc":
        return "must be a currency symbol and a number, e.g. ¥39.8 or ￥100元"
    digits = sum(c.isdigit() for c in match["digits"])
    limit = 10 if kind == "subscribe" else 12
    return f"{digits} digits, at most {limit}" if digits > limit else None


def _phone_number(value: str, kind: TemplateKind) -> str | None:
    if not all(_is_ascii_digit(c) or _is_symbol(c) for c in value):
        return "only digits and symbols are allowed (+86-0766-66888866)"
    return _at_most(value, 17)


def _car_number(value: str, kind: TemplateKind) -> str | None:
    too_long = _at_most(value, 8)
    if too_long:
        return too_long
    if not _CAR.fullmatch(value):
        return "must be letters and digits, the first and last may be Chinese (粤A8Z888挂)"
    return None


def _name(value: str, kind: TemplateKind) -> str | None:
    if all(_is_han(c) for c in value):
        return _at_most(value, 10, "Chinese characters")
    if all(_is_ascii_letter(c) or _is_symbol(c) or c == " " for c in value):
        return _at_most(value, 20)
    return "must be Chinese only (at most 10) or letters and symbols only (at most 20)"


def _anything(value: str, kind: TemplateKind) -> str | None:
    return None


def _const(value: str, kind: TemplateKind) -> str | None:
    return _at_most(value, 20)


_RULES: dict[str, _Rule] = {
    "thing": _thing,
    "character_string": _character_string,
    "phrase": _phrase,
    "number": _number,
    "letter": _letter,
    "symbol": _symbol,
    "amount": _amount,
    "phone_number": _phone_number,
    "car_number": _car_number,
    "name": _name,
    "time": _anything,
    "date": _anything,
    "const": _const,
}


def value_type(key: str) -> str | None:
    """The type a data key names (``thing1`` → ``thing``), or None if it names none we know."""
    match = _KEY.fullmatch(key)
    if match is None:
        return None
    prefix = match[1]
    return prefix if prefix in _RULES else None


def _check_data(data: Mapping[str, str], kind: TemplateKind) -> None:
    if not isinstance(data, Mapping):
        raise FieldError("data", "must be a mapping of key to value")
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise FieldError("data", f"key {key!r} must be a non-empty string")
        field = f"data.{key}.value"
        if not isinstance(value, str):
            raise FieldError(field, f"must be a string, not {type(value).__name__}")
        typ = value_type(key)
        # const may be empty: the platform accepts "" or one of the pre-approved values
        if not value and typ != "const":
            raise FieldError(field, "is empty")
        bad = next((c for c in value if _is_control(c)), None)
        if bad is not None:
            what = "a line break" if bad in "\r\n\u2028\u2029" else "a control character"
            raise FieldError(field, f"contains {what} ({bad!r})")
        if typ is not None and value:
            problem = _RULES[typ](value, kind)
            if problem is not None:
                raise FieldError(field, f"{typ}: {problem}")


def check_template_data(data: Mapping[str, str]) -> None:
    """Check template-message values (``message/template/send``); raise :class:`FieldError`."""
    _check_data(data, "template")


def check_subscribe_data(data: Mapping[str, str]) -> None:
    """Check subscribe-message values (``message/subscribe/bizsend``)."""
    _check_data(data, "subscribe")


# -- custom menu ---------------------------------------------------------------------------

TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024
MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5

_KEY_TYPES = frozenset({
    "click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
    "pic_weixin", "location_select",
})
_REQUIRED: dict[str, tuple[str, ...]] = {
    **{t: ("key",) for t in _KEY_TYPES},
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),
    "media_id": ("media_id",),
    "view_limited": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
MENU_TYPES = frozenset(_REQUIRED)
_BUTTON_FIELDS = frozenset({
    "type", "name", "key", "url", "media_id", "appid", "pagepath", "article_id", "sub_button",
})
_BYTE_LIMITS = {"key": KEY_BYTES, "url": URL_BYTES}


def _utf8(value: str) -> int:
    return len(value.encode("utf-8"))


def _string(button: Mapping[str, Any], field: str, path: str) -> str:
    value = button.get(field)
    if not isinstance(value, str):
        raise FieldError(f"{path}.{field}", "is missing" if value is None else
                         f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise FieldError(f"{path}.{field}", "is empty")
    return value


def _check_button(button: object, path: str, *, top: bool) -> None:
    if not isinstance(button, Mapping):
        raise FieldError(path, "must be a table of button fields")
    unknown = sorted(str(k) for k in button if k not in _BUTTON_FIELDS)
    if unknown:
        raise FieldError(f"{path}.{unknown[0]}", "is not a button field")
    name = _string(button, "name", path)
    limit = TOP_NAME_BYTES if top else SUB_NAME_BYTES
    if _utf8(name) > limit:
        raise FieldError(f"{path}.name", f"{_utf8(name)} bytes, at most {limit}")
    subs = button.get("sub_button")
    if not top and subs is not None and subs != []:
        raise FieldError(f"{path}.sub_button", "only top-level buttons have sub buttons")
    # A parent has sub buttons and no action itself. menu/get shows every leaf with an
    # empty sub_button list, so a button with a type and ``sub_button = []`` is a leaf.
    if top and subs is not None and not ("type" in button and subs == []):
        if "type" in button:
            raise FieldError(f"{path}.type", "a button with sub_button has no type")
        if not isinstance(subs, Sequence) or isinstance(subs, str):
            raise FieldError(f"{path}.sub_button", "must be a list of buttons")
        if not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            raise FieldError(f"{path}.sub_button",
                             f"{len(subs)} buttons, 1 to {MAX_SUB_BUTTONS} allowed")
        for i, sub in enumerate(subs):
            _check_button(sub, f"{path}.sub_button[{i}]", top=False)
        return
    if "type" not in button:
        raise FieldError(f"{path}.type", "is missing (or give the button a sub_button list)"
                         if top else "is missing")
    kind = button["type"]
    if not isinstance(kind, str) or kind not in MENU_TYPES:
        raise FieldError(f"{path}.type",
                         f"{kind!r} is not a menu button type ({', '.join(sorted(MENU_TYPES))})")
    for field in _REQUIRED[kind]:
        _string(button, field, path)
    for field, max_bytes in _BYTE_LIMITS.items():
        if field in button:
            value = _string(button, field, path)
            if _utf8(value) > max_bytes:
                raise FieldError(f"{path}.{field}", f"{_utf8(value)} bytes, at most {max_bytes}")


def check_menu(menu: Mapping[str, Any]) -> None:
    """Check a ``menu/create`` body; the error names the button, e.g. ``button[1].name``.

    Paths count from 0, as in the JSON body: ``button[1].sub_button[2]`` is the third
    entry under the second top-level button.
    """
    if not isinstance(menu, Mapping):
        raise FieldError("menu", "must be a table with a button list")
    unknown = sorted(str(k) for k in menu if k != "button")
    if unknown:
        raise FieldError(unknown[0], "is not a menu field (only button)")
    buttons = menu.get("button")
    if buttons is None:
        raise FieldError("button", "is missing")
    if not isinstance(buttons, Sequence) or isinstance(buttons, str):
        raise FieldError("button", "must be a list of buttons")
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise FieldError("button", f"{len(buttons)} buttons, 1 to {MAX_BUTTONS} allowed")
    for i, button in enumerate(buttons):
        _check_button(button, f"button[{i}]", top=True)


# -- media ---------------------------------------------------------------------------------

MB = 1024 * 1024
MEDIA_LIMITS: dict[str, tuple[int, str]] = {
    "image": (2 * MB, "PNG, JPEG or GIF"),
    "voice": (2 * MB, "AMR or MP3"),
    "video": (10 * MB, "MP4"),
    "thumb": (64 * 1024, "JPEG"),
}


def _is_jpeg(content: bytes) -> bool:
    return content.startswith(b"\xff\xd8\xff")


def _is_png(content: bytes) -> bool:
    return content.startswith(b"\x89PNG\r\n\x1a\n")


def _is_gif(content: bytes) -> bool:
    return content.startswith((b"GIF87a", b"GIF89a"))


def _is_amr(content: bytes) -> bool:
    return content.startswith(b"#!AMR")


def _is_mp3(content: bytes) -> bool:
    return content.startswith(b"ID3") or (
        len(content) >= 2 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0
    )


def _is_mp4(content: bytes) -> bool:
    return len(content) >= 12 and content[4:8] == b"ftyp"


_FORMATS: dict[str, tuple[Callable[[bytes], bool], ...]] = {
    "image": (_is_png, _is_jpeg, _is_gif),
    "voice": (_is_amr, _is_mp3),
    "video": (_is_mp4,),
    "thumb": (_is_jpeg,),
}


def _size(n: int) -> str:
    return f"{n // MB} MB" if n % MB == 0 else f"{n // 1024} KB"


def check_media(kind: str, content: bytes) -> None:
    """Size and format (by magic bytes) of a temporary media upload, per type."""
    if kind not in MEDIA_LIMITS:
        raise FieldError("type", f"{kind!r} is not image, voice, video or thumb")
    limit, formats = MEDIA_LIMITS[kind]
    if not content:
        raise FieldError("media", "is empty")
    if len(content) > limit:
        raise FieldError("media", f"{len(content):,} bytes, at most {limit:,} "
                                  f"({_size(limit)}) for {kind}")
    if not any(test(content) for test in _FORMATS[kind]):
        raise FieldError("media", f"not {formats} (checked by content, not by name) for {kind}")
