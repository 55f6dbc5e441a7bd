"""The satisfaction survey end to end, on SQLite and PostgreSQL: a citizen files in chat,
the department works the ticket through the staff API and closes it, the citizen is asked
to rate it (a push in the closing's transaction) and answers in chat — at once, days
later, in the middle of a form, for the older of two open surveys, or never; a low rating
leads to 不满意重办, which the department answers and closes again, and which is rated
again; 问题是否仍已解决 weeks later. The parsers alone: tests/test_survey_answers.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.survey import Step
from domain.tickets import Status
from domain.workdays import deadline, today_in_china
from scheduler import jobs
from storage.models import Push, Survey, TicketEvent
from storage.tickets import Tickets
from tests.citizens import Citizen, demo_catalogue, file_complaint, ticket_number_in
from tests.test_jobs import CALENDAR, tools
from tests.test_staff_api import Client, bearer, world  # noqa: F401 - the fixture

World = tuple[Client, AsyncEngine, dict[str, str]]


async def work(client: Client, tokens: dict[str, str], number: str, *,
               sign: bool = True, answer: str = "路灯已修复") -> int:
    """zhang (住建局) signs for the ticket (unless it is reopened), answers and closes it;
    its id."""
    headers = bearer(tokens["zhang"])
    found = await (await client.get(f"/api/v1/tickets?q={number}", headers=headers)).json()
    ticket = found["tickets"][0]
    steps = [("sign", {}), ("answer", {"text": answer}), ("close", {})]
    for action, body in steps if sign else steps[1:]:
        done = await client.post(f"/api/v1/tickets/{ticket['id']}/{action}",
                                 json={"version": ticket["version"], **body}, headers=headers)
        assert done.status == 200, await done.text()
        ticket = (await done.json())["ticket"]
    return int(ticket["id"])


RECHECK_AFTER = timedelta(days=28)


async def closed(rig: World) -> tuple[Citizen, str, int]:
    """oCitizen files a complaint and zhang closes it: the citizen, its number and id."""
    client, _, tokens = rig
    citizen = Citizen(client, "oCitizen")
    number = ticket_number_in(await file_complaint(citizen))
    return citizen, number, await work(client, tokens, number)


async def rated_then_asked_again(rig: World) -> tuple[Citizen, str, int]:
    """A complaint the citizen files, zhang closes, the citizen rates 5 without a
    comment, and, 29 days on, is asked whether it is still solved; its number and id."""
    _, engine, _ = rig
    citizen, number, ticket_id = await closed(rig)
    await citizen.say("5")
    await citizen.say("跳过")
    later = datetime.now(UTC) + timedelta(days=29)
    assert await jobs.surveys(later, tools(engine, recheck_after=RECHECK_AFTER)) == 1
    return citizen, number, ticket_id


async def survey_pushes(engine: AsyncEngine, openid: str) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(select(Push.text).where(
            Push.openid == openid, Push.purpose == "survey").order_by(Push.id))).all())


async def status_of(engine: AsyncEngine, ticket_id: int) -> Status:
    ticket = await Tickets(engine).get(ticket_id)
    assert ticket is not None
    return ticket.status


async def surveys_of(engine: AsyncEngine, ticket_id: int) -> list[tuple[str, int, str, int | None,
                                                                      str | None, bool | None]]:
    async with engine.connect() as conn:
        return [(r.kind, r.round, r.step, r.rating, r.comment, r.redo) for r in (
            await conn.execute(select(Survey).where(Survey.ticket_id == ticket_id)
                               .order_by(Survey.id))).all()]


async def test_closing_asks_for_a_rating_which_is_taken_with_a_comment(world: World) -> None:  # noqa: F811
    engine = world[1]
    citizen, number, ticket_id = await closed(world)
    [question] = await survey_pushes(engine, "oCitizen")
    short = number[-6:]
    assert question.startswith(f"您的留言{number}已办结。请您评价办理结果")
    assert f"如“{short} 5”" in question
    assert await citizen.say("5") == (
        f"感谢您对留言{number}的评价：满意。如有意见或建议，请直接回复；没有请回复“跳过”。")
    assert await citizen.say("师傅很负责，谢谢") == "您的意见已记录，感谢您的反馈。"
    assert await status_of(engine, ticket_id) is Status.RATED
    assert await surveys_of(engine, ticket_id) == [
        ("rating", 1, "done", 5, "师傅很负责，谢谢", None)]
    # the survey is over: a "5" now is no rating (the desk answers it)
    assert "感谢您对留言" not in await citizen.say("5")
    assert await citizen.say("评价 5") == "您目前没有待评价的留言。"


async def test_a_low_rating_leads_to_a_redo_that_is_closed_and_rated_again(
    world: World,  # noqa: F811
) -> None:
    client, engine, tokens = world
    citizen, number, ticket_id = await closed(world)
    assert "不满意" in await citizen.say("不满意")
    said = await citizen.say("路灯修了两天又不亮了")
    assert said == ("您的意见已记录，感谢您的反馈。\n很抱歉办理结果未让您满意。需要重新办理吗？"
                    f"回复“重办 {number[-6:]}”申请重新办理，回复“不用”结束。")
    due = deadline(today_in_china(), demo_catalogue().deadlines["投诉"], CALENDAR).day
    redo = await citizen.say("是")
    assert redo.startswith(f"已为您申请重新办理留言{number}，仍由县住房和城乡建设局办理，预计")
    after = await Tickets(engine).get(ticket_id)
    assert after is not None and after.status is Status.REOPENED and after.due_on == due
    # the department and the office are told, with the citizen's comment
    office = await (await client.get("/api/v1/notifications",
                                     headers=bearer(tokens["wang"]))).json()
    assert office["notifications"][0]["kind"] == "reopened"
    assert "路灯修了两天又不亮了" in office["notifications"][0]["text"]
    mine = await (await client.get("/api/v1/notifications",
                                   headers=bearer(tokens["zhang"]))).json()
    assert mine["notifications"][0]["kind"] == "reopened"
    # the department answers again without signing again, closes: a second survey
    await work(client, tokens, number, sign=False, answer="已更换灯杆线路")
    assert len(await survey_pushes(engine, "oCitizen")) == 2
    assert "基本满意" in await citizen.say("4")
    await citizen.say("跳过")
    assert await status_of(engine, ticket_id) is Status.RATED
    assert await surveys_of(engine, ticket_id) == [
        ("rating", 1, "done", 2, "路灯修了两天又不亮了", True),
        ("rating", 2, "done", 4, None, None)]
    async with engine.connect() as conn:
        actions = (await conn.scalars(select(TicketEvent.action).where(
            TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))).all()
    assert actions[2:] == ["sign", "answer", "close", "rate", "reopen", "answer", "close",
                           "rate"]


async def test_a_redo_may_be_declined(world: World) -> None:  # noqa: F811
    engine = world[1]
    citizen, number, ticket_id = await closed(world)
    await citizen.say("1")
    assert "需要重新办理吗" in await citizen.say("跳过")
    assert await citizen.say("不用") == f"好的，留言{number}不再重新办理。感谢您的反馈。"
    assert await status_of(engine, ticket_id) is Status.RATED
    assert (await surveys_of(engine, ticket_id))[0][2:] == ("done", 1, None, False)


async def test_a_rating_days_later_and_in_the_middle_of_a_form(world: World) -> None:  # noqa: F811
    engine = world[1]
    citizen, number, ticket_id = await closed(world)
    async with engine.begin() as conn:  # asked six days ago
        await conn.execute(update(Survey).values(
            asked_at=datetime.now(UTC) - timedelta(days=6)))
    await citizen.says("我要反映", "1")  # in the complaint form, at the category
    # a bare digit answers the form's question, not the survey
    assert "感谢您对留言" not in await citizen.say("4")
    assert await status_of(engine, ticket_id) is Status.CLOSED
    # a rating that names the ticket is the survey's, and the form goes on
    said = await citizen.say(f"{number[-6:]} 3")
    assert said.startswith(f"感谢您对留言{number}的评价：一般。")
    assert "您正在填写" in said or "继续" in said
    assert await status_of(engine, ticket_id) is Status.RATED
    assert (await surveys_of(engine, ticket_id))[0][2:4] == ("done", 3)


async def test_two_open_surveys_stay_apart(world: World) -> None:  # noqa: F811
    client, engine, tokens = world
    citizen = Citizen(client, "oCitizen")
    older = ticket_number_in(await file_complaint(citizen))
    newer = ticket_number_in(await file_complaint(citizen, description="楼道灯也坏了两周了没人修"))
    older_id = await work(client, tokens, older)
    newer_id = await work(client, tokens, newer)
    which = await citizen.say("5")
    assert which.startswith("您有多条留言待评价：") and older in which and newer in which
    rated = await citizen.say(f"{older[-6:]} 2")
    assert rated.startswith(f"感谢您对留言{older}的评价：不满意")
    await citizen.say("跳过")
    await citizen.say("不用")
    assert (await status_of(engine, older_id), await status_of(engine, newer_id)) == (
        Status.RATED, Status.CLOSED)
    # one open survey left: a bare rating is its
    assert (await citizen.say("满意")).startswith(f"感谢您对留言{newer}的评价：满意")


async def test_a_survey_never_answered_lapses_and_the_ticket_stays_unrated(
    world: World,  # noqa: F811
) -> None:
    engine = world[1]
    citizen, number, ticket_id = await closed(world)
    toolset = tools(engine, recheck_after=None)
    assert await jobs.surveys(datetime.now(UTC) + timedelta(days=6), toolset) == 0
    assert await jobs.surveys(datetime.now(UTC) + timedelta(days=8), toolset) == 1
    assert (await surveys_of(engine, ticket_id))[0][2] == Step.EXPIRED.value
    assert await status_of(engine, ticket_id) is Status.CLOSED
    assert await citizen.say(f"评价 {number[-6:]} 5") == "您目前没有待评价的留言。"


async def test_weeks_later_the_citizen_is_asked_whether_it_is_still_solved(
    world: World,  # noqa: F811
) -> None:
    engine = world[1]
    citizen, number, ticket_id = await rated_then_asked_again(world)
    later = datetime.now(UTC) + timedelta(days=29)
    assert await jobs.surveys(later, tools(engine, recheck_after=RECHECK_AFTER)) == 0  # once
    question = (await survey_pushes(engine, "oCitizen"))[-1]
    assert question.startswith(f"您的留言{number}办结有一段时间了，回访一下：问题现在解决了吗？")
    assert "需要重新办理吗" in await citizen.say("没解决")
    assert (await citizen.say("重办")).startswith(f"已为您申请重新办理留言{number}")
    assert await status_of(engine, ticket_id) is Status.REOPENED
    assert [row[:3] for row in await surveys_of(engine, ticket_id)] == [
        ("rating", 1, "done"), ("recheck", 1, "done")]


async def test_redo_asked_for_at_once_after_a_low_rating_and_a_long_comment(
    world: World,  # noqa: F811
) -> None:
    client, engine, tokens = world
    code = (await (await client.post("/api/v1/me/bind-code",
                                     headers=bearer(tokens["zhang"]))).json())["code"]
    await Citizen(client, "oZhangPhone").say(f"绑定 {code}")  # zhang gets pushes
    citizen = Citizen(client, "oCitizen")
    number = ticket_number_in(await file_complaint(citizen))
    ticket_id = await work(client, tokens, number)
    asked = await citizen.say("1")
    assert f"如需重新办理，请回复“重办 {number[-6:]}”" in asked
    assert (await citizen.say(f"重办 {number[-6:]}")).startswith(
        f"已为您申请重新办理留言{number}")
    assert await status_of(engine, ticket_id) is Status.REOPENED
    # the comment mark is gone with the answer: the next text is the desk's, no comment
    thanks = await citizen.say("谢谢")
    assert "您的意见已记录" not in thanks and "评价" not in thanks
    # closed again, rated 2 with a comment far longer than a push: the notices name it
    await work(client, tokens, number, sign=False)
    await citizen.say("2")
    await citizen.say("还是不行" * 150)
    assert (await citizen.say("是")).startswith(f"已为您申请重新办理留言{number}")
    async with engine.connect() as conn:
        notices = (await conn.scalars(select(Push.text).where(
            Push.openid == "oZhangPhone", Push.purpose == "staff_notice")
            .order_by(Push.id))).all()
    assert notices[-1].startswith(f"【重办】工单{number}") and "不…。请于" in notices[-1]
    assert all(len(text.encode()) <= 2048 for text in notices)


async def test_a_long_number_in_a_form_is_the_forms(world: World) -> None:  # noqa: F811
    engine = world[1]
    citizen, number, ticket_id = await closed(world)
    await citizen.says("我要反映", "1", "1", "2", "楼道的灯坏了很久了一直没人来修")
    assert "手机" in await citizen.say("跳过")  # the photo step passed: the phone is asked
    # seven digits are no short number and a rating: the form takes (and refuses) them
    said = await citizen.say(f"{number[-6:]}5")
    assert "评价" not in said and "手机" in said
    # a rating that names no ticket of the citizen's is the form's too
    said = await citizen.say("000999 5")
    assert "评价" not in said and "手机" in said
    assert await status_of(engine, ticket_id) is Status.CLOSED


async def test_staff_cannot_rate_or_reopen_for_the_citizen(world: World) -> None:  # noqa: F811
    client, engine, tokens = world
    number = ticket_number_in(await file_complaint(Citizen(client, "oCitizen")))
    ticket_id = await work(client, tokens, number)
    version = (await Tickets(engine).get(ticket_id)).version  # type: ignore[union-attr]
    for action in ("rate", "reopen"):
        for who in ("zhang", "wang"):
            refused = await client.post(f"/api/v1/tickets/{ticket_id}/{action}",
                                        json={"version": version, "note": "5"},
                                        headers=bearer(tokens[who]))
            assert refused.status == 403, (action, who)
    assert await status_of(engine, ticket_id) is Status.CLOSED


async def test_the_question_just_asked_is_answered_before_another_tickets(
    world: World,  # noqa: F811
) -> None:
    client, engine, tokens = world
    citizen, _, first_id = await rated_then_asked_again(world)
    second = ticket_number_in(await file_complaint(citizen, description="楼道灯也坏了两周了没人修"))
    await work(client, tokens, second)
    assert (await citizen.say(f"{second[-6:]} 5")).startswith(f"感谢您对留言{second}")
    # "没有" answers the comment question just asked, not the first ticket's recheck
    assert await citizen.say("没有") == "好的，感谢您的评价。"  # nothing to record
    assert [row[:3] for row in await surveys_of(engine, first_id)] == [
        ("rating", 1, "done"), ("recheck", 1, "recheck")]


async def test_two_rechecks_are_answered_by_number(world: World) -> None:  # noqa: F811
    client, engine, tokens = world
    citizen = Citizen(client, "oCitizen")
    numbers = [ticket_number_in(await file_complaint(citizen, description=text))
               for text in ("小区门口的路灯坏了一个星期，晚上很黑", "楼道灯也坏了两周了没人修")]
    ids = [await work(client, tokens, number) for number in numbers]
    later = datetime.now(UTC) + timedelta(days=36)
    assert await jobs.surveys(later, tools(engine, recheck_after=timedelta(days=28))) == 4
    which = await citizen.say("未解决")  # which one?
    assert which.startswith("您有多条留言待回复是否已解决") and numbers[1] in which
    assert "需要重新办理吗" in await citizen.say(f"{numbers[0][-6:]} 未解决")
    assert await citizen.say(f"{numbers[1][-6:]}已解决") == "感谢您的回复，很高兴问题已解决。"
    assert [row[2] for row in await surveys_of(engine, ids[0])] == ["expired", "redo"]
    assert [row[2] for row in await surveys_of(engine, ids[1])] == ["expired", "done"]


async def test_a_low_rating_in_a_form_offers_redo_by_number(world: World) -> None:  # noqa: F811
    engine = world[1]
    citizen, number, ticket_id = await closed(world)
    await citizen.says("我要反映", "1")
    said = await citizen.say(f"{number[-6:]} 1")
    assert f"请回复“重办 {number[-6:]}”；不需要请回复“不用 {number[-6:]}”" in said
    declined = await citizen.say(f"不用 {number[-6:]}")
    assert declined.startswith(f"好的，留言{number}不再")
    assert await status_of(engine, ticket_id) is Status.RATED


# -- issue 15: the desk's last question comes before an open survey --------------------------


async def test_a_one_after_the_list_opens_the_ticket_and_leaves_the_survey_open(
    world: World,  # noqa: F811
) -> None:
    """"1" right after 我的留言 means its first ticket, not 很不满意 for the survey that is
    open; a "1" with nothing else asked still rates it."""
    _, engine, _ = world
    citizen, number, ticket_id = await closed(world)
    listing = await citizen.say("我的留言")
    assert "回复序号查看详情" in listing
    detail = await citizen.say("1")
    assert f"留言{number}" in detail and "办理记录" in detail
    assert all(survey[3] is None for survey in await surveys_of(engine, ticket_id))
    assert "很不满意" in await citizen.say("1")  # now the survey's: asked before
    assert any(survey[3] == 1 for survey in await surveys_of(engine, ticket_id))


async def test_yes_to_withdraw_is_not_a_survey_answer(world: World) -> None:  # noqa: F811
    """撤回 LX…'s 是 withdraws that ticket: it is no answer to a survey's question about
    another (a redo offered), and a later 是 withdraws nothing."""
    _, engine, _ = world
    citizen, _, rated_id = await closed(world)
    await citizen.say("1")  # 很不满意: the survey asks why, then offers 重办
    second = ticket_number_in(await file_complaint(citizen))
    assert "确定撤回" in await citizen.say(f"撤回 {second}")
    assert "已撤回" in await citizen.say("是")
    assert await status_of(engine, rated_id) is Status.RATED  # no redo asked for
    assert "已撤回" not in await citizen.say("是")


@pytest.mark.parametrize(("before", "rating", "said"), [("我的留言", "4", "基本满意"),
                                                         ("你好", "1", "很不满意")])
async def test_the_survey_menu_after_a_list_takes_the_rating(
    world: World, before: str, rating: str, said: str,  # noqa: F811
) -> None:
    """A list shown, then the 待评价 click asks for the rating: the number after it rates
    the ticket (the list's question was set aside by the click)."""
    _, engine, _ = world
    citizen, number, ticket_id = await closed(world)
    await citizen.say(before)
    await citizen.click("SURVEY")
    reply = await citizen.say(rating)
    assert f"感谢您对留言{number}的评价" in reply and said in reply, reply
    assert any(survey[3] == int(rating) for survey in await surveys_of(engine, ticket_id))
