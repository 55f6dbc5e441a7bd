"""`lianxin serve`, `lianxin db upgrade` and `lianxin config load` as an operator runs
them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from bot.catalogue_cli import DEFAULT_CATALOGUE
from domain.catalogue import Catalogue
from domain.catalogue_file import parse_catalogue
from storage import db
from storage.catalogue import CatalogueRepository
from storage.models import CatalogueMeta
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, TOKEN
from tests.servers import free_port
from tests.test_edge import SIGNER, reply_text
from tests.wechat import text_xml

ROOT = Path(__file__).resolve().parents[1]
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) \S+: ")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    base.update(
        LIANXIN_WECHAT_TOKEN=TOKEN, LIANXIN_WECHAT_APP_ID=APP_ID,
        LIANXIN_WECHAT_APP_SECRET=APP_SECRET, LIANXIN_WECHAT_AES_KEY=AES_KEY,
        LIANXIN_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        LIANXIN_PORT=str(free_port()),
    )
    return base


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    done = run("db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['LIANXIN_PORT']}"
    try:
        for _ in range(200):
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        log.close()
        assert code == 0, (tmp_path / "serve.log").read_text()


def test_serve_answers_a_signed_encrypted_message(served: str) -> None:
    assert requests.get(f"{served}/readyz", timeout=5).status_code == 200
    signed = SIGNER.sign(text_xml("oCli", "帮助"))
    resp = requests.post(f"{served}/wechat", params=signed.params,
                         data=signed.body.encode("utf-8"), timeout=5)
    assert resp.status_code == 200
    assert "使用说明" in reply_text(resp.text)


@pytest.mark.parametrize(("command", "first_words"), [
    (("db", "upgrade"), "lianxin: database migration failed"),
    (("config", "load"), "lianxin: cannot reach the database: "),
])
def test_database_commands_name_an_unreachable_database(
    env: dict[str, str], command: tuple[str, str], first_words: str,
) -> None:
    env["LIANXIN_DATABASE_URL"] = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/x"
    done = run(*command, env=env)
    assert done.returncode == 2
    assert done.stderr.startswith(first_words)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_serve_with_bad_texts_file_stops_with_one_line(env: dict[str, str],
                                                        tmp_path: Path) -> None:
    bad = tmp_path / "texts.toml"
    bad.write_text('welcome = "hi"\n', encoding="utf-8")
    env["LIANXIN_TEXTS_FILE"] = str(bad)
    done = run("serve", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == "lianxin: text catalogue lacks key 'help'"


def test_serve_on_a_busy_port_says_so_in_one_line(env: dict[str, str]) -> None:
    assert run("db", "upgrade", env=env).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["LIANXIN_PORT"] = str(taken.getsockname()[1])
        done = run("serve", env=env)
    assert done.returncode == 2
    # start-up's own log records (the in-process store it opened and saved) may come
    # first; the failure itself is one line, no traceback
    [failure] = [line for line in done.stderr.strip().splitlines()
                 if not LOG_RECORD.match(line)]
    assert failure.startswith("lianxin: cannot listen on 127.0.0.1:")
    assert "serving" not in done.stdout


# ---------------------------------------------------------------- start-up refusals
def refused(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``lianxin ARGS``, which should stop at once; a process still running after a few
    seconds has started, and the test fails with what it printed."""
    try:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired as running:
        output = (running.stdout or b"") + (running.stderr or b"")
        text = output.decode() if isinstance(output, bytes) else output
        pytest.fail(f"lianxin {' '.join(args)} started instead of refusing:\n{text[-3000:]}")


def _no_file(env: dict[str, str]) -> str:
    return f"lianxin: no database at {env['LIANXIN_DATABASE_URL'].split('///')[1]}: run " \
           "`lianxin db upgrade` first"


def _empty_file(env: dict[str, str]) -> str:
    Path(env["LIANXIN_DATABASE_URL"].split("///")[1]).touch()
    return "lianxin: the database has no tables yet: run `lianxin db upgrade` first"


def _older_revision(env: dict[str, str]) -> str:
    assert run("db", "upgrade", "0003", env=env).returncode == 0
    return (f"lianxin: the database is at revision 0003, this lianxin needs "
            f"{db.head_revision()}: run `lianxin db upgrade` first")


@pytest.mark.parametrize("command", [("serve",), ("scheduler", "--interval", "0.1")])
@pytest.mark.parametrize("database", [_no_file, _empty_file, _older_revision])
def test_serve_and_scheduler_refuse_a_database_not_at_the_code_migration(
    env: dict[str, str], redis_url: str, command: tuple[str, ...],
    database: Callable[[dict[str, str]], str],
) -> None:
    env["LIANXIN_REDIS_URL"] = redis_url  # everything else the scheduler needs is there
    expected = database(env)
    done = refused(*command, env=env)
    assert (done.returncode, done.stderr) == (2, expected + "\n")
    assert "serving" not in done.stdout
    assert "delivering" not in done.stdout


def test_serve_refuses_an_unreachable_database(env: dict[str, str]) -> None:
    env["LIANXIN_DATABASE_URL"] = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/x"
    done = refused("serve", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("lianxin: cannot reach the database: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "serving" not in done.stdout


# ------------------------------------------- development credentials, plain http (issue 9)
def dev_env() -> dict[str, str]:
    """What `make run` exports from config/dev.env."""
    values = {}
    for line in (ROOT / "config" / "dev.env").read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            values[name] = value
    return values


DEV = dev_env()
REAL_API = "https://api.weixin.qq.com"


@pytest.fixture
def migrated_env(env: dict[str, str], redis_url: str) -> dict[str, str]:
    """``env`` with everything serve and scheduler need, so a refusal has one reason."""
    assert run("db", "upgrade", env=env).returncode == 0
    env["LIANXIN_REDIS_URL"] = redis_url
    return env


@pytest.mark.parametrize(("command", "variable", "label"), [
    (("serve",), "LIANXIN_WECHAT_TOKEN", "Token"),
    (("serve",), "LIANXIN_WECHAT_APP_SECRET", "AppSecret"),
    (("serve",), "LIANXIN_WECHAT_AES_KEY", "EncodingAESKey"),
    (("scheduler",), "LIANXIN_WECHAT_TOKEN", "Token"),
])
def test_serve_and_scheduler_refuse_a_development_credential_for_the_real_api(
    migrated_env: dict[str, str], command: tuple[str, ...], variable: str, label: str,
) -> None:
    migrated_env[variable] = DEV[variable]  # the rest is this deployment's own
    done = refused(*command, env=migrated_env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"lianxin: {variable} is the development {label} committed in config/dev.env, and "
        f"the API base {REAL_API} is not the dev platform on this machine: set the "
        f"account's own {label} from the WeChat console\n")
    assert DEV[variable] not in done.stderr


@pytest.mark.parametrize("command", [("serve",), ("scheduler",)])
@pytest.mark.parametrize("base", ["http://api.weixin.qq.com", "http://10.1.2.3:8081"])
def test_serve_and_scheduler_refuse_plain_http_to_another_machine(
    migrated_env: dict[str, str], command: tuple[str, ...], base: str,
) -> None:
    migrated_env["LIANXIN_WECHAT_API_BASE"] = base
    done = refused(*command, env=migrated_env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"lianxin: LIANXIN_WECHAT_API_BASE: {base} is plain http to another machine, and "
        "the AppSecret would cross the network in clear: use https:// (http:// is for the "
        "dev platform on this machine)\n")


def test_serve_refuses_the_example_accounts_file(migrated_env: dict[str, str]) -> None:
    example = ROOT / "config" / "accounts.example.toml"
    migrated_env["LIANXIN_ACCOUNTS_FILE"] = str(example)
    done = refused("serve", env=migrated_env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"lianxin: LIANXIN_ACCOUNTS_FILE {example}: [accounts.county] token is the "
        "development Token committed in config/accounts.example.toml, and the API base "
        f"{REAL_API} is not the dev platform on this machine: set the account's own Token "
        "from the WeChat console\n")


@pytest.mark.parametrize(("entry", "key", "problem"), [
    (f'token = "{DEV["LIANXIN_WECHAT_TOKEN"]}"\napp_secret = "own-secret"\n', "token",
     " is the development Token committed in config/dev.env"),
    ('token = "cityToken9"\napp_secret = "own-secret"\napi_base = "http://wx.example.cn"\n',
     "api_base", ": http://wx.example.cn is plain http to another machine"),
])
def test_serve_checks_every_account_in_the_accounts_file(
    migrated_env: dict[str, str], tmp_path: Path, entry: str, key: str, problem: str,
) -> None:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[accounts.city]\napp_id = "wxcity"\n{entry}', encoding="utf-8")
    migrated_env["LIANXIN_ACCOUNTS_FILE"] = str(accounts)
    done = refused("serve", env=migrated_env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        f"lianxin: LIANXIN_ACCOUNTS_FILE {accounts}: [accounts.city] {key}{problem}")
    assert len(done.stderr.splitlines()) == 1


@pytest.fixture
def development_values(env: dict[str, str]) -> None:
    """`make run`'s settings: config/dev.env, whose API base is the dev platform on
    loopback (nothing need listen there for serve to start)."""
    env.update({k: v for k, v in DEV.items() if k.startswith("LIANXIN_WECHAT_")})
    assert env["LIANXIN_WECHAT_API_BASE"].startswith("http://127.0.0.1:")


def test_serve_runs_on_the_development_values_against_the_dev_platform(
    development_values: None, served: str,
) -> None:
    assert requests.get(f"{served}/healthz", timeout=5).status_code == 200


# ---------------------------------------------------------------- lianxin config load
CATALOGUE_TABLES = ("routing_rules", "regions", "categories", "departments", "catalogue_meta")


def stored(url: str) -> tuple[Catalogue | None, CatalogueMeta | None]:
    async def read() -> tuple[Catalogue | None, CatalogueMeta | None]:
        engine = db.make_engine(url)
        try:
            repository = CatalogueRepository(engine)
            return await repository.load(), await repository.meta()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def empty_catalogue(url: str) -> None:
    async def empty() -> None:
        engine = db.make_engine(url)
        try:
            async with engine.begin() as conn:
                for table in CATALOGUE_TABLES:
                    await conn.execute(text(f"DELETE FROM {table}"))
        finally:
            await engine.dispose()

    asyncio.run(empty())


@pytest.fixture
def migrated(env: dict[str, str], database_url: str) -> Iterator[str]:
    """``env`` pointed at the test SQLite or PostgreSQL database, with no catalogue."""
    env["LIANXIN_DATABASE_URL"] = database_url
    empty_catalogue(database_url)
    yield database_url
    empty_catalogue(database_url)


def test_config_load_writes_the_catalogue_into_the_database(
    env: dict[str, str], migrated: str, tmp_path: Path,
) -> None:
    done = run("config", "load", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    raw = DEFAULT_CATALOGUE.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    lines = done.stdout.strip().splitlines()
    assert "示范县: 9 departments, 8 categories, 8 regions (48 places), 9 rules" in done.stdout
    assert "anonymous tickets (no phone number needed): 咨询, 建议, 表扬" in done.stdout
    assert lines[-1].endswith(f"(sha256 {digest[:12]}) loaded")
    catalogue, meta = stored(migrated)
    assert catalogue == parse_catalogue(raw.decode(), str(DEFAULT_CATALOGUE))
    assert meta is not None
    assert (meta.source, meta.digest) == (str(DEFAULT_CATALOGUE.resolve()), digest)
    # a second load of another file replaces it: the department it drops is gone
    smaller = tmp_path / "smaller.toml"
    smaller.write_text(raw.decode().replace('department = "kfq"', 'department = "zjj"')
                       .replace('id = "kfq"\nname = "示范县经济开发区管理委员会"\n'
                                'short_name = "开发区管委会"',
                                'id = "gone"\nname = "已撤销的部门"'),
                       encoding="utf-8")
    smaller_catalogue = parse_catalogue(smaller.read_text(encoding="utf-8"), str(smaller))
    assert "kfq" not in {d.id for d in smaller_catalogue.departments}
    done = run("config", "load", str(smaller), env=env)
    assert done.returncode == 0, done.stderr
    catalogue, meta = stored(migrated)
    assert catalogue == smaller_catalogue
    assert meta is not None
    assert meta.source == str(smaller.resolve())


def test_config_load_needs_a_migrated_database(env: dict[str, str], tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    done = run("config", "load", env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"lianxin: no database at {database}: run `lianxin db upgrade` first\n"
    assert not database.exists()  # no empty file left behind
    database.touch()
    done = run("config", "load", env=env)
    assert done.returncode == 2
    assert done.stderr == ("lianxin: the database has no tables yet: run `lianxin db upgrade` "
                           "first\n")
    assert run("db", "upgrade", "0003", env=env).returncode == 0
    done = run("config", "load", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("lianxin: the database is at revision 0003, this lianxin "
                                  f"needs {db.head_revision()}: run `lianxin db upgrade` first")
    assert len(done.stderr.splitlines()) == 1
    assert run("db", "upgrade", env=env).returncode == 0
    done = run("config", "load", env=env)
    assert done.returncode == 0, done.stderr
    catalogue, _ = stored(env["LIANXIN_DATABASE_URL"])
    assert catalogue is not None
    assert catalogue.county == "示范县"


def test_config_load_of_a_bad_file_names_the_line_and_loads_nothing(
    env: dict[str, str], migrated: str, tmp_path: Path,
) -> None:
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    bad_text = text.replace('anonymous_kinds = ["咨询", "建议", "表扬"]',
                            'anonymous_kinds = ["咨询", "催办"]')
    assert bad_text != text
    bad = tmp_path / "bad.toml"
    bad.write_text(bad_text, encoding="utf-8")
    line = next(n for n, row in enumerate(bad_text.splitlines(), 1) if "催办" in row)
    done = run("config", "load", str(bad), env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"lianxin: {bad}:{line}: intake: anonymous_kinds: unknown ticket "
                           "kind '催办' (kinds: 投诉, 求助, 咨询, 建议, 表扬)\n")
    assert stored(migrated) == (None, None)
