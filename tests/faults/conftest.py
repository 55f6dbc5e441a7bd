"""The fault suite's pieces: real `lianxin serve` workers, real servers, WeChat's retries.

Every test here runs the product as production does (separate processes on loopback,
PostgreSQL and redis-server started by the test) and hurts it the way the fault campaign
did: kill -9 of a worker holding messages, a database stopped or stalled, Redis
restarted. The dev platform's API runs in the test process, so the workers' pushes are
recorded where the test can read them.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from devplatform.api import PLATFORM, create_api_app
from devplatform.state import PlatformState
from storage import db
from tests.citizens import SIGNER, Citizen
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, TOKEN, SettingsFactory, account_of
from tests.servers import PostgresCluster, free_port, postgres_cluster

ROOT = Path(__file__).resolve().parents[2]
RECEIPT = re.compile(r"LX\d{8}-\d{6}")
# WeChat waits 5 s for an answer and tries three times in all, about 5 s apart
WECHAT_TIMEOUT = 5.0
WECHAT_TRIES = (0.0, 5.0, 10.0)


@dataclass
class Worker:
    """One `lianxin serve` process."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def lianxin(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def worker_env(database_url: str, api_base: str, *, redis_url: str | None = None,
               **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    env.update(
        LIANXIN_WECHAT_TOKEN=TOKEN, LIANXIN_WECHAT_APP_ID=APP_ID,
        LIANXIN_WECHAT_APP_SECRET=APP_SECRET, LIANXIN_WECHAT_AES_KEY=AES_KEY,
        LIANXIN_WECHAT_API_BASE=api_base, LIANXIN_DATABASE_URL=database_url,
        LIANXIN_LOG_LEVEL="INFO",
        # the kept in-process store would land beside a PostgreSQL-backed worker's cwd
        # (./lianxin.store.json, the repository): these tests keep nothing across restarts
        LIANXIN_STORE_SAVE_INTERVAL="0",
    )
    if redis_url is not None:
        env["LIANXIN_REDIS_URL"] = redis_url
    env.update({f"LIANXIN_{k.upper()}": v for k, v in extra.items()})
    return env


def prepare_database(env: dict[str, str]) -> None:
    """Migrated, with the demo county's catalogue loaded (what `make run` does)."""
    lianxin("db", "upgrade", env=env)
    lianxin("config", "load", env=env)


def spawn(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`lianxin ARGS` in the background, its output to ``log``."""
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


@dataclass
class Workers:
    tmp: Path
    started: list[Worker] = field(default_factory=list)

    async def start(self, env: dict[str, str], name: str) -> Worker:
        port = free_port()
        log = self.tmp / f"{name}.log"
        proc = spawn("serve", env={**env, "LIANXIN_PORT": str(port)}, log=log)
        worker = Worker(f"http://127.0.0.1:{port}", proc, log)
        self.started.append(worker)
        async with aiohttp.ClientSession() as session:
            for _ in range(400):
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited: {worker.output()}")
                try:
                    async with session.get(f"{worker.url}/healthz") as resp:
                        if resp.status == 200:
                            return worker
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"{name} did not start: {worker.output()}")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers(tmp_path)
    yield running
    for worker in running.started:
        worker.stop()


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    """A cluster of the test's own, to stop, stall and start again."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
async def platform(make_settings: SettingsFactory) -> AsyncIterator[tuple[str, PlatformState]]:
    """The dev platform's API in this process: the workers' pushes land in its state."""
    app = create_api_app([account_of(make_settings())])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app[PLATFORM]
    await server.close()


@dataclass
class Try:
    at: float  # seconds after the message was first sent
    worker: str
    status: int | None  # None: no answer within WeChat's 5 s (a 503 is no answer either)
    body: str = ""

    @property
    def answered(self) -> bool:
        """WeChat takes any 200 within 5 s as the answer and stops trying."""
        return self.status == 200

    @property
    def text(self) -> str:
        if self.status != 200 or self.body in ("", "success"):
            return ""
        return str(SIGNER.open_reply(self.body, encrypted=True).get("Content", ""))


async def wechat_delivers(session: aiohttp.ClientSession, urls: list[str], xml: str,
                          *, start: float | None = None) -> list[Try]:
    """One message as WeChat sends it: up to three tries, at 0, 5 and 10 s after
    ``start``, each to ``urls[i]``, each waiting 5 s; stops at the first answer."""
    start = time.monotonic() if start is None else start
    tries: list[Try] = []
    for at, url in zip(WECHAT_TRIES, urls, strict=False):
        await asyncio.sleep(max(0.0, start + at - time.monotonic()))
        tries.append(await wechat_try(session, url, xml, at))
        if tries[-1].answered:
            break
    return tries


async def wechat_try(session: aiohttp.ClientSession, url: str, xml: str, at: float) -> Try:
    """One try on a connection of its own, as WeChat makes it: a reply that comes after
    WeChat stopped waiting must never be read as the answer to a later try.
    (``session`` is the caller's, kept for its lifetime; each try opens a connection.)"""
    signed = SIGNER.sign(xml)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=WECHAT_TIMEOUT),
    ) as own:
        try:
            async with own.post(f"{url}/wechat", params=signed.params,
                                data=signed.body.encode("utf-8")) as resp:
                return Try(at, url, resp.status, await resp.text())
        except TimeoutError:
            return Try(at, url, None)
        except aiohttp.ClientError:  # the worker died under the request
            return Try(at, url, None)


class RemoteCitizen(Citizen):
    """A citizen talking to a worker process (the same calls as in the edge tests)."""

    def __init__(self, session: aiohttp.ClientSession, openid: str) -> None:
        super().__init__(session, openid)  # type: ignore[arg-type]


async def up_to_the_summary(citizen: Citizen) -> None:
    """Every answer of a complaint but the confirmation."""
    summary = await citizen.says("我要反映", "1", "1", "2", "小区门口的路灯坏了一个星期，晚上很黑",
                                 "跳过", "13800138000", "2")
    assert "请核对" in summary, summary


async def tickets_of(database_url: str, openid: str) -> list[str]:
    engine = db.make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT number FROM tickets WHERE openid = :o ORDER BY number"),
                {"o": openid})
            return [str(r[0]) for r in rows]
    finally:
        await engine.dispose()


def pushed_texts(state: PlatformState, openid: str) -> list[str]:
    return [str(m.get("text", {}).get("content", "")) for m in state.sent.get(openid, [])]



