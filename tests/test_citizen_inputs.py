"""What citizens actually send (issue 15): every input of tests/data/citizen_inputs.toml
is sent at its step of a fresh conversation, as text or as a transcribed voice message,
and what the bot understood is read back from the conversation or the reply. Not one
reply says "没有看懂"."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messages import Inbound
from flows.consultation import ConsultationFlow
from storage import db
from tests.citizens import fresh_tickets
from tests.test_citizen_desk import FILL, Session

INPUTS: list[dict[str, Any]] = tomllib.loads(
    (Path(__file__).parent / "data" / "citizen_inputs.toml").read_text(encoding="utf-8"))["input"]
# how many answers of FILL bring a new form to each question
REACHED = {"kind": 1, "category": 2, "region": 3, "description": 4, "photos": 5, "phone": 6,
           "public": 7, "confirm": 8, "command": 2}
NUMBER = re.compile(r"LX\d{8}-\d{6}")
NOT_UNDERSTOOD = ("没有看懂", "请再试一次")


@pytest.fixture(scope="module")
def inputs_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('inputs') / 'inputs.db'}"
    db.upgrade(url)
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(inputs_url: str) -> AsyncIterator[AsyncEngine]:
    opened = db.make_engine(inputs_url)
    await fresh_tickets(opened)
    yield opened
    await opened.dispose()


def test_the_table_is_big_and_covers_every_step() -> None:
    assert len(INPUTS) >= 150
    assert {entry["at"] for entry in INPUTS} == {*REACHED, "idle", "listed", "withdraw_asked"}
    assert sum(bool(entry.get("voice")) for entry in INPUTS) >= 15
    texts = [(entry["at"], entry["text"], bool(entry.get("voice"))) for entry in INPUTS]
    assert len(set(texts)) == len(texts), "an input twice"


@pytest.mark.asyncio(loop_scope="module")  # the module's database, one conversation each
@pytest.mark.parametrize("entry", INPUTS, ids=lambda e: f"{e['at']}:{e['text']}"
                         + (":voice" if e.get("voice") else ""))
async def test_what_a_citizen_sends_is_understood(engine: AsyncEngine,
                                                  entry: dict[str, Any]) -> None:
    session = Session(engine, f"o{abs(hash((entry['at'], entry['text'], entry.get('voice'))))}")
    at = entry["at"]
    number = ""
    if at in REACHED:
        await session.fill(REACHED[at])
    elif at in ("listed", "withdraw_asked"):
        await session.fill()
        [receipt] = await session.say("确认")
        found = NUMBER.search(receipt)
        assert found is not None, receipt
        number = found.group()
        if at == "listed":
            assert number in (await session.say("我的留言"))[0]
        else:
            assert "确定撤回" in (await session.say(f"撤回 {number}"))[0]
    before = session.load()
    if entry.get("voice"):
        replies = await session.send("voice", {"media_id": "v1", "format": "amr",
                                               "recognition": entry["text"]})
    else:
        replies = await session.say(entry["text"])
    reply = "\n".join(replies)
    assert reply and not any(word in reply for word in NOT_UNDERSTOOD), reply
    after = session.load()
    answers = after.data.get("answers", {})
    if at == "idle":
        _check_service(entry, reply, after.flow, answers)
    elif at == "photos":
        assert after.step == "phone", reply
    elif at == "confirm":
        assert after.flow is None and NUMBER.search(reply) and "已提交" in reply, reply
    elif at == "command":
        _check_command(entry["command"], reply, before.step, after.flow, after.step, answers)
    elif at == "listed":
        assert number in reply and "办理记录" in reply, reply
    elif at == "withdraw_asked":
        assert ("已撤回" in reply) is entry["withdrawn"], reply
        assert ("没有撤回" in reply) is not entry["withdrawn"], reply
    else:
        _check_answer(entry, at, answers, reply)


def _check_answer(entry: dict[str, Any], at: str, answers: dict[str, Any], reply: str) -> None:
    assert at in answers, reply
    value = answers[at]
    expected = entry[at]
    if at == "category":
        value = value["name"]
    elif at == "region":
        value = (value or {}).get("name") or ""
    assert value == expected, reply


def _check_service(entry: dict[str, Any], reply: str, flow: str | None,
                   answers: dict[str, Any]) -> None:
    service = entry["service"]
    if service == "complaint":
        assert flow == "complaint", reply
        assert answers.get("kind") == entry.get("kind"), reply
        assert answers.get("description") == entry.get("description"), reply
        return
    assert flow is None, reply
    expected = {"my_tickets": "您还没有提交过留言", "legal": "暂未开通法律咨询",
                "help": "使用说明", "greeting": "我是连心", "thanks": "不客气",
                "human": "12345热线"}[service]
    assert expected in reply, reply


def _check_command(command: str, reply: str, step_before: str | None, flow: str | None,
                   step: str | None, answers: dict[str, Any]) -> None:
    assert step_before == "category"
    if command == "cancel":
        assert flow is None and "已取消" in reply, reply
    elif command == "back":
        assert step == "kind" and "kind" in answers, reply
    elif command == "help":
        assert step == "category" and "填写过程中可以回复" in reply, reply
    elif command == "restart":
        assert step == "kind" and "kind" not in answers, reply
    else:
        assert step == "category" and "您正在填写" in reply, reply


# -- every word of domain/vocabulary.toml, sent where it means something -------------------

def _vocabulary_cases() -> list[tuple[str, str, str]]:
    """(table.name, word, where) for every word of the vocabulary file, as written there."""
    raw = tomllib.loads((Path(__file__).resolve().parents[1] / "domain" / "vocabulary.toml")
                        .read_text(encoding="utf-8"))
    return [(f"{table}.{name}", str(word), table)
            for table in ("commands", "services", "kinds", "complaint", "consultation")
            for name, listed in raw[table].items() for word in listed
            # an open consultation's words: tests/test_consultation_e2e.py, with a lawyer
            if (table, name) not in CONSULTATION_E2E]


CONSULTATION_E2E = {("consultation", n)
                    for n in ("queue", "cancel", "mine", "help", "no_photos")}


VOCABULARY = _vocabulary_cases()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("meaning", "word", "table"), VOCABULARY,
                         ids=[f"{m}:{w}" for m, w, _ in VOCABULARY])
async def test_every_word_of_the_vocabulary_means_what_it_says(
    engine: AsyncEngine, meaning: str, word: str, table: str,
) -> None:
    session = Session(engine, f"w{abs(hash((meaning, word)))}")
    group, name = meaning.split(".")
    if group == "commands":
        await _command_word(engine, session, name, word)
    elif group == "services":
        [reply] = await session.say(word)
        if name == "complaint":
            assert session.load().flow == "complaint", reply
        else:
            assert {"my_tickets": "您还没有提交过留言", "legal": "暂未开通法律咨询"}[name] in reply
    elif group == "kinds":
        await session.say(word)  # outside a form: the form, its kind given
        assert session.load().data["answers"]["kind"] == name
        other = Session(engine, f"k{abs(hash((meaning, word)))}")
        await other.fill(1)  # at the form's first question: its answer
        await other.say(word)
        assert other.load().data["answers"]["kind"] == name
    elif group == "complaint":
        await _complaint_word(session, name, word)
    else:
        assert (group, name) == ("consultation", "no_name")
        # the legal form's name question: its parser (it reads nothing of the flow)
        parser = object.__new__(ConsultationFlow)
        name_given = parser._name(Inbound("default", "o", "text", {"content": word}), {})
        assert name_given is None


async def _command_word(engine: AsyncEngine, session: Session, name: str, word: str) -> None:
    if name in ("cancel", "back", "help", "restart", "greeting", "thanks"):
        await session.fill(2)  # at the category
        [reply] = await session.say(word)
        after = session.load()
        answers = after.data.get("answers", {})
        command = "greeting" if name == "thanks" else name
        _check_command(command, reply, "category", after.flow, after.step, answers)
        if name in ("greeting", "thanks"):  # outside a form too
            idle = Session(engine, session.user + "i")
            [said] = await idle.say(word)
            assert ("我是连心" if name == "greeting" else "不客气") in said, said
    elif name in ("skip", "done"):
        await session.fill(5)  # at the photos
        await session.say(word)
        assert session.load().step == "phone"
    elif name == "clear":
        await session.fill(5)
        await session.send("image", {"media_id": "m1"})
        assert "已清空" in (await session.say(word))[0]
        assert session.load().data["answers"]["photos"] == []
    elif name == "confirm":
        await session.fill()
        [reply] = await session.say(word)
        assert NUMBER.search(reply) and session.load().flow is None, reply
    elif name in ("resume", "discard"):
        await session.fill(3)
        session.clock.now += 3600
        assert "还没有填完" in (await session.say("在吗"))[0]
        await session.say(word)
        after = session.load()
        if name == "resume":
            assert after.step == "region"
        else:
            assert after.flow is None
    elif name == "open":  # "查询 1" after 我的留言: its first ticket
        await session.fill()
        [receipt] = await session.say("确认")
        found = NUMBER.search(receipt)
        assert found is not None
        await session.say("我的留言")
        [reply] = await session.say(f"{word} 1")
        assert found.group() in reply and "办理记录" in reply, reply
    else:
        assert name == "human"
        assert "12345热线" in (await session.say(word))[0]


async def _complaint_word(session: Session, name: str, word: str) -> None:
    if name == "region_unknown":
        await session.fill(3)
        await session.say(word)
        assert session.load().data["answers"]["region"] is None
    elif name == "no_photos":
        await session.fill(5)
        await session.say(word)
        assert session.load().step == "phone"
    elif name in ("public_yes", "public_no"):
        await session.fill(7)
        await session.say(word)
        assert session.load().data["answers"]["public"] is (name == "public_yes")
    elif name == "anonymous":
        await session.says("我要反映", "3", *FILL[2:6])  # a 咨询: no phone needed
        await session.say(word)
        answers = session.load().data["answers"]
        assert "phone" in answers and answers["phone"] is None
    elif name == "use_last":
        await session.fill()
        await session.say("确认")
        await session.says("我要反映", *FILL[1:6])  # a second one: the last number offered
        await session.say(word)
        assert session.load().data["answers"]["phone"] == FILL[6]
    elif name in ("move_number", "keep_number"):
        await session.fill(4)
        written = "物业电话13912345678一直没人接，楼道灯坏了"
        assert "电话号码或身份证号" in (await session.say(written))[0]
        await session.say(word)
        answers = session.load().data["answers"]
        if name == "move_number":
            assert "13912345678" not in answers["description"]
            # out of the description, and offered at the phone question
            assert "phone" not in answers and session.load().step == "photos"
            [offer] = await session.say("跳过")
            assert "139****5678" in offer and session.load().step == "phone", offer
        else:
            assert answers["description"] == written
    else:
        assert name in ("yes", "no")
        await session.fill()
        [receipt] = await session.say("确认")
        found = NUMBER.search(receipt)
        assert found is not None
        await session.say(f"撤回 {found.group()}")
        [reply] = await session.say(word)
        assert ("已撤回" if name == "yes" else "没有撤回") in reply, reply


def test_fill_still_reaches_the_summary() -> None:
    """The table's steps are reached by FILL's answers, in this order."""
    assert len(FILL) == REACHED["confirm"]
