"""`lianxin serve`, `lianxin db upgrade` and `lianxin config load` as an operator runs
them."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from bot.catalogue_cli import DEFAULT_CATALOGUE
from domain.catalogue import Catalogue, parse_catalogue
from storage import db
from storage.catalogue import CatalogueRepository
from storage.models import CatalogueMeta
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, TOKEN
from tests.servers import free_port
from tests.test_edge import SIGNER, reply_text
from tests.wechat import text_xml

ROOT = Path(__file__).resolve().parents[1]


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
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["LIANXIN_PORT"] = str(taken.getsockname()[1])
        done = run("serve", env=env)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("lianxin: cannot listen on 127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "serving" not in done.stdout


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
    assert "示范县: 9 departments, 8 categories, 8 regions, 9 rules" in done.stdout
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
                                  "needs 0005: run `lianxin db upgrade` first")
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
