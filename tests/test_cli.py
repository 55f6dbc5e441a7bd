"""`lianxin serve` and `lianxin db upgrade` as an operator runs them."""

from __future__ import annotations

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


def test_db_upgrade_names_an_unreachable_database(env: dict[str, str]) -> None:
    env["LIANXIN_DATABASE_URL"] = f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/x"
    done = run("db", "upgrade", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("lianxin: database migration failed")
    assert len(done.stderr.strip().splitlines()) == 1


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
