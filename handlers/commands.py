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
from domain.vocabulary import command_form, named, words
from flows.engine import GREETING, HELP

COMPLAINT_WORDS = words("services", "complaint")
MY_TICKETS_WORDS = words("services", "my_tickets")
LEGAL_WORDS = words("services", "legal")

UNPUBLISH_WORD = "撤回公开"
WITHDRAW_WORD = "撤回"


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
    not "撤回了我家的低保…", which may be a complaint's description). The words are the
    vocabulary's (domain/vocabulary.toml), compared in command form ("投诉！", "我要反应")."""
    plain = narrow(text).strip()
    word = command_form(plain)
    if word in COMPLAINT_WORDS or named("kinds", word, form=word) is not None:
        return Service.COMPLAINT
    if word in MY_TICKETS_WORDS:
        return Service.MY_TICKETS
    if word in LEGAL_WORDS:
        return Service.LEGAL
    if word in HELP:
        return Service.HELP
    if _UNPUBLISH.fullmatch(plain):
        return Service.UNPUBLISH
    if _WITHDRAW.fullmatch(plain):
        return Service.WITHDRAW
    if _TICKET.fullmatch(plain):
        return Service.TICKET
    return None


def kind_of(text: str) -> str | None:
    """The kind of message a request for the complaint form names ("我要投诉" → 投诉,
    "举报！" → 投诉), if it names one."""
    return named("kinds", text)


def is_greeting(text: str) -> bool:
    """"你好", "在吗？", "Hello!": a greeting and nothing else."""
    return command_form(narrow(text)) in GREETING


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
