"""`lianxin staff …` as an operator runs it: the first admin on an empty database, a
handler of a catalogue department, tokens printed once and revoked, disabling, passwords
from standard input; every fault one line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalogue_cli import DEFAULT_CATALOGUE, load_catalogue
from domain.catalogue import Catalogue
from domain.staff import Role
from storage import db
from storage.catalogue import CatalogueRepository
from storage.staff import StaffAccounts
from tests.cli import cli_env
from tests.cli import lianxin as run

PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


async def lianxin(*args: str, env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    return await run("staff", *args, env=env, stdin=stdin)


async def load_demo_catalogue(env: dict[str, str]) -> Catalogue:
    """What `lianxin config load` does on `make run`: the demo county's catalogue."""
    catalogue = load_catalogue(DEFAULT_CATALOGUE)
    engine = db.make_engine(env["LIANXIN_DATABASE_URL"])
    await CatalogueRepository(engine).save(catalogue, source="test", digest="test")
    await engine.dispose()
    return catalogue


async def accounts(env: dict[str, str]) -> StaffAccounts:
    return StaffAccounts(db.make_engine(env["LIANXIN_DATABASE_URL"]))


async def test_the_first_admin_then_a_handler_and_their_tokens(env: dict[str, str]) -> None:
    code, out, _ = await lianxin("list", env=env)
    assert code == 0 and "make the first admin" in out
    code, out, err = await lianxin("add", "root", "--name", "管理员", "--role", "admin",
                                   "--password", env=env, stdin=PASSWORD + "\n")
    assert (code, out.strip(), err) == (0, "added root (admin)", "")
    staff = await accounts(env)
    assert await staff.sign_in("root", PASSWORD) is not None

    await load_demo_catalogue(env)
    code, out, _ = await lianxin("add", "zhang", "--name", "张三", "--role", "handler",
                                 "--department", "zjj", env=env)
    assert (code, out.strip()) == (0, "added zhang (handler, zjj)")

    code, out, err = await lianxin("token", "create", "zhang", "--label", "curl", env=env)
    assert code == 0 and err == ""
    secret = out.splitlines()[-1]
    assert "shown once" in out.splitlines()[0]
    found = await staff.authenticate(secret)
    assert found is not None and found.login == "zhang"
    code, out, _ = await lianxin("list", env=env)
    assert secret not in out  # shown once only
    assert "zhang" in out and "curl" in out and "never used" not in out  # it was used
    token_id = out.split("token ")[1].split()[0]

    code, out, _ = await lianxin("token", "revoke", token_id, env=env)
    assert (code, out.strip()) == (0, f"token {token_id} revoked")
    assert await staff.authenticate(secret) is None
    code, _, err = await lianxin("token", "revoke", token_id, env=env)
    assert (code, err.strip()) == (2, f"lianxin: no live token {token_id}")

    code, out, _ = await lianxin("disable", "zhang", env=env)
    assert (code, out.strip()) == (0, "zhang is disabled")
    code, _, err = await lianxin("token", "create", "zhang", env=env)
    assert (code, err.strip()) == (2, "lianxin: login: 'zhang' is disabled")
    code, out, _ = await lianxin("enable", "zhang", env=env)
    assert (code, out.strip()) == (0, "zhang is active")

    code, out, _ = await lianxin("passwd", "zhang", env=env, stdin="a new long password\n")
    assert (code, out.strip()) == (0, "password of zhang changed")
    assert await staff.sign_in("zhang", "a new long password") is not None
    await staff._engine.dispose()


@pytest.mark.parametrize(("args", "stdin", "error"), [
    (("add", "zhang", "--name", "张三", "--role", "handler", "--department", "zjj"), "",
     "lianxin: no catalogue in the database: run `lianxin config load` first"),
    (("add", "zhang", "--name", "张三", "--role", "handler"), "",
     "lianxin: department: a handler belongs to a department"),
    (("add", "Zhang", "--name", "张三", "--role", "supervisor"), "",
     "lianxin: login: 3–32 lower-case letters, digits, '.', '_' or '-', starting with a "
     "letter"),
    (("add", "wang", "--name", "王五", "--role", "supervisor", "--password"), "short\n",
     "lianxin: password: at least 10 characters"),
    (("passwd", "nobody"), PASSWORD + "\n", "lianxin: no staff account 'nobody'"),
    (("disable", "nobody"), "", "lianxin: no staff account 'nobody'"),
    (("token", "create", "nobody"), "", "lianxin: no staff account 'nobody'"),
])
async def test_faults_are_one_line(env: dict[str, str], args: tuple[str, ...], stdin: str,
                                   error: str) -> None:
    code, out, err = await lianxin(*args, env=env, stdin=stdin)
    assert (code, out, err.strip()) == (2, "", error)
    staff = await accounts(env)
    assert await staff.count() == 0  # nothing made
    await staff._engine.dispose()


async def test_a_department_not_in_the_catalogue_is_refused(env: dict[str, str]) -> None:
    await load_demo_catalogue(env)
    code, _, err = await lianxin("add", "zhang", "--name", "张三", "--role", "handler",
                                 "--department", "nope", env=env)
    assert code == 2 and err.startswith("lianxin: department: 'nope' is not in the catalogue (")


async def test_make_runs_demo_accounts_get_fresh_tokens_each_time(env: dict[str, str]) -> None:
    code, _, err = await lianxin("demo", env=env)
    assert (code, err.strip()) == (
        2, "lianxin: no catalogue in the database: run `lianxin config load` first")
    catalogue = await load_demo_catalogue(env)
    code, first, _ = await lianxin("demo", env=env)
    assert code == 0
    assert first.splitlines()[0].startswith("web console: http://")
    assert "lianxin-demo" in first.splitlines()[0]
    assert first.splitlines()[1].startswith("public board: http://")
    rows = {line.split()[0]: line.split()[-1] for line in first.splitlines()[3:]}
    assert set(rows) == {"demo-office", "demo-admin",
                         *(f"demo-{d.id}" for d in catalogue.departments)}
    staff = await accounts(env)
    assert (await staff.sign_in("demo-zjj", "lianxin-demo")) is not None  # the console's
    office = await staff.authenticate(rows["demo-office"])
    assert office is not None and office.display_name == "12345办公室（演示）"
    handler = await staff.authenticate(rows["demo-zjj"])
    assert handler is not None and (handler.role, handler.department) == ("handler", "zjj")
    code, second, _ = await lianxin("demo", env=env)  # make run again: new tokens
    again = {line.split()[0]: line.split()[-1] for line in second.splitlines()[3:]}
    assert await staff.authenticate(rows["demo-office"]) is None  # the old one revoked
    assert await staff.authenticate(again["demo-office"]) is not None
    assert len(await staff.all()) == len(rows)  # no account twice
    await staff.add("zhang", "张三", Role.SUPERVISOR, None)
    code, out, _ = await lianxin("demo", env=env)  # a database with real accounts
    assert (code, out.strip()) == (0, "staff demo: this database has accounts of its own "
                                      "(zhang …): no demo accounts made")
    assert await staff.authenticate(again["demo-office"]) is not None  # nothing revoked
    await staff._engine.dispose()


async def test_a_bind_code_and_unbinding_from_the_command_line(env: dict[str, str]) -> None:
    staff = await accounts(env)
    await staff.add("zhang", "张三", Role.SUPERVISOR, None)
    code, out, _ = await lianxin("bind-code", "zhang", env=env)
    assert code == 0 and "绑定 " in out
    digits = out.split("绑定 ")[1].strip()
    assert await staff.bind(digits, "default", "oZhang") is not None
    code, out, _ = await lianxin("unbind", "zhang", env=env)
    assert (code, out.strip()) == (0, "zhang: WeChat user unbound")
    assert await staff.bound("default", "oZhang") is None
    code, out, _ = await lianxin("unbind", "zhang", env=env)
    assert out.strip() == "zhang: no WeChat user was bound"
    code, _, err = await lianxin("unbind", "nobody", env=env)
    assert (code, err.strip()) == (2, "lianxin: no staff account 'nobody'")
    await staff._engine.dispose()
