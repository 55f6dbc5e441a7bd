"""The staff API (bot/staff/api.py) as a client sees it, on SQLite and PostgreSQL: tokens,
a handler confined to its department (another's ticket is 404), the lifecycle's actions
with their pushes, conflicts and refusals as JSON in both languages. Work in progress:
filters, OpenAPI, notifications and the whole lifecycle with the WeChat edge follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import STAFF_APP, create_app
from bot.staff.models import ErrorOut
from domain.display import department_name, format_day
from domain.staff import Role
from domain.workdays import today_in_china
from storage import db
from storage.models import Push
from storage.staff import StaffAccounts
from storage.tickets import Tickets
from tests.citizens import (
    Citizen,
    demo_catalogue,
    file_complaint,
    fresh_staff,
    fresh_tickets,
    ticket_number_in,
)
from tests.conftest import SettingsFactory
from tests.test_dispatcher import TEXTS
from tests.test_tickets_store import new

Client = TestClient[Any, Any]


@pytest.fixture
async def world(aiohttp_client: Callable[..., Awaitable[Client]],
                make_settings: SettingsFactory,
                database_url: str) -> AsyncIterator[tuple[Client, AsyncEngine, dict[str, str]]]:
    engine = db.make_engine(database_url)
    try:
        await fresh_tickets(engine)
        tokens = await fresh_staff(engine, (("zhang", Role.HANDLER, "zjj"),
                                            ("lisi", Role.HANDLER, "gaj"),
                                            ("wang", Role.SUPERVISOR, None),
                                            ("root", Role.ADMIN, None)))
        app = create_app(make_settings(database_url=database_url, catalogue_ttl=0))
        yield await aiohttp_client(app), engine, tokens
    finally:
        await engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def pushes(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [r.text for r in (await conn.execute(select(Push.text).order_by(Push.id)))]


async def test_no_token_or_a_bad_one_is_401_in_both_languages(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, _, tokens = world
    for headers in ({}, bearer("lx_nope"), {"Authorization": tokens["zhang"]}):
        answer = await client.get("/api/v1/me", headers=headers)
        assert answer.status == 401
        assert (await answer.json())["error"] == {
            "code": "unauthorized",
            "message": {"zh": "未登录或令牌无效", "en": "missing or invalid token"}}
    answer = await client.get("/api/v1/me", headers=bearer(tokens["zhang"]))
    assert (await answer.json()) == {"login": "zhang", "display_name": "zhang",
                                     "role": "handler", "department": "zjj"}


async def test_a_handler_sees_and_acts_on_its_own_departments_tickets_only(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    ticket, _ = await Tickets(engine).create(new("k1"))  # department zjj
    listed = await (await client.get("/api/v1/tickets", headers=bearer(tokens["lisi"]))).json()
    assert listed["tickets"] == []
    for path in (f"/api/v1/tickets/{ticket.id}", "/api/v1/tickets/999999",
                 "/api/v1/tickets/x"):
        answer = await client.get(path, headers=bearer(tokens["lisi"]))
        assert (answer.status, (await answer.json())["error"]["code"]) == (404, "not_found")
    refused = await client.post(f"/api/v1/tickets/{ticket.id}/sign", json={"version": 1},
                                headers=bearer(tokens["lisi"]))
    assert refused.status == 404
    mine = await (await client.get("/api/v1/tickets", headers=bearer(tokens["zhang"]))).json()
    assert [t["number"] for t in mine["tickets"]] == [ticket.number]
    signed = await client.post(f"/api/v1/tickets/{ticket.id}/sign", json={"version": 1},
                               headers=bearer(tokens["zhang"]))
    assert signed.status == 200
    assert (await signed.json())["ticket"]["status"] == "in_progress"
    [pushed] = await pushes(engine)
    department = department_name(demo_catalogue(), "zjj")
    assert pushed == (f"{department}已签收您的留言{ticket.number}，正在办理，"
                      "预计2026年11月30日（周一）前答复。")
    detail = await (await client.get(f"/api/v1/tickets/{ticket.id}",
                                      headers=bearer(tokens["wang"]))).json()
    assert [e["action"] for e in detail["timeline"]] == [None, None, "sign"]
    assert detail["timeline"][-1]["citizen_text"] == pushed


async def test_conflicts_refusals_and_bad_bodies(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    ticket, _ = await Tickets(engine).create(new("k1"))
    path = f"/api/v1/tickets/{ticket.id}"
    answer = await client.post(f"{path}/sign", json={"version": 1},
                               headers=bearer(tokens["wang"]))
    assert (answer.status, (await answer.json())["error"]["code"]) == (403, "role")
    answer = await client.post(f"{path}/sign", json={"version": 1},
                               headers=bearer(tokens["root"]))
    assert answer.status == 403
    for body, field in (({}, "version"), ({"version": "1"}, "version"),
                        ({"version": 1, "note": 3}, "note"), ([], "body")):
        answer = await client.post(f"{path}/return", json=body,
                                   headers=bearer(tokens["zhang"]))
        assert (answer.status, (await answer.json())["error"].get("field")) == (422, field)
    answer = await client.post(f"{path}/return", json={"version": 1},
                               headers=bearer(tokens["zhang"]))
    assert (answer.status, (await answer.json())["error"]["field"]) == (422, "note")
    await client.post(f"{path}/sign", json={"version": 1}, headers=bearer(tokens["zhang"]))
    stale = await client.post(f"{path}/sign", json={"version": 1},
                              headers=bearer(tokens["zhang"]))
    conflict = await stale.json()
    assert (stale.status, conflict["error"]["code"]) == (409, "conflict")
    assert (conflict["ticket"]["status"], conflict["ticket"]["version"]) == ("in_progress", 2)
    again = await client.post(f"{path}/sign", json={"version": 2},
                              headers=bearer(tokens["zhang"]))
    assert (again.status, (await again.json())["error"]["code"]) == (409, "state")
    unknown = await client.post(f"{path}/fly", json={"version": 2},
                                headers=bearer(tokens["zhang"]))
    assert unknown.status == 404


async def test_the_list_filters_and_pages(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    tickets = Tickets(engine)
    late, _ = await tickets.create(new("late", kind="求助", due_on=date(2020, 1, 6),
                                       description="路灯 100% 不亮"))
    soon, _ = await tickets.create(new("soon", due_on=date(2099, 1, 5), region="dcj"))
    other, _ = await tickets.create(new("other", department="gaj",
                                        due_on=date(2020, 1, 6)))
    await tickets.withdraw(other.number, "default", "oA")

    async def numbers(query: str, who: str = "wang") -> list[str]:
        answer = await client.get(f"/api/v1/tickets?{query}", headers=bearer(tokens[who]))
        assert answer.status == 200, await answer.text()
        return [t["number"] for t in (await answer.json())["tickets"]]

    assert await numbers("") == [other.number, soon.number, late.number]
    assert await numbers("overdue=true") == [late.number]  # the withdrawn one's clock stopped
    assert await numbers("kind=求助") == [late.number]
    assert await numbers("region=dcj") == [soon.number]
    assert await numbers("status=withdrawn") == [other.number]
    assert await numbers("status=dispatched,withdrawn&department=gaj") == [other.number]
    assert await numbers("q=100%") == [late.number]  # % is a character, not a wildcard
    assert await numbers(f"q={soon.number[-6:]}") == [soon.number]
    assert await numbers("due_before=2021-01-01") == [other.number, late.number]
    assert await numbers("created_from=2000-01-01&created_to=2000-12-31") == []
    assert await numbers("", who="zhang") == [soon.number, late.number]  # zjj's only
    first = await (await client.get("/api/v1/tickets?limit=2",
                                    headers=bearer(tokens["wang"]))).json()
    assert len(first["tickets"]) == 2
    rest = await numbers(f"limit=2&cursor={first['next_cursor']}")
    assert rest == [late.number]
    for query, field in (("limit=0", "limit"), ("limit=x", "limit"), ("cursor=-1", "cursor"),
                         ("status=lost", "status"), ("due_before=2020-13-01", "due_before")):
        answer = await client.get(f"/api/v1/tickets?{query}", headers=bearer(tokens["wang"]))
        assert (answer.status, (await answer.json())["error"]["field"]) == (422, field)
    answer = await client.get("/api/v1/tickets?department=gaj",
                              headers=bearer(tokens["zhang"]))
    assert answer.status == 404  # another department's list is not a handler's


async def test_the_openapi_document_is_valid_public_and_names_every_route(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, _, _ = world
    answer = await client.get("/api/v1/openapi.json")  # no token needed
    assert answer.status == 200
    spec = await answer.json()
    validate(spec)  # OpenAPI 3.1, by openapi-spec-validator
    served = {(r.method.lower(), r.resource.canonical) for r in client.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
              and r.method != "HEAD"}
    documented = {(method, path) for path, operations in spec["paths"].items()
                  for method in operations}
    assert served == documented
    act = spec["paths"]["/api/v1/tickets/{ticket_id}/{action}"]["post"]
    body = spec["components"]["schemas"]["ActionBody"]
    assert act["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ActionBody"}
    assert set(body["properties"]) == {"version", "note", "department", "due_on", "text",
                                       "into"}
    assert body["required"] == ["version"] and body["additionalProperties"] is False
    assert set(act["responses"]) == {"200", "401", "403", "404", "409", "422"}


async def test_the_api_can_have_a_listener_of_its_own(
    world: tuple[Client, AsyncEngine, dict[str, str]],
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: SettingsFactory,
    database_url: str,
) -> None:
    """LIANXIN_STAFF_PORT: the API is not where WeChat's callbacks arrive."""
    _, _, tokens = world
    app = create_app(make_settings(database_url=database_url, staff_port=18999))
    callbacks = await aiohttp_client(app)  # starts the bot (and binds the API's services)
    assert (await callbacks.get("/api/v1/openapi.json")).status == 404
    staff = await aiohttp_client(app[STAFF_APP])
    assert (await staff.get("/api/v1/openapi.json")).status == 200
    answer = await staff.get("/api/v1/me", headers=bearer(tokens["wang"]))
    assert (await answer.json())["role"] == "supervisor"


async def test_a_reviewed_departments_answer_goes_out_when_the_office_approves(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    catalogue = demo_catalogue()
    reviewed = tuple(replace(d, reviews_answers=d.id == "zjj") for d in catalogue.departments)
    await fresh_tickets(engine, catalogue=replace(catalogue, departments=reviewed))
    ticket, _ = await Tickets(engine).create(new("k1"))
    path = f"/api/v1/tickets/{ticket.id}"
    zhang, wang = bearer(tokens["zhang"]), bearer(tokens["wang"])
    await client.post(f"{path}/sign", json={"version": 1}, headers=zhang)
    held = await (await client.post(f"{path}/answer", json={"version": 2, "text": "已修复"},
                                    headers=zhang)).json()
    assert (held["ticket"]["status"], held["ticket"]["pending"]) == ("in_progress", "review")
    assert len(await pushes(engine)) == 1  # the sign-for only
    approved = await client.post(f"{path}/approve_answer", json={"version": 3},
                                 headers=wang)
    assert (await approved.json())["ticket"]["status"] == "replied"
    assert (await pushes(engine))[-1] == f"您的留言{ticket.number}已答复：\n已修复"


@pytest.mark.parametrize("keeps", [False, True])
async def test_a_returned_ticket_sent_on_gets_the_date_the_rule_says(
    world: tuple[Client, AsyncEngine, dict[str, str]], keeps: bool,
    aiohttp_client: Callable[..., Awaitable[Client]], make_settings: SettingsFactory,
    database_url: str,
) -> None:
    """退单 then 改派: by default the new department's time runs from the day after it
    gets the ticket; LIANXIN_REDISPATCH_KEEPS_DUE_DATE keeps the citizen's date."""
    _, engine, tokens = world
    client = await aiohttp_client(create_app(make_settings(
        database_url=database_url, catalogue_ttl=0, redispatch_keeps_due_date=keeps)))
    ticket, _ = await Tickets(engine).create(new("k1", due_on=date(2020, 1, 6)))
    path = f"/api/v1/tickets/{ticket.id}"
    await client.post(f"{path}/return", json={"version": 1, "note": "不归我们"},
                      headers=bearer(tokens["zhang"]))
    answer = await client.post(f"{path}/redispatch", json={"version": 2, "department": "cgj"},
                               headers=bearer(tokens["wang"]))
    sent = await answer.json()
    assert answer.status == 200, sent
    assert sent["ticket"]["department"] == "cgj"
    due = date.fromisoformat(sent["ticket"]["due_on"])
    if keeps:
        assert due == date(2020, 1, 6)
    else:
        today = today_in_china()
        assert today < due <= today + timedelta(days=40)  # 15 working days on
        assert (await pushes(engine))[-1].endswith(f"预计{format_day(TEXTS, due)}前答复。")


async def test_the_catalogue_read_only(world: tuple[Client, AsyncEngine, dict[str, str]]) -> None:
    client, _, tokens = world
    answer = await (await client.get("/api/v1/catalogue",
                                     headers=bearer(tokens["zhang"]))).json()
    demo = demo_catalogue()
    assert [d["id"] for d in answer["departments"]] == [d.id for d in demo.departments]
    assert [c["order"] for c in answer["categories"]] == [c.order for c in demo.categories]
    assert {r["id"] for r in answer["regions"]} == {r.id for r in demo.regions}
    assert answer["deadlines"] == dict(demo.deadlines)
    assert (await client.post("/api/v1/catalogue", headers=bearer(tokens["wang"]))).status \
        == 405


async def test_a_complaint_from_the_chat_worked_to_the_end_through_the_api(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    """A citizen files in the chat; the department signs, asks for more time, the office
    agrees; the department answers and the office closes. Each step the citizen should
    hear of is a push in the outbox; 查询 shows them, and not the staff's own notes."""
    client, engine, tokens = world
    citizen = Citizen(client, "oE2E")
    number = ticket_number_in(await file_complaint(citizen))
    zhang, wang = bearer(tokens["zhang"]), bearer(tokens["wang"])
    [listed] = (await (await client.get(f"/api/v1/tickets?q={number}",
                                        headers=zhang)).json())["tickets"]
    assert listed["department"] == "zjj"
    path = f"/api/v1/tickets/{listed['id']}"

    async def step(action: str, who: dict[str, str], **body: Any) -> dict[str, Any]:
        version = (await (await client.get(path, headers=who)).json())["ticket"]["version"]
        answer = await client.post(f"{path}/{action}", json={"version": version, **body},
                                   headers=who)
        assert answer.status == 200, await answer.text()
        ticket: dict[str, Any] = (await answer.json())["ticket"]
        return ticket

    await step("sign", zhang)
    later = (date.fromisoformat(listed["due_on"]) + timedelta(days=10)).isoformat()
    await step("request_extension", zhang, due_on=later, text="需协调供电公司更换线路",
               note="内部：供电公司周三到场")
    assert (await step("approve_extension", wang))["due_on"] == later
    await step("answer", zhang, text="路灯线路已更换，现已恢复照明。")
    assert (await step("close", wang))["status"] == "closed"
    told = [t for t in await pushes(engine) if number in t]
    assert len(told) == 5  # signed, more time, the answer, closed, and the survey
    assert told[4].startswith(f"您的留言{number}已办结。请您评价办理结果")
    assert "路灯线路已更换，现已恢复照明。" in told[2]
    timeline = await citizen.say(f"查询 {number}")
    assert "已办结" in timeline and "已签收您的留言" in timeline
    assert "内部" not in timeline and "供电公司周三" not in timeline
    # signed, more time; the request for it (the citizen was not told) is not a line
    assert timeline.count("\n") - timeline.split("办理记录：")[0].count("\n") == 6


async def test_a_revoked_token_and_a_disabled_account_are_401_at_once(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    staff = StaffAccounts(engine)
    assert (await client.get("/api/v1/me", headers=bearer(tokens["zhang"]))).status == 200
    [token] = await staff.tokens("zhang")
    await staff.revoke_token(token.id)
    assert (await client.get("/api/v1/me", headers=bearer(tokens["zhang"]))).status == 401
    assert (await client.get("/api/v1/me", headers=bearer(tokens["wang"]))).status == 200
    await staff.set_active("wang", False)
    assert (await client.get("/api/v1/tickets", headers=bearer(tokens["wang"]))).status == 401


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("GET", "/api/v1/tickets/18446744073709551616", None, 404),
    ("POST", "/api/v1/tickets/18446744073709551616/sign", {"version": 1}, 404),
    ("GET", "/api/v1/tickets/-1", None, 404),
    ("GET", "/api/v1/tickets?cursor=18446744073709551616", None, 422),
    ("GET", "/api/v1/tickets?created_to=9999-12-31", None, 422),
    ("GET", "/api/v1/tickets?created_from=0001-01-01", None, 422),
    ("GET", "/api/v1/tickets?q=%00", None, 422),
    ("GET", "/api/v1/tickets?kind=a%00b", None, 422),
    ("POST", "/api/v1/tickets/{id}/reject", {"version": 1, "note": "a\u0000b"}, 422),
    ("POST", "/api/v1/tickets/{id}/merge", {"version": 1, "into": 2**63}, 422),
    ("POST", "/api/v1/tickets/{id}/request_extension",
     {"version": 1, "due_on": "9999-12-31", "text": "x"}, 422),
    ("PUT", "/api/v1/tickets/{id}", None, 405),
    ("GET", "/api/v1/nothing/here", None, 404),
])
async def test_odd_requests_get_a_clear_json_answer_never_a_500(
    world: tuple[Client, AsyncEngine, dict[str, str]], method: str, path: str,
    body: Any, status: int,
) -> None:
    client, engine, tokens = world
    ticket, _ = await Tickets(engine).create(new("k1"))
    answer = await client.request(method, path.replace("{id}", str(ticket.id)), json=body,
                                  headers=bearer(tokens["wang"]))
    assert answer.status == status
    ErrorOut.model_validate(await answer.json())  # the shape the document promises


async def test_a_ticket_sent_elsewhere_meanwhile_is_404_not_a_409_showing_it(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    ticket, _ = await Tickets(engine).create(new("k1"))
    path = f"/api/v1/tickets/{ticket.id}"
    await client.post(f"{path}/return", json={"version": 1, "note": "不归我们"},
                      headers=bearer(tokens["zhang"]))
    conflict = await client.post(f"{path}/sign", json={"version": 2},
                                 headers=bearer(tokens["zhang"]))
    ErrorOut.model_validate(body := await conflict.json())  # a real 409 fits the model
    assert (conflict.status, body["ticket"]["status"]) == (409, "returned")
    await client.post(f"{path}/redispatch", json={"version": 2, "department": "cgj"},
                      headers=bearer(tokens["wang"]))
    gone = await client.post(f"{path}/sign", json={"version": 2},
                             headers=bearer(tokens["zhang"]))
    assert gone.status == 404 and "ticket" not in await gone.json()


async def test_a_merged_tickets_reporters_follow_it_when_it_is_merged_again(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    tickets = Tickets(engine)
    first, _ = await tickets.create(new("z", openid="oZ"))
    middle, _ = await tickets.create(new("a", openid="oA"))
    last, _ = await tickets.create(new("b", openid="oB"))
    wang = bearer(tokens["wang"])
    await client.post(f"/api/v1/tickets/{last.id}/merge", json={"version": 1,
                                                                "into": middle.id},
                      headers=wang)
    await client.post(f"/api/v1/tickets/{middle.id}/merge", json={"version": 1,
                                                                  "into": first.id},
                      headers=wang)
    before = len(await pushes(engine))
    await client.post(f"/api/v1/tickets/{first.id}/sign", json={"version": 1},
                      headers=bearer(tokens["zhang"]))
    async with engine.connect() as conn:
        told = [r.openid for r in await conn.execute(
            select(Push.openid).order_by(Push.id).offset(before))]
    assert sorted(told) == ["oA", "oB", "oZ"]


async def test_dates_in_bodies_only_where_asked_and_provisional_dates_said_so(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    client, engine, tokens = world
    ticket, _ = await Tickets(engine).create(new("k1", due_on=date(2099, 1, 5),
                                                 due_provisional=True))
    path = f"/api/v1/tickets/{ticket.id}"
    zhang, wang = bearer(tokens["zhang"]), bearer(tokens["wang"])
    await client.post(f"{path}/sign", json={"version": 1, "due_on": "2020-01-01"},
                      headers=zhang)
    detail = await (await client.get(path, headers=zhang)).json()
    assert detail["ticket"]["due_on"] == "2099-01-05"  # a sign-for carries no date
    assert (await pushes(engine))[-1].endswith("预计2099年1月5日（周一）（暂定）前答复。")
    returned, _ = await Tickets(engine).create(new("k2"))
    back = f"/api/v1/tickets/{returned.id}"
    await client.post(f"{back}/return", json={"version": 1, "note": "x"}, headers=zhang)
    same = await client.post(f"{back}/redispatch", json={"version": 2, "department": "zjj"},
                             headers=wang)
    assert (same.status, (await same.json())["error"]["field"]) == (422, "department")
    late, _ = await Tickets(engine).create(new("k3", due_on=date(2020, 1, 6)))
    await client.post(f"/api/v1/tickets/{late.id}/sign", json={"version": 1}, headers=zhang)
    asked = await client.post(f"/api/v1/tickets/{late.id}/request_extension",
                              json={"version": 2, "due_on": "2099-01-05", "text": "x"},
                              headers=zhang)
    assert (asked.status, (await asked.json())["error"]["field"]) == (422, "due_on")


async def test_of_simultaneous_requests_one_move_wins_and_the_others_see_the_new_state(
    world: tuple[Client, AsyncEngine, dict[str, str]],
) -> None:
    """Three staff press at once (sign, return, re-dispatch from version 1): one 200, two
    409 naming the state it is in now, one event and at most one push."""
    client, engine, tokens = world
    ticket, _ = await Tickets(engine).create(new("k1"))
    path = f"/api/v1/tickets/{ticket.id}"
    answers = await asyncio.gather(
        client.post(f"{path}/sign", json={"version": 1}, headers=bearer(tokens["zhang"])),
        client.post(f"{path}/return", json={"version": 1, "note": "不归我们"},
                    headers=bearer(tokens["zhang"])),
        client.post(f"{path}/redispatch", json={"version": 1, "department": "cgj"},
                    headers=bearer(tokens["wang"])))
    statuses = sorted(a.status for a in answers)
    assert statuses[0] == 200 and statuses[1:] in ([409, 409], [404, 409], [404, 404])
    detail = await (await client.get(path, headers=bearer(tokens["wang"]))).json()
    assert detail["ticket"]["version"] == 2 and len(detail["timeline"]) == 3
    assert len(await pushes(engine)) <= 1
