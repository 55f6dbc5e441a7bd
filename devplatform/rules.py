"""What the WeChat API checks in template data, menus and media (pure functions, no I/O).

Each check raises :class:`Refused` with the errcode the real API answers and, where WeChat
names the offending field (``argument invalid! data.thing1.value invalid``), that errmsg.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# -- template and subscribe-message data ----------------------------------------------------


class Refused(Exception):
    """The call is refused with ``errcode``; ``errmsg`` when the API words it specially."""

    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        super().__init__(errmsg or str(errcode))
        self.errcode = errcode
        self.errmsg = errmsg


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CHINESE = r"\u3400-\u4dbf\u4e00-\u9fff"
_ASCII_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")
_LETTERS = re.compile(r"^[A-Za-z]+$")
_SYMBOLS = re.compile(r"^[^\sA-Za-z0-9" + _CHINESE + r"]+$")
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_AMOUNT = re.compile(r"^(?:[¥￥$€£][0-9]+(?:\.[0-9]+)?元?|[0-9]+(?:\.[0-9]+)?元)$")
_PHONE = re.compile(r"^[0-9+\-()# *]+$")
_CAR = re.compile(r"^[" + _CHINESE + r"A-Za-z0-9]?[A-Za-z0-9]+[" + _CHINESE + r"A-Za-z0-9]?$")
_ALL_CHINESE = re.compile(r"^[" + _CHINESE + r"]+$")


def _ok_thing(v: str) -> bool:
    return len(v) <= 20


def _ok_character_string(v: str) -> bool:
    return len(v) <= 32 and bool(_ASCII_PRINTABLE.match(v))


def _ok_phrase(v: str) -> bool:
    return len(v) <= 5 and bool(_ALL_CHINESE.match(v))


def _ok_number(v: str) -> bool:
    return len(v) <= 32 and bool(_NUMBER.match(v))


def _ok_amount(v: str) -> bool:
    digits = sum(c.isdigit() for c in v)
    return digits <= 12 and bool(_AMOUNT.match(v))


def _ok_phone_number(v: str) -> bool:
    return len(v) <= 17 and bool(_PHONE.match(v))


def _ok_car_number(v: str) -> bool:
    return len(v) <= 8 and bool(_CAR.match(v))


def _ok_letter(v: str) -> bool:
    return len(v) <= 32 and bool(_LETTERS.match(v))


def _ok_symbol(v: str) -> bool:
    return len(v) <= 5 and bool(_SYMBOLS.match(v))


def _ok_name(v: str) -> bool:
    if _ALL_CHINESE.match(v):
        return len(v) <= 10
    return len(v) <= 20 and bool(_ASCII_PRINTABLE.match(v))


def _ok_time(v: str) -> bool:
    return len(v) <= 64


def _ok_legacy(v: str) -> bool:
    """Old-style keys (first, keyword1, remark, …): free text."""
    return len(v) <= 200


VALUE_RULES: dict[str, Callable[[str], bool]] = {
    "thing": _ok_thing,
    "short_thing": _ok_thing,
    "const": _ok_thing,
    "character_string": _ok_character_string,
    "phrase": _ok_phrase,
    "number": _ok_number,
    "amount": _ok_amount,
    "phone_number": _ok_phone_number,
    "car_number": _ok_car_number,
    "letter": _ok_letter,
    "symbol": _ok_symbol,
    "name": _ok_name,
    "time": _ok_time,
    "date": _ok_time,
}


def key_type(key: str) -> str:
    """``thing1`` → ``thing``; ``character_string21`` → ``character_string``."""
    return key.rstrip("0123456789")


def value_ok(key: str, value: str) -> bool:
    """Whether ``value`` is acceptable for a template key of this name (not empty)."""
    if _CONTROL.search(value):
        return False  # line breaks and control characters are refused for every type
    return VALUE_RULES.get(key_type(key), _ok_legacy)(value)


def check_data(keys: tuple[str, ...], data: Any) -> None:
    """Check ``data`` (``{key: {"value": …, "color"?: …}}``) against a template's keys.

    Keys the template does not have are ignored, as WeChat does; a missing key is empty.
    """
    if not isinstance(data, dict):
        raise Refused(47001)
    for key in keys:
        entry = data.get(key)
        value = entry.get("value") if isinstance(entry, dict) else None
        if value is None or value == "":
            raise Refused(47003, f"argument invalid! data.{key}.value is empty")
        if not isinstance(value, str) or not value_ok(key, value):
            raise Refused(47003, f"argument invalid! data.{key}.value invalid")


# -- custom menus -----------------------------------------------------------------------------

CLICK_LIKE = frozenset({"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                        "pic_photo_or_album", "pic_weixin", "location_select"})
URL_TYPES = frozenset({"view", "miniprogram"})
MEDIA_TYPES = frozenset({"media_id", "view_limited"})
ARTICLE_TYPES = frozenset({"article_id", "article_view_limited"})
MENU_TYPES = CLICK_LIKE | URL_TYPES | MEDIA_TYPES | ARTICLE_TYPES


def _size(value: Any) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else -1


def _check_leaf(button: dict[str, Any], *, sub: bool) -> dict[str, Any]:
    """One button that does something; the errcodes differ for sub buttons."""
    type_code, key_code, url_code = (40024, 40026, 40027) if sub else (40017, 40019, 40020)
    kind = button.get("type")
    if kind not in MENU_TYPES:
        raise Refused(type_code)
    leaf: dict[str, Any] = {"type": kind, "name": button["name"]}
    if kind in CLICK_LIKE:
        if not 1 <= _size(button.get("key")) <= 128:
            raise Refused(key_code)
        leaf["key"] = button["key"]
    if kind in URL_TYPES:
        if not 1 <= _size(button.get("url")) <= 1024:
            raise Refused(url_code)
        leaf["url"] = button["url"]
    if kind == "miniprogram":
        for name in ("appid", "pagepath"):
            if _size(button.get(name)) < 1:
                raise Refused(47001)
            leaf[name] = button[name]
    for types, name in ((MEDIA_TYPES, "media_id"), (ARTICLE_TYPES, "article_id")):
        if kind in types:
            if _size(button.get(name)) < 1:
                raise Refused(40007 if name == "media_id" else 47001)
            leaf[name] = button[name]
    leaf["sub_button"] = []
    return leaf


def check_menu(body: Any) -> list[dict[str, Any]]:
    """The menu's buttons as ``menu/get`` shows them; :class:`Refused` as ``menu/create``."""
    buttons = body.get("button") if isinstance(body, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise Refused(40016)
    menu: list[dict[str, Any]] = []
    for button in buttons:
        if not isinstance(button, dict):
            raise Refused(47001)
        if not 1 <= _size(button.get("name")) <= 16:
            raise Refused(40018)
        subs = button.get("sub_button")
        if subs is None or (subs == [] and "type" in button):
            menu.append(_check_leaf(button, sub=False))
            continue
        if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
            raise Refused(40023)
        children = []
        for sub in subs:
            if not isinstance(sub, dict):
                raise Refused(47001)
            if not 1 <= _size(sub.get("name")) <= 60:
                raise Refused(40025)
            children.append(_check_leaf(sub, sub=True))
        menu.append({"name": button["name"], "sub_button": children})
    return menu


# -- temporary media --------------------------------------------------------------------------

MEDIA_LIMITS = {  # type → (largest size in bytes, errcode when over)
    "image": (2 * 1024 * 1024, 40009),
    "voice": (2 * 1024 * 1024, 40010),
    "video": (10 * 1024 * 1024, 40011),
    "thumb": (64 * 1024, 40012),
}
_MAGIC = {
    "image": ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
              (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif")),
    "thumb": ((b"\xff\xd8\xff", "image/jpeg"),),
    "voice": ((b"#!AMR", "audio/amr"), (b"ID3", "audio/mpeg"), (b"\xff\xfb", "audio/mpeg"),
              (b"\xff\xf3", "audio/mpeg")),
}


def check_media(media_type: str, data: bytes) -> str:
    """The content type of an upload of ``media_type``; :class:`Refused` as media/upload."""
    if media_type not in MEDIA_LIMITS:
        raise Refused(40004)
    if not data:
        raise Refused(41005)
    limit, size_code = MEDIA_LIMITS[media_type]
    if len(data) > limit:
        raise Refused(size_code)
    if media_type == "video":
        if data[4:8] != b"ftyp":
            raise Refused(40005)
        return "video/mp4"
    for magic, content_type in _MAGIC[media_type]:
        if data.startswith(magic):
            return content_type
    raise Refused(40005)
