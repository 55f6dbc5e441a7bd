"""Choices as citizens write them (issue 15): every entry of domain/vocabulary.toml has a
case here, and what must not be read as a choice stays unread."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.app import create_app
from domain.vocabulary import choice_number, command_form, vocabulary, words
from storage import db
from storage.models import Ticket
from tests.citizens import LAMP, Citizen, fresh_tickets
from tests.conftest import SettingsFactory
from tests.test_consultations_store import fresh_consultations


@pytest.mark.parametrize(("text", "number"), [
    ("2", 2), ("２", 2), (" 3 ", 3), ("12", 12),
    ("1、", 1), ("1.", 1), ("2。", 2), ("3！", 3), ("4？", 4), ("5~", 5), ("1，", 1),
    ("一", 1), ("二", 2), ("两", 2), ("幺", 1), ("三", 3), ("四", 4), ("五", 5), ("六", 6),
    ("七", 7), ("八", 8), ("九", 9), ("十", 10), ("十一", 11), ("十二", 12), ("二十", 20),
    ("壹", 1), ("贰", 2), ("叁", 3), ("肆", 4), ("伍", 5), ("陆", 6), ("柒", 7),
    ("捌", 8), ("玖", 9), ("拾", 10),
    ("第一个", 1), ("第二个", 2), ("第3个", 3), ("第二项", 2), ("第一种", 1),
    ("第二条", 2), ("第一类", 1),
    ("选1", 1), ("我选2", 2), ("就选3", 3), ("选择4", 4), ("我选择5", 5), ("要2", 2),
    ("1吧", 1), ("2啊", 2), ("3呀", 3), ("4哦", 4), ("5呢", 5), ("6嘛", 6),
    ("第一个谢谢", 1), ("2谢谢你", 2), ("3谢谢您", 3), ("选2，谢谢", 2), ("1麻烦了", 1),
    ("2麻烦你", 2), ("1好的", 1), ("3就这个", 3), ("第二个吧。", 2), ("选一吧", 1),
    ("①", 1), ("1吧｡", 1), ("第一个吧､", 1), ("２吧﹗", 2), ("3呀﹖", 3),  # other forms
])
def test_a_choice_as_citizens_write_it(text: str, number: int) -> None:
    assert choice_number(text) == number


@pytest.mark.parametrize("text", [
    "", "吧", "谢谢", "第", "选", "个", "123", "一二三", "十十", "零", "〇", "二十一",
    "13800138000", "2号", "我要投诉", "第一次来", "选什么", "一直没人管", "五楼漏水", "1楼",
])
def test_what_is_no_choice(text: str) -> None:
    number = choice_number(text)
    assert number is None or number == 0, text  # 零 alone is 0: no list has it


def test_every_word_of_the_file_is_read() -> None:
    words = vocabulary()
    for before in words.before:
        assert choice_number(f"{before}2") == 2, before
    for after in words.after:
        assert choice_number(f"2{after}") == 2, after
    for polite in words.polite:
        assert choice_number(f"2{polite}") == 2, polite
    for mark in words.punctuation.strip():
        assert choice_number(f"2{mark}") == 2, mark
    for numeral, value in words.numerals.items():
        assert choice_number(numeral) == value, numeral


async def test_a_complaint_answered_in_numerals_and_words_is_filed(
    aiohttp_client: Any, make_settings: SettingsFactory, sqlite_url: str,
) -> None:
    """一 for the kind, 第一个 for the category, 选二吧 for the town (东城街道), 一 for 公开:
    filed, with no question asked twice."""
    engine = db.make_engine(sqlite_url)
    try:
        await fresh_tickets(engine)
        client = await aiohttp_client(create_app(make_settings(catalogue_ttl=0)))
        citizen = Citizen(client, "oElder")
        replies = [await citizen.say(text) for text in (
            "我要反映", "一", "第一个", "选二吧", LAMP, "跳过", "13800138000", "一。")]
        assert not [r for r in replies if "请回复序号或选项文字" in r or "没有看懂" in r]
        assert "请核对" in replies[-1] and "投诉" in replies[-1] and "东城街道" in replies[-1]
        assert "编号：" in await citizen.say("确认")
    finally:
        await engine.dispose()


async def test_the_elderly_citizen_of_issue_15_files_without_one_not_understood(
    aiohttp_client: Any, make_settings: SettingsFactory, sqlite_url: str,
) -> None:
    """Issue 15's "done when": 我要投诉。, 一 and 第二个, the description by voice, 没有照片,
    the phone in Chinese numerals, 确认。 — a ticket, no "没有看懂", and no text promising
    what is off (no lawyer serves here, so none is offered)."""
    engine = db.make_engine(sqlite_url)
    try:
        await fresh_tickets(engine)
        await fresh_consultations(engine)  # no lawyer: the legal service is off
        client = await aiohttp_client(create_app(make_settings(catalogue_ttl=0)))
        citizen = Citizen(client, "oGrandpa")
        replies = [await citizen.say("你好")]
        replies += [await citizen.say(text) for text in ("我要投诉。", "一", "第二个")]
        replies.append(await citizen.voice("楼上邻居家漏水三个月了，物业一直不管。"))
        replies += [await citizen.say(text) for text in (
            "没有照片", "一三八 〇〇一三 八〇〇〇", "不公开")]
        summary = replies[-1]
        replies.append(await citizen.say("确认。"))
        assert not [r for r in replies if "没有看懂" in r or "请再试一次" in r], replies
        assert not [r for r in replies if "律师" in r or "法律咨询" in r], replies
        assert "类型：投诉" in summary and "楼上邻居家漏水三个月了，物业一直不管" in summary
        assert "138****8000" in summary or "13800138000" in summary
        assert "编号：LX" in replies[-1]
        async with engine.connect() as conn:
            row = (await conn.execute(select(Ticket.kind, Ticket.phone, Ticket.category,
                                             Ticket.description))).one()
        assert row == ("投诉", "13800138000", "zfjs", "楼上邻居家漏水三个月了，物业一直不管")
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("text", "form"), [
    ("确认。", "确认"), ("投诉！", "投诉"), ("取消吧", "取消"), (" 帮助？", "帮助"),
    ("ＨＥＬＰ", "help"), ("　确认　", "确认"), ("第一个谢谢", "第一个"), ("谢谢", "谢谢"),
    ("？", "?"),
    ("确认" + "！" * 40, "确认"),  # a long message that is a command once unpadded
    ("　" * 30 + "确认" + "。" * 30, "确认"),
])
def test_the_command_form_of_a_message(text: str, form: str) -> None:
    assert command_form(text) == form


def test_a_sentence_is_no_command_however_it_ends() -> None:
    sentence = "您好，我想反映一下小区夜间施工噪音扰民的问题，请问应该怎么办理？确认"
    assert all(command_form(sentence) not in words("commands", name)
               for name in ("confirm", "cancel", "help"))
