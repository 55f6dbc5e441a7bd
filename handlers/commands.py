"""The words a citizen types to ask for a service, and the menu keys that do the same.

A command is a whole message ("撤回 LX…"), not the start of one ("撤回了我家的低保…",
which may be a complaint's description). Routers filter on what :func:`service_of` says.
"""

from __future__ import annotations

import re
from dataclasses import replace
from enum import StrEnum

from domain.messages import Inbound, Scalar
from domain.tickets import NUMBER, SHORT_NUMBER, narrow
from flows.engine import HELP

COMPLAINT_WORDS = frozenset({"我要反映", "投诉", "留言", "我要投诉", "我要留言", "反映问题"})
MY_TICKETS_WORDS = frozenset({"我的留言", "查询", "查询进度", "进度", "我的投诉"})
LEGAL_WORDS = frozenset({"法律咨询", "咨询律师", "律师"})
WITHDRAW_WORD = "撤回"
UNPUBLISH_WORD = "撤回公开"
# a message that only says hello (compared lower-cased, trailing punctuation aside)
GREETINGS = frozenset({
    "你好", "您好", "你们好", "您们好", "大家好", "你好啊", "你好呀", "您好啊", "您好呀",
    "在吗", "在么", "在嘛", "在不在", "有人吗", "有人在吗", "哈喽", "哈啰", "嗨", "嗨喽",
    "hi", "hello", "hey", "早", "早上好", "上午好", "中午好", "下午好", "晚上好",
})
_TRAILING = re.compile(r"[\s!！。.,，、~～?？…]+$")


class Service(StrEnum):
    COMPLAINT = "complaint"
    MY_TICKETS = "my_tickets"
    TICKET = "ticket"  # one ticket's timeline
    WITHDRAW = "withdraw"
    UNPUBLISH = "unpublish"  # 撤回公开: off the public board
    LEGAL = "legal"
    HELP = "help"


# a full number, or after 查询/撤回 its last six digits ("查询 000001")
_WITHDRAW = re.compile(rf"{WITHDRAW_WORD}\s*(?:{NUMBER.pattern}|{SHORT_NUMBER.pattern})?",
                       re.IGNORECASE)
_UNPUBLISH = re.compile(
    rf"{UNPUBLISH_WORD}\s*(?:{NUMBER.pattern}|{SHORT_NUMBER.pattern})?", re.IGNORECASE)
_TICKET = re.compile(rf"(?:查询|进度)?\s*{NUMBER.pattern}|(?:查询|进度)\s*{SHORT_NUMBER.pattern}",
                     re.IGNORECASE)


def service_of(text: str) -> Service | None:
    """The service a whole message asks for, if it is nothing but a command ("撤回 LX…",
    not "撤回了我家的低保…", which may be a complaint's description)."""
    plain = narrow(text).strip()
    if plain in COMPLAINT_WORDS:
        return Service.COMPLAINT
    if plain in MY_TICKETS_WORDS:
        return Service.MY_TICKETS
    if plain in LEGAL_WORDS:
        return Service.LEGAL
    if plain.lower() in HELP:
        return Service.HELP
    if _UNPUBLISH.fullmatch(plain):
        return Service.UNPUBLISH
    if _WITHDRAW.fullmatch(plain):
        return Service.WITHDRAW
    if _TICKET.fullmatch(plain):
        return Service.TICKET
    return None


def is_greeting(text: str) -> bool:
    """"你好", "在吗？", "Hello!": a greeting and nothing else."""
    return _TRAILING.sub("", narrow(text).strip().lower()) in GREETINGS


VOICE = "voice_media_id"  # a transcribed voice message's text payload keeps its media id


def with_recognition(inbound: Inbound) -> Inbound:
    """A voice message the platform transcribed reads as the text it says (the voice
    itself stays at hand, ``payload[VOICE]``: a lawyer hears it, not only its text)."""
    recognition = inbound.payload.get("recognition")
    if inbound.kind == "voice" and isinstance(recognition, str) and recognition.strip():
        text = recognition.strip().rstrip("。.!！")
        media_id = inbound.payload.get("media_id")
        payload: dict[str, Scalar] = {"content": text}
        if isinstance(media_id, str) and media_id:
            payload[VOICE] = media_id
        return replace(inbound, kind="text", payload=payload)
    return inbound
