"""The legal consultation in the staff API (bot/staff/legal.py), on SQLite and PostgreSQL:
admins make lawyers and invite codes, list and disable them and read consultations with
the citizen masked; supervisors read the figures; handlers see none of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.consultation import Status
from storage.consultations import Consultations, NewConsultation
from storage.lawyers import Lawyers
from tests.test_consultations_store import fresh_consultations
from tests.test_staff_api import Client, bearer, world  # noqa: F401 - the fixture

World = tuple[Client, AsyncEngine, dict[str, str]]
LAWYER = {"name": "李明", "firm": "某律师事务所", "licence": "14401201810123456",
          "areas": ["labour", "family"]}


async def test_an_admin_makes_a_lawyer_whose_code_binds_once(world: World) -> None:  # noqa: F811
    client, engine, tokens = world
    await fresh_consultations(engine)
    for who in ("zhang", "wang"):  # a handler, a supervisor: not theirs
        refused = await client.post("/api/v1/lawyers", json=LAWYER, headers=bearer(tokens[who]))
        assert refused.status == 403, who
    made = await client.post("/api/v1/lawyers", json=LAWYER, headers=bearer(tokens["root"]))
    assert made.status == 201
    body = await made.json()
    assert body["lawyer"]["name"] == "李明" and body["lawyer"]["capacity"] == 3
    assert len(body["code"]) == 8
    assert await Lawyers(engine).bind(body["code"], "default", "o-li") is not None
    again = await client.post("/api/v1/lawyers", json=LAWYER, headers=bearer(tokens["root"]))
    assert again.status == 409 and (await again.json())["error"]["code"] == "licence_taken"
    bad = await client.post("/api/v1/lawyers", json={**LAWYER, "licence": "14401201810000009",
                                                     "areas": ["tax"]},
                            headers=bearer(tokens["root"]))
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "areas"
    listed = await (await client.get("/api/v1/lawyers", headers=bearer(tokens["root"]))).json()
    assert [(lawyer["licence"], lawyer["bound"]) for lawyer in listed["lawyers"]] == [
        ("14401201810123456", True)]
    new_code = await client.post(f"/api/v1/lawyers/{body['lawyer']['id']}/invite",
                                 headers=bearer(tokens["root"]))
    assert new_code.status == 200 and (await new_code.json())["code"] != body["code"]
    missing = await client.post("/api/v1/lawyers/99999/invite", headers=bearer(tokens["root"]))
    assert missing.status == 404


async def test_consultations_show_no_phone_and_no_wechat_id(world: World) -> None:  # noqa: F811
    client, engine, tokens = world
    await fresh_consultations(engine)
    repo = Consultations(engine)
    await repo.ask(NewConsultation(
        idempotency_key="k", account="default", openid="o-secret-openid", name="张三",
        area="labour", question="老板欠薪不还，他电话13800138000打不通", left_message=False),
        now=datetime.now(UTC))
    assert (await client.get("/api/v1/consultations",
                             headers=bearer(tokens["wang"]))).status == 403
    answer = await client.get("/api/v1/consultations?status=queued",
                              headers=bearer(tokens["root"]))
    text = await answer.text()
    assert answer.status == 200
    assert "o-secret-openid" not in text and "13800138000" not in text and "张三" not in text
    (shown,) = json.loads(text)["consultations"]
    assert (shown["citizen"], shown["question"]) == (
        "张**", "老板欠薪不还，他电话138****8000打不通")
    bad = await client.get("/api/v1/consultations?status=nope", headers=bearer(tokens["root"]))
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "status"


async def test_disabling_a_lawyer_puts_what_they_held_back_in_the_queue(
    world: World,  # noqa: F811
) -> None:
    client, engine, tokens = world
    await fresh_consultations(engine)
    repo = Consultations(engine)
    asked, _ = await repo.ask(NewConsultation(
        idempotency_key="k", account="default", openid="o-c", name=None, area="labour",
        question="公司拖欠工资三个月了怎么办", left_message=False), now=datetime.now(UTC))
    lawyer = await Lawyers(engine).add("李明", "某所", "14401201810123456", ["labour"])
    await repo.take(lawyer, now=datetime.now(UTC))
    done = await client.post(f"/api/v1/lawyers/{lawyer.id}/disable",
                             headers=bearer(tokens["root"]))
    assert done.status == 200
    back = await repo.get(asked.id)
    assert back is not None and back.status is Status.QUEUED
    assert not (await Lawyers(engine).get(lawyer.id)).active  # type: ignore[union-attr]


async def test_the_office_reads_the_figures_a_handler_does_not(world: World) -> None:  # noqa: F811
    client, engine, tokens = world
    await fresh_consultations(engine)
    query = "from=2026-11-01&to=2026-11-30&by=area"
    assert (await client.get(f"/api/v1/consultations/report?{query}",
                             headers=bearer(tokens["zhang"]))).status == 403
    answer = await client.get(f"/api/v1/consultations/report?{query}",
                              headers=bearer(tokens["wang"]))
    assert answer.status == 200
    body = await answer.json()
    assert body["by"] == "area" and body["rows"][-1]["requested"] == 0
    bad = await client.get("/api/v1/consultations/report?from=2026-11-01&to=2026-11-30&by=x",
                           headers=bearer(tokens["wang"]))
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "by"


async def test_a_bad_lawyer_body_is_422_naming_the_field(world: World) -> None:  # noqa: F811
    client, engine, tokens = world
    await fresh_consultations(engine)
    for body, field in (({**LAWYER, "name": "李\x00明"}, "name"),
                        ({**LAWYER, "firm": "所\x00"}, "firm"),
                        ({**LAWYER, "areas": ["labour\x00"]}, "areas"),
                        ({**LAWYER, "capacity": "3"}, "capacity"),
                        ({**LAWYER, "extra": 1}, "extra"),
                        ({**LAWYER, "licence": "1440-1201"}, "licence")):
        answer = await client.post("/api/v1/lawyers", json=body,
                                   headers=bearer(tokens["root"]))
        assert answer.status == 422, body
        assert (await answer.json())["error"]["field"] == field, body
    garbage = await client.post("/api/v1/lawyers", data=b"\xff{", headers=bearer(tokens["root"]))
    assert garbage.status == 422 and (await garbage.json())["error"]["field"] == "body"
