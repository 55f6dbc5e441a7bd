"""Restarts of a real ``lianxin serve`` on the embedded defaults (SQLite, in-process store):
a graceful stop keeps half-filled forms, nonces and dedupe marks; a kill -9 loses at most
what changed since the last save, and a citizen whose form it lost is told so once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from storage.keys import KeyBuilder
from tests.citizens import LAMP, SIGNER
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, TOKEN
from tests.servers import free_port
from tests.wechat import Signed, next_msg_id, text_xml

ROOT = Path(__file__).resolve().parents[1]
LOST = "抱歉，您之前填写的内容因系统重启已失效，需要时请回复“我要反映”重新填写。"
ASKS_REGION = "问题发生在哪个乡镇（街道）"
ASKS_DESCRIPTION = "请描述您要反映的问题"
ASKS_PHOTOS = "如有现场照片"
GREETING = "您好！我是连心"


def lianxin(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def base_env(database: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    base.update(
        LIANXIN_WECHAT_TOKEN=TOKEN, LIANXIN_WECHAT_APP_ID=APP_ID,
        LIANXIN_WECHAT_APP_SECRET=APP_SECRET, LIANXIN_WECHAT_AES_KEY=AES_KEY,
        LIANXIN_WECHAT_API_BASE="http://127.0.0.1:9",
        LIANXIN_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        LIANXIN_PORT=str(free_port()),
    )
    return base


@pytest.fixture(scope="session")
def prepared_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the demo catalogue, as ``make run`` prepares it."""
    database = tmp_path_factory.mktemp("prepared") / "lianxin.db"
    lianxin("db", "upgrade", env=base_env(database))
    lianxin("config", "load", env=base_env(database))
    return database


@pytest.fixture
def env(tmp_path: Path, prepared_database: Path) -> dict[str, str]:
    """Each test's own copy of the prepared database (and nothing else beside it)."""
    for suffix in ("", "-wal", "-shm"):
        source = prepared_database.with_name(prepared_database.name + suffix)
        if source.exists():
            shutil.copy2(source, tmp_path / f"lianxin.db{suffix}")
    return base_env(tmp_path / "lianxin.db")


class Bot:
    """``lianxin serve`` as a child process, started and stopped again by the test."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{env['LIANXIN_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None
        # beside the database, as docs/ARCHITECTURE.md says
        database = Path(env["LIANXIN_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))
        self.snapshot = database.with_name(f"{database.name}.store.json")
        self.journal = database.with_name(f"{database.name}.store.journal")

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"],
                                            env=self.env, cwd=ROOT, stdout=out,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"lianxin serve did not start:\n{self.log.read_text()}")

    def stop(self, sig: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process = None
        return code

    def restart(self, sig: signal.Signals = signal.SIGTERM) -> None:
        code = self.stop(sig)
        if sig is not signal.SIGKILL:
            assert code == 0, self.log.read_text()
        self.start()

    def post(self, xml: str | Signed) -> requests.Response:
        signed = SIGNER.sign(xml) if isinstance(xml, str) else xml
        return requests.post(f"{self.url}/wechat", params=signed.params,
                             data=signed.body.encode("utf-8"), timeout=10)

    def say(self, user: str, text: str, *, msg_id: int | None = None) -> str:
        resp = self.post(text_xml(user, text, msg_id=msg_id))
        assert resp.status_code == 200, resp.text
        return str(SIGNER.open_reply(resp.text, encrypted=True).get("Content", ""))

    def says(self, user: str, *texts: str) -> str:
        reply = ""
        for text in texts:
            reply = self.say(user, text)
        return reply

    def saved_state(self, user: str) -> Any:
        """The user's conversation in the snapshot file now (``None``: not in it)."""
        try:
            doc = json.loads(self.snapshot.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):  # not written yet
            return None
        text = doc["values"].get(KeyBuilder().state("default", user))
        return None if text is None else json.loads(text)


BotFactory = Callable[..., Bot]


@pytest.fixture
def start_bot(env: dict[str, str], tmp_path: Path) -> Iterator[BotFactory]:
    """Start ``lianxin serve``; ``save_interval`` sets LIANXIN_STORE_SAVE_INTERVAL."""
    started: list[Bot] = []

    def start(save_interval: float | None = None) -> Bot:
        bot_env = dict(env)
        if save_interval is not None:
            bot_env["LIANXIN_STORE_SAVE_INTERVAL"] = str(save_interval)
        running = Bot(bot_env, tmp_path / "serve.log")
        started.append(running)
        running.start()
        return running

    yield start
    for running in started:
        if running.process is not None:
            running.process.kill()
            running.process.wait()


def to_region(bot: Bot, user: str) -> None:
    """我要反映 → 投诉 → the first category: the form now asks where."""
    assert ASKS_REGION in bot.says(user, "我要反映", "1", "1")


def test_sigterm_keeps_a_half_filled_form_and_the_dedupe_marks(start_bot: BotFactory) -> None:
    bot = start_bot()
    to_region(bot, "oHalfway")
    answered = next_msg_id()
    assert ASKS_DESCRIPTION in bot.say("oHalfway", "2", msg_id=answered)
    bot.restart(signal.SIGTERM)
    # WeChat's retry of the region answer, after the restart: the same reply, not run again
    assert ASKS_DESCRIPTION in bot.say("oHalfway", "2", msg_id=answered)
    assert ASKS_PHOTOS in bot.say("oHalfway", LAMP)
    summary = bot.says("oHalfway", "跳过", "13800138000", "2")
    assert "1. 类型：投诉" in summary and "3. 所在区域：东城街道" in summary, summary
    assert "编号：LX" in bot.say("oHalfway", "确认")
    # it holds personal data: only the bot's user may read it
    assert stat.S_IMODE(bot.snapshot.stat().st_mode) == 0o600


def test_a_graceful_stop_writes_a_clean_snapshot(start_bot: BotFactory) -> None:
    bot = start_bot()
    to_region(bot, "oClean")
    assert bot.stop(signal.SIGTERM) == 0
    doc = json.loads(bot.snapshot.read_text(encoding="utf-8"))
    assert doc["clean"] is True
    assert (bot.saved_state("oClean") or {}).get("step") == "region"
    assert not bot.journal.exists()  # all it said is in the snapshot


def test_a_replayed_nonce_with_another_body_after_a_restart_is_refused(
    start_bot: BotFactory,
) -> None:
    bot = start_bot()
    stamp = int(time.time())
    first = SIGNER.sign(text_xml("oNonce", "你好"), nonce="n0nce4restart", timestamp=stamp)
    assert bot.post(first).status_code == 200
    bot.restart(signal.SIGINT)
    other = SIGNER.sign(text_xml("oNonce", "转账给我"), nonce="n0nce4restart", timestamp=stamp)
    assert bot.post(other).status_code == 403
    # the very same request again (WeChat's retry) is still let through
    assert bot.post(first).status_code == 200


def test_kill_9_mid_form_is_announced_once_and_only_to_that_citizen(
    start_bot: BotFactory,
) -> None:
    bot = start_bot(save_interval=3600)  # no background save: the kill loses all since start
    to_region(bot, "oKilled")
    assert bot.say("oIdle", "你好")
    bot.restart(signal.SIGKILL)
    assert bot.say("oKilled", "2") == LOST
    again = bot.say("oKilled", "2")
    assert LOST not in again and again  # once
    idle = bot.say("oIdle", "你好")
    assert "因系统重启" not in idle and idle.startswith(GREETING)
    assert ASKS_REGION in bot.says("oKilled", "我要反映", "1", "1")  # and it can start again


def test_kill_9_loses_only_the_forms_that_changed_since_the_last_save(
    start_bot: BotFactory,
) -> None:
    bot = start_bot(save_interval=3600)
    to_region(bot, "oMovedOn")
    to_region(bot, "oWaiting")
    bot.restart(signal.SIGTERM)  # both saved at the region question
    assert ASKS_DESCRIPTION in bot.say("oMovedOn", "2")  # not saved again before the kill
    bot.restart(signal.SIGKILL)
    # the saved state asks the region again; the citizen answers the description
    assert bot.say("oMovedOn", LAMP) == LOST
    assert ASKS_DESCRIPTION in bot.say("oWaiting", "2")


def test_the_background_save_keeps_a_form_through_kill_9(start_bot: BotFactory) -> None:
    bot = start_bot(save_interval=0.2)
    to_region(bot, "oSaved")
    deadline = time.monotonic() + 20
    while (bot.saved_state("oSaved") or {}).get("step") != "region":
        assert time.monotonic() < deadline, "no background save of the form"
        time.sleep(0.05)
    bot.restart(signal.SIGKILL)
    assert ASKS_DESCRIPTION in bot.say("oSaved", "2")


def test_lianxin_dev_saves_the_store_when_stopped(env: dict[str, str], tmp_path: Path) -> None:
    platform_port = free_port()
    dev_env = {**env, "LIANXIN_WECHAT_API_BASE": f"http://127.0.0.1:{platform_port}",
               "PYTHONPATH": str(ROOT)}  # it runs in tmp_path; the code is this checkout's
    bot = Bot(dev_env, tmp_path / "unused.log")

    def run_dev() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "dev", "--platform-port", str(platform_port)],
            env=dev_env, cwd=tmp_path, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / ".run" / "bot.log").read_text()
            try:
                if requests.get(f"{bot.url}/healthz", timeout=1).status_code == 200:
                    return process
            except requests.ConnectionError:
                time.sleep(0.1)
        process.kill()
        raise AssertionError("lianxin dev did not start the bot")

    dev = run_dev()
    try:
        to_region(bot, "oDev")
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=30) == 0
        assert (bot.saved_state("oDev") or {}).get("step") == "region"
        dev = run_dev()
        assert ASKS_DESCRIPTION in bot.say("oDev", "2")
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=30)
