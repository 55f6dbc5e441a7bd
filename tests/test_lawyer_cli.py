"""`lianxin lawyer …` as an operator runs it: a profile and its invite code printed once,
a new code for a profile on file, the list, disabling (what it held goes back to the
queue), the demo lawyer of `make run`; every fault one line and exit status 2."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.consultation import Status
from storage import db
from storage.consultations import Consultations, NewConsultation
from storage.lawyers import Lawyers
from tests.cli import cli_env
from tests.cli import lianxin as run
from tests.test_staff_cli import load_demo_catalogue

LICENCE = "14401201810123456"
CODE = re.compile(r"律师绑定 ([0-9]{8})")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


async def lianxin(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    return await run("lawyer", *args, env=env)


async def test_a_lawyer_is_invited_bound_by_the_code_and_listed(env: dict[str, str]) -> None:
    code, _, err = await lianxin("invite", "--licence", LICENCE, "--name", "李明", "--firm",
                                 "某律师事务所", "--areas", "labour,family", env=env)
    assert (code, err.strip()) == (2, "lianxin: the catalogue in the database has no legal "
                                      "areas: add [[legal_area]] and [legal] to it and run "
                                      "`lianxin config load`")
    await load_demo_catalogue(env)
    code, out, err = await lianxin("invite", "--licence", LICENCE, "--name", "李明", "--firm",
                                   "某律师事务所", "--areas", "labour,family", env=env)
    assert code == 0 and err == ""
    assert "added lawyer 1: 李明, 某律师事务所, areas labour, family, capacity 3" in out
    (invite,) = CODE.findall(out)
    engine = db.make_engine(env["LIANXIN_DATABASE_URL"])
    try:
        assert await Lawyers(engine).bind(invite, "default", "o-li") is not None
    finally:
        await engine.dispose()
    code, out, _ = await lianxin("invite", "--licence", LICENCE, env=env)  # a new code
    assert code == 0 and len(CODE.findall(out)) == 1 and invite not in out
    code, out, _ = await lianxin("list", env=env)
    assert code == 0
    assert re.search(rf"1  {LICENCE}\s+李明\s+off duty\s+bound\s+holds 0/3  labour,family",
                     out), out


@pytest.mark.parametrize(("args", "problem"), [
    (("--name", "王芳", "--firm", "所", "--areas", "tax"), "areas: unknown legal area 'tax'"),
    (("--name", "王芳", "--firm", "所", "--areas", "labour", "--capacity", "0"),
     "capacity: 1–20 consultations at once"),
    (("--name", "王芳",), "no lawyer with licence 14401201810000009: a new one needs --name, "
                          "--firm and --areas"),
])
async def test_a_bad_invite_says_what_is_wrong(env: dict[str, str], args: tuple[str, ...],
                                               problem: str) -> None:
    await load_demo_catalogue(env)
    code, out, err = await lianxin("invite", "--licence", "14401201810000009", *args, env=env)
    assert (code, out, err.strip()) == (2, "", f"lianxin: {problem}")


async def test_disabled_what_the_lawyer_held_goes_back_to_the_queue(
    env: dict[str, str],
) -> None:
    await load_demo_catalogue(env)
    await lianxin("invite", "--licence", LICENCE, "--name", "李明", "--firm", "某所",
                  "--areas", "labour", env=env)
    engine = db.make_engine(env["LIANXIN_DATABASE_URL"])
    try:
        consultations = Consultations(engine)
        asked, _ = await consultations.ask(NewConsultation(
            idempotency_key="k", account="default", openid="o-citizen", name=None,
            area="labour", question="公司拖欠工资三个月了怎么办", left_message=False),
            now=datetime.now(UTC))
        lawyer = await Lawyers(engine).by_licence(LICENCE)
        assert lawyer is not None
        assert (await consultations.take(lawyer, now=datetime.now(UTC))).consultation
        code, out, _ = await lianxin("disable", LICENCE, env=env)
        assert (code, out.strip()) == (
            0, f"lawyer 1 ({LICENCE}) is disabled; 1 consultation(s) back in the queue")
        back = await consultations.get(asked.id)
        assert back is not None and back.status is Status.QUEUED
    finally:
        await engine.dispose()
    code, _, err = await lianxin("disable", "14401201810000009", env=env)
    assert (code, err.strip()) == (2, "lianxin: no lawyer with licence 14401201810000009")


async def test_the_demo_lawyer_of_make_run(env: dict[str, str]) -> None:
    code, out, _ = await lianxin("demo", env=env)
    assert (code, out.strip()) == (
        0, "lawyer demo: the catalogue has no legal areas: no demo lawyer made")
    await load_demo_catalogue(env)
    for _ in range(2):  # made once; a fresh code each run
        code, out, _ = await lianxin("demo", env=env)
        assert code == 0 and len(CODE.findall(out)) == 1 and "王明" in out
    code, out, _ = await lianxin("list", env=env)
    assert out.count("王明") == 1
