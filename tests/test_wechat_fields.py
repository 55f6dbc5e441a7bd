"""Local checks of template/subscribe values, menus and media, before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from bot.wechat.fields import (
    FieldError,
    check_media,
    check_menu,
    check_subscribe_data,
    check_template_data,
    value_type,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64
GIF = b"GIF89a" + b"\0" * 64


@pytest.mark.parametrize(("key", "expected"), [
    ("thing1", "thing"), ("character_string21", "character_string"), ("phrase3", "phrase"),
    ("amount12", "amount"), ("phone_number4", "phone_number"), ("car_number5", "car_number"),
    ("time10", "time"), ("const2", "const"), ("name1", "name"),
    ("first", None), ("keyword1", None), ("short_thing2", None), ("remark", None),
])
def test_value_type_is_the_key_prefix(key: str, expected: str | None) -> None:
    assert value_type(key) == expected


GOOD = {
    "thing1": "县行政审批局窗口服务态度问题反映",  # 16 characters
    "character_string2": "LX-2024-000123",
    "phrase3": "已受理",
    "number4": "12.5",
    "letter5": "ABc",
    "symbol6": "#-+",
    "amount7": "¥39.8",
    "phone_number8": "+86-0766-66888866",
    "car_number9": "粤A8Z888挂",
    "name10": "张三",
    "time11": "2024年5月1日 15:01",
    "date12": "2024年5月1日",
    "const13": "已办结",
    "keyword1": "任何内容 any value",
}


def test_values_within_their_rules_pass() -> None:
    check_template_data(GOOD)
    check_subscribe_data(GOOD)
    check_template_data({"name1": "John Smith", "amount2": "￥100元", "const3": ""})


@pytest.mark.parametrize(("key", "value", "says"), [
    ("thing1", "一二三四五六七八九十一二三四五六七八九十一", "21 characters, at most 20"),
    ("character_string2", "订单12345", "no Chinese"),
    ("character_string2", "A" * 33, "33 characters, at most 32"),
    ("phrase3", "配送中了吗？", "only Chinese"),
    ("phrase3", "正在配送途中", "6 Chinese characters, at most 5"),
    ("number4", "12a", "must be digits"),
    ("number4", "1" * 33, "33 characters, at most 32"),
    ("letter5", "abc1", "only letters"),
    ("symbol6", "a-", "only symbols"),
    ("symbol6", "------", "6 symbols, at most 5"),
    ("amount7", "3.00", "currency symbol"),
    ("amount7", "¥1234567890123", "13 digits, at most 12"),
    ("phone_number8", "0766 6688", "only digits and symbols"),
    ("phone_number8", "1" * 18, "18 characters, at most 17"),
    ("car_number9", "粤A8Z888挂X", "9 characters, at most 8"),
    ("car_number9", "A-123", "letters and digits"),
    ("name10", "欧阳一二三四五六七八九", "11 Chinese characters, at most 10"),
    ("name10", "张San", "Chinese only"),
    ("const13", "一" * 21, "21 characters, at most 20"),
    ("time11", "", "is empty"),
    ("keyword1", "", "is empty"),
    ("thing1", "第一行\n第二行", "line break"),
    ("keyword1", "bell\x07", "control character"),
    ("first", "tab\there", "control character"),
])
def test_a_bad_value_names_its_field(key: str, value: str, says: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_template_data({**GOOD, key: value})
    assert caught.value.field == f"data.{key}.value"
    assert str(caught.value).startswith(f"data.{key}.value: ")
    assert says in str(caught.value)


def test_subscribe_amount_allows_fewer_digits_than_template() -> None:
    eleven = {"amount1": "¥12345678901"}
    check_template_data(eleven)  # 12 digits in the template table
    with pytest.raises(FieldError, match=r"11 digits, at most 10"):
        check_subscribe_data(eleven)


def test_non_string_values_are_refused() -> None:
    with pytest.raises(FieldError, match=r"data\.number1\.value: must be a string, not int"):
        check_template_data({"number1": 5})  # type: ignore[dict-item]


# -- menus -----------------------------------------------------------------------------------

def leaf(name: str, key: str = "K") -> dict[str, Any]:
    return {"type": "click", "name": name, "key": key}


def menu_of(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"button": list(buttons)}


def test_a_good_menu_passes() -> None:
    check_menu(menu_of(
        leaf("我要反映"),
        {"name": "更多", "sub_button": [
            {"type": "view", "name": "官网", "url": "https://example.org/"},
            {"type": "miniprogram", "name": "小程序", "url": "https://example.org/",
             "appid": "wx286b93c14bbf93aa", "pagepath": "pages/index"},
            {"type": "article_id", "name": "公告", "article_id": "ART1"},
            leaf("一二三四五六七八九十一二三四五六七八九十", "HELP"),  # 60 bytes
            {"type": "location_select", "name": "位置", "key": "LOC", "sub_button": []},
        ]},
        {**leaf("帮助"), "sub_button": []},  # menu/get's shape for a leaf
    ))


def sub_menu(*subs: dict[str, Any]) -> dict[str, Any]:
    return menu_of(leaf("一"), {"name": "更多", "sub_button": list(subs)})


@pytest.mark.parametrize(("menu", "message"), [
    ({}, "button: is missing"),
    (menu_of(), "button: 0 buttons, 1 to 3 allowed"),
    (menu_of(*(leaf(str(i)) for i in range(4))), "button: 4 buttons, 1 to 3 allowed"),
    (menu_of(leaf("一二三四五六")), "button[0].name: 18 bytes, at most 16"),
    (sub_menu(leaf("一" * 24)), "button[1].sub_button[0].name: 72 bytes, at most 60"),
    (sub_menu(leaf("a"), leaf("b"),
              {"type": "view", "name": "c", "url": "https://e/" + "x" * 1015}),
     "button[1].sub_button[2].url: 1025 bytes, at most 1024"),
    (sub_menu(*(leaf(str(i)) for i in range(6))),
     "button[1].sub_button: 6 buttons, 1 to 5 allowed"),
    (sub_menu(), "button[1].sub_button: 0 buttons, 1 to 5 allowed"),
    (menu_of(leaf("一", "K" * 129)), "button[0].key: 129 bytes, at most 128"),
    (menu_of({"type": "view", "name": "官网"}), "button[0].url: is missing"),
    (menu_of({"type": "click", "name": "a"}), "button[0].key: is missing"),
    (menu_of({"type": "clik", "name": "a", "key": "K"}), "button[0].type: 'clik' is not"),
    (menu_of({"name": "a"}), "button[0].type: is missing"),
    (menu_of({"type": "click", "key": "K"}), "button[0].name: is missing"),
    (menu_of({**leaf("a"), "name": " "}), "button[0].name: is empty"),
    (menu_of({**leaf("a"), "colour": "red"}), "button[0].colour: is not a button field"),
    (menu_of({**leaf("a"), "sub_button": [leaf("b")]}),
     "button[0].type: a button with sub_button has no type"),
    (sub_menu({**leaf("b"), "sub_button": [leaf("c")]}),
     "button[1].sub_button[0].sub_button: only top-level buttons have sub buttons"),
    (menu_of({"type": "miniprogram", "name": "a", "url": "https://e/", "appid": "wx1"}),
     "button[0].pagepath: is missing"),
    ({"button": [leaf("a")], "matchrule": {}}, "matchrule: is not a menu field"),
    ({"button": "a"}, "button: must be a list"),
])
def test_a_bad_menu_names_the_button(menu: dict[str, Any], message: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_menu(menu)
    assert str(caught.value).startswith(message)


# -- media -----------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [PNG, JPEG, GIF])
def test_images_by_magic_bytes(content: bytes) -> None:
    check_media("image", content)


@pytest.mark.parametrize(("kind", "content", "message"), [
    ("image", b"BM" + b"\0" * 64, "media: not PNG, JPEG or GIF"),
    ("image", b"", "media: is empty"),
    ("image", PNG + b"\0" * (2 * 1024 * 1024),
     "media: 2,097,224 bytes, at most 2,097,152 (2 MB) for image"),
    ("thumb", PNG, "media: not JPEG"),
    ("thumb", JPEG + b"\0" * 64 * 1024, "media: 65,604 bytes, at most 65,536 (64 KB) for thumb"),
    ("voice", JPEG, "media: not AMR or MP3"),
    ("video", JPEG, "media: not MP4"),
    ("audio", JPEG, "type: 'audio' is not image"),
])
def test_bad_media_is_refused(kind: str, content: bytes, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        check_media(kind, content)
    assert str(caught.value).startswith(message)


def test_voice_and_video_formats_pass() -> None:
    check_media("voice", b"#!AMR\n" + b"\0" * 10)
    check_media("voice", b"ID3" + b"\0" * 10)
    check_media("video", b"\0\0\0\x18ftypmp42" + b"\0" * 10)
