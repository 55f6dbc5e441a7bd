"""Outbox drain rate: how fast ``lianxin scheduler`` empties the outbox into the dev platform.

Scenarios, run in turn, each against a fresh ``lianxin devplatform`` process (its customer
-service window and quota rules enforced) and a flushed redis-server:

* ``baseline``: no database and no worker. This process sends the same customer-service and
  template API calls straight to the platform with aiohttp, ``BATCH`` in flight (the delivery
  worker's batch): the platform's own ceiling on this machine;
* ``sqlite-1``: one ``lianxin scheduler --interval 0.05`` on a fresh SQLite file;
* ``postgres-1`` / ``postgres-2``: one or two schedulers on a fresh PostgreSQL database
  (claims with ``FOR UPDATE SKIP LOCKED``).

Every scenario starts the same way: the platform and ``lianxin serve`` come up, every user
writes the account one text message through the platform's callback side (so the platform
opens a 48-hour window with 5 customer-service sends, and the bot records the window in
Redis, where the workers read it), then the bot is stopped. The outbox is filled with
``--count`` ``ticket_status`` pushes spread evenly over ``--users`` users, not yet due; the
workers are started and, once all are ready, the pushes are made due and the clock starts.
Each user's first 5 pushes go out as customer-service messages, the rest fall back to template
messages (the purpose has a template): a realistic mix. The drain ends at the last push's
``sent_at``. TEMPLATESENDJOBFINISH events are deferred past the run
(``--template-event-delay 600``) so they neither load the platform nor turn pushes into
``delivered`` during the measurement.

Correctness, per scenario: every push ``sent``, and for every user the platform's inbox holds
exactly that user's pushes, each once, in the order they were queued. Anything else makes the
run exit 2.

Usage::

    .venv/bin/python bench/outbox.py            # 5,000 pushes over 500 users per scenario
    .venv/bin/python bench/outbox.py --quick    # 500 pushes over 50 users

Exit status: 0 all good, 2 a correctness check failed, 3 the run could not complete (a
process did not start, time limit, interrupted). Only 127.0.0.1 is ever contacted; child
processes are stopped on every way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from common import (
    HOST,
    REPO_ROOT,
    START_TIMEOUT,
    BenchError,
    Children,
    cpu_seconds,
    free_port,
    handle_stop_signals,
    machine_line,
    new_aes_key,
    run_to_end,
    stat_fields,
    wait_http_ready,
)

if str(REPO_ROOT) not in sys.path:  # run as a script: bench/ is on the path, the repo is not
    sys.path.insert(0, str(REPO_ROOT))

import redis.asyncio as aioredis
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from devplatform.identity import openid_for
from domain.delivery import MESSAGE_QUOTA
from storage import db
from storage.keys import KeyBuilder
from storage.models import Push
from storage.outbox import add_push, new_key
from tests import servers

# The benchmark's own made-up account; nothing here is a real account.
TOKEN = "lianxinbench2024"
APP_ID = "wx0123456789outbx"
APP_SECRET = "bench-secret-not-a-real-one"
ACCOUNT = "default"  # the name lianxin gives the account of the LIANXIN_WECHAT_* settings

PURPOSE = "ticket_status"  # config/delivery.toml: template TM_TICKET_STATUS
TEMPLATE_ID = "TM_TICKET_STATUS"
BATCH = 50  # DeliveryWorker's default batch: pushes one worker has in flight
USER_MESSAGE = "你好，我想问一下我的留言办得怎么样了"

SCENARIOS = ("baseline", "sqlite-1", "postgres-1", "postgres-2")

POLL_EVERY = 0.2
TEMPLATE_EVENT_DELAY = 600.0  # the platform's longest: no delivery reports during a run

EXIT_OK, EXIT_WRONG, EXIT_ABORTED = 0, 2, 3

_SIGNALS: list[int] = []  # signals received: the run stops at the next check


def check_stop() -> None:
    """Stop between steps once a signal came, even if a cancellation got lost on the way."""
    if _SIGNALS:
        raise KeyboardInterrupt(f"signal {_SIGNALS[0]}")


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    count: int
    users: int
    scenarios: tuple[str, ...]
    interval: float
    worker_cpus: tuple[int, ...]  # worker i runs on worker_cpus[i % len]; empty: no pinning
    platform_cpu: int | None
    bench_cpu: int | None
    drain_limit: float
    time_limit: float
    json_path: Path | None
    keep_logs: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/outbox.py",
        description="Outbox drain rate through the dev platform: baseline (direct API "
        "calls), SQLite with 1 worker, PostgreSQL with 1 and 2 workers.",
    )
    parser.add_argument("--count", type=int, default=5_000,
                        help="pushes per scenario (default 5000)")
    parser.add_argument("--users", type=int, default=500,
                        help="users the pushes are spread over (default 500)")
    parser.add_argument("--quick", action="store_true",
                        help="short run: 500 pushes over 50 users (the same 10 per user)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    parser.add_argument("--interval", type=float, default=0.05,
                        help="lianxin scheduler --interval (default 0.05)")
    cpus = sorted(os.sched_getaffinity(0))
    parser.add_argument("--worker-cpus", default=",".join(str(c) for c in cpus),
                        help="CPUs the workers are pinned to, worker i on the i-th (default "
                        "every CPU: one worker per CPU; 'none': no pinning)")
    parser.add_argument("--platform-cpu", type=int, default=cpus[-1],
                        help=f"CPU the dev platform is pinned to (default the last, {cpus[-1]};"
                        " -1: no pinning)")
    parser.add_argument("--bench-cpu", type=int, default=cpus[0],
                        help=f"CPU this process (the baseline's client) is pinned to (default "
                        f"{cpus[0]}; -1: no pinning)")
    parser.add_argument("--drain-limit", type=float, default=180.0,
                        help="seconds one scenario's drain may take (default 180)")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="seconds the whole run may take (default 600)")
    parser.add_argument("--json", type=Path, default=None, dest="json_path",
                        help="also write the results as JSON to this file")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the temp directory with the children's logs")
    args = parser.parse_args(argv)
    count, users = (500, 50) if args.quick else (args.count, args.users)
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or not scenarios:
        parser.error(f"unknown scenario {unknown[0] if unknown else '(none)'}")
    if count < 1 or users < 1 or count < users:
        parser.error("--count and --users must be positive, and --count >= --users")
    if not 0 < args.interval <= 10:
        parser.error("--interval must be more than 0 and at most 10 seconds")
    worker_cpus: tuple[int, ...] = ()
    if args.worker_cpus.strip().lower() != "none":
        try:
            worker_cpus = tuple(int(c) for c in args.worker_cpus.split(",") if c.strip())
        except ValueError:
            parser.error("--worker-cpus is a comma-separated list of CPU numbers, or none")

    def cpu(value: int) -> int | None:
        return None if value < 0 else value

    return Options(
        count=count, users=users, scenarios=scenarios, interval=args.interval,
        worker_cpus=worker_cpus, platform_cpu=cpu(args.platform_cpu),
        bench_cpu=cpu(args.bench_cpu), drain_limit=args.drain_limit,
        time_limit=args.time_limit, json_path=args.json_path, keep_logs=args.keep_logs,
    )


# -- processes and CPU -------------------------------------------------------------------------

def tree_cpu_seconds(root: int) -> float:
    """CPU time of ``root`` and its live descendants, plus that of children they reaped.

    For PostgreSQL: the postmaster, its backends and auxiliary processes.
    """
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        if fields is None:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(f) for f in fields[11:15]) / tick
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def find_postmaster(port: int) -> int | None:
    """The pid of the postgres server listening on ``port`` (started by tests.servers)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (argv and os.path.basename(argv[0]) == b"postgres" and b"-p" in argv
                and str(port).encode() in argv):
            return int(entry.name)
    return None


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat; busy excludes idle and iowait."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    total = float(sum(values))
    return total - values[3] - values[4], total


# -- what is sent --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """One push: whose, and what identifies it in the platform's inbox."""

    user: int
    ticket_no: str
    text: str

    def fields(self) -> dict[str, str]:
        return {"ticket_no": self.ticket_no, "department": "城市管理执法局",
                "status": "已办结", "time": "2026-11-23 10:00"}


def plan(count: int, users: int) -> list[Planned]:
    """Push ``j`` goes to user ``j % users``: queued interleaved, as real traffic would be."""
    planned = []
    for j in range(count):
        user, k = j % users, j // users
        ticket = f"T{user:05d}-{k:04d}"
        planned.append(Planned(user, ticket, f"您的留言 {ticket} 已办结，答复已发送，请查收。"))
    return planned


def user_name(user: int) -> str:
    return f"u{user:05d}"


# -- results -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    scenario: str
    workers: int
    pushes: int
    seconds: float
    msgs_per_s: float
    custom: int
    template: int
    api_calls: int  # custom/send + template/send calls the platform answered or refused
    workers_cpu_pct: float | None  # summed over workers (may exceed 100)
    client_cpu_pct: float | None  # this process, the baseline's client
    platform_cpu_pct: float
    postgres_cpu_pct: float | None
    redis_cpu_pct: float
    machine_busy_pct: float
    problems: dict[str, int] = field(default_factory=dict)


class Bench:
    def __init__(self, options: Options, children: Children, work_dir: Path,
                 redis_url: str, redis_pid: int, pg_url: str | None) -> None:
        self.options = options
        self.children = children
        self.work_dir = work_dir
        self.redis_url = redis_url
        self.redis_pid = redis_pid
        self.pg_url = pg_url
        self.aes_key = new_aes_key()
        self.keys = KeyBuilder()
        self.planned = plan(options.count, options.users)
        self.openids = [openid_for(APP_ID, user_name(u)) for u in range(options.users)]
        self.results: list[Result] = []

    # -- environment ---------------------------------------------------------------------------

    def env(self, database_url: str, platform_port: int, bot_port: int,
            log_level: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
        env.update({
            "LIANXIN_WECHAT_TOKEN": TOKEN,
            "LIANXIN_WECHAT_APP_ID": APP_ID,
            "LIANXIN_WECHAT_APP_SECRET": APP_SECRET,
            "LIANXIN_WECHAT_AES_KEY": self.aes_key,
            "LIANXIN_WECHAT_API_BASE": f"http://{HOST}:{platform_port}",
            "LIANXIN_DATABASE_URL": database_url,
            "LIANXIN_REDIS_URL": self.redis_url,
            "LIANXIN_HOST": HOST,
            "LIANXIN_PORT": str(bot_port),
            # the bot only sets up users; delivery is the schedulers' job here
            "LIANXIN_DELIVER_IN_PROCESS": "false",
        })
        if log_level is not None:
            env["LIANXIN_LOG_LEVEL"] = log_level
        return env

    async def fresh_database(self, scenario: str) -> str:
        """A new, migrated database for the scenario: a SQLite file or a PostgreSQL database."""
        name = scenario.replace("-", "_")
        if scenario.startswith("postgres"):
            assert self.pg_url is not None
            admin = create_async_engine(self.pg_url, isolation_level="AUTOCOMMIT")
            try:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                    await conn.execute(text(f'CREATE DATABASE "{name}"'))
            finally:
                await admin.dispose()
            url = make_url(self.pg_url).set(database=name).render_as_string(
                hide_password=False)
        else:  # the baseline's bot needs a database too, for what it records of users
            url = f"sqlite+aiosqlite:///{self.work_dir / (name + '.db')}"
        await asyncio.to_thread(db.upgrade, url)
        return url

    async def flush_redis(self) -> None:
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            await client.flushall()
        finally:
            await client.aclose()

    # -- one scenario ------------------------------------------------------------------------

    async def run(self) -> None:
        for scenario in self.options.scenarios:
            check_stop()
            print(f"-- {scenario}: setting up", flush=True)
            result = await self.scenario(scenario)
            self.results.append(result)
            problems = sum(result.problems.values())
            print(f"-- {scenario}: {result.pushes:,} in {result.seconds:.2f} s = "
                  f"{result.msgs_per_s:,.0f} msgs/s ({result.custom} custom, "
                  f"{result.template} template); platform CPU "
                  f"{result.platform_cpu_pct:.0f} %, problems {problems}", flush=True)

    async def scenario(self, scenario: str) -> Result:
        opts = self.options
        workers = 0 if scenario == "baseline" else int(scenario.rsplit("-", 1)[1])
        database_url = await self.fresh_database(scenario)
        await self.flush_redis()
        platform_port, bot_port = free_port(), free_port()
        platform_name, bot_name = f"{scenario}-platform", f"{scenario}-bot"
        try:
            self.children.start(
                platform_name,
                [sys.executable, "-m", "bot.cli", "devplatform", "--host", HOST,
                 "--port", str(platform_port),
                 "--callback", f"http://{HOST}:{bot_port}/wechat",
                 "--template-event-delay", f"{TEMPLATE_EVENT_DELAY:g}"],
                # the platform stands in for WeChat: no per-call INFO log lines
                env=self.env(database_url, platform_port, bot_port, "WARNING"),
                cpu=opts.platform_cpu,
            )
            self.children.start(
                bot_name, [sys.executable, "-m", "bot.cli", "serve"],
                env=self.env(database_url, platform_port, bot_port, "WARNING"))
            await wait_http_ready(self.children, platform_name,
                                  f"http://{HOST}:{platform_port}/dev/healthz", check=check_stop)
            await wait_http_ready(self.children, bot_name, f"http://{HOST}:{bot_port}/healthz",
                                  check=check_stop)
            await self.users_write(platform_port)
            self.children.stop(bot_name)  # only the workers (or the client) from here on
            base = f"http://{HOST}:{platform_port}"
            if workers == 0:
                result = await self.baseline(base, platform_name)
            else:
                result = await self.drain(scenario, workers, database_url, platform_port,
                                          platform_name)
            self.children.check_alive(platform_name)
            result.problems.update(await self.verify(base))
            result.api_calls = await self.api_calls(base)
            if result.api_calls != result.pushes:
                result.problems[f"{result.api_calls - result.pushes} API calls beyond one "
                                "per push (refused or repeated)"] = 1
            return result
        finally:
            for name in self.children.names():
                if name.startswith(f"{scenario}-"):
                    self.children.stop(name)

    async def users_write(self, platform_port: int) -> None:
        """Every user sends one text through the platform's callback side to the bot.

        The platform then allows 5 customer-service messages per user within 48 h, and the
        bot records the window in Redis, where the delivery workers look for it.
        """
        queue: asyncio.Queue[int] = asyncio.Queue()
        for user in range(self.options.users):
            queue.put_nowait(user)
        failures: Counter[str] = Counter()

        async def writer(session: aiohttp.ClientSession) -> None:
            while not queue.empty():
                check_stop()
                user = queue.get_nowait()
                url = f"http://{HOST}:{platform_port}/dev/chat/{user_name(user)}/send"
                async with session.post(url, json={"kind": "text",
                                                   "content": USER_MESSAGE}) as resp:
                    answer = await resp.json()
                kind = answer.get("reply", {}).get("kind") if resp.status == 200 else None
                if kind != "text":
                    failures[f"HTTP {resp.status}, reply {kind}"] += 1

        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(writer(session) for _ in range(16)))
        if failures:
            raise BenchError(f"users could not write to the bot: {dict(failures)}")
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            windows = await client.exists(*(self.keys.window(ACCOUNT, openid, "message")
                                            for openid in self.openids))
        finally:
            await client.aclose()
        if windows != self.options.users:
            raise BenchError(f"the bot recorded {windows} windows for "
                             f"{self.options.users} users")

    # -- the baseline: the platform's ceiling ------------------------------------------------

    async def baseline(self, base: str, platform_name: str) -> Result:
        """The same API calls as the workers make, sent directly: ``BATCH`` users at a time,
        each user's pushes in order, the first ``MESSAGE_QUOTA`` by customer service."""
        by_user: dict[int, list[Planned]] = {}
        for push in self.planned:
            by_user.setdefault(push.user, []).append(push)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for user in by_user:
            queue.put_nowait(user)
        failures: Counter[str] = Counter()
        custom = template = 0
        connector = aiohttp.TCPConnector(limit=BATCH)
        timeout = aiohttp.ClientTimeout(total=10)

        async def call(session: aiohttp.ClientSession, path: str, token: str,
                       body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            async with session.post(
                base + path, params={"access_token": token}, data=data,
                headers={"Content-Type": "application/json; charset=utf-8"},
            ) as resp:
                answer = json.loads(await resp.read())
            if answer.get("errcode", 0) != 0:
                failures[f"{path}: errcode {answer.get('errcode')}"] += 1

        async def sender(session: aiohttp.ClientSession, token: str) -> None:
            nonlocal custom, template
            while not queue.empty():
                user = queue.get_nowait()
                openid = self.openids[user]
                for k, push in enumerate(by_user[user]):
                    if k < MESSAGE_QUOTA:
                        custom += 1
                        await call(session, "/cgi-bin/message/custom/send", token, {
                            "touser": openid, "msgtype": "text", "text": {"content": push.text}})
                    else:
                        template += 1
                        await call(session, "/cgi-bin/message/template/send", token, {
                            "touser": openid, "template_id": TEMPLATE_ID,
                            "client_msg_id": new_key(),
                            "data": {"character_string1": {"value": push.ticket_no},
                                     "thing2": {"value": push.fields()["department"]},
                                     "phrase3": {"value": push.fields()["status"]},
                                     "time4": {"value": push.fields()["time"]}},
                        })

        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            async with session.post(base + "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET,
            }) as resp:
                token = str((await resp.json())["access_token"])
            platform_pid = self.children.pid(platform_name)
            before = self._snapshot([platform_pid], None)
            started = time.perf_counter()
            await asyncio.gather(*(sender(session, token) for _ in range(BATCH)))
            seconds = time.perf_counter() - started
            after = self._snapshot([platform_pid], None)
        usage = _usage(before, after, seconds)
        return Result(
            scenario="baseline", workers=0, pushes=len(self.planned), seconds=seconds,
            msgs_per_s=len(self.planned) / seconds, custom=custom, template=template,
            api_calls=0, workers_cpu_pct=None, client_cpu_pct=usage["self"],
            platform_cpu_pct=usage["platform"], postgres_cpu_pct=None,
            redis_cpu_pct=usage["redis"], machine_busy_pct=usage["machine"],
            problems=dict(failures),
        )

    # -- the outbox and its workers ---------------------------------------------------------

    async def drain(self, scenario: str, workers: int, database_url: str,
                    platform_port: int, platform_name: str) -> Result:
        opts = self.options
        engine = db.make_engine(database_url)
        try:
            await self.fill(engine)
            names = [f"{scenario}-worker{i}" for i in range(workers)]
            env = self.env(database_url, platform_port, free_port(), None)
            for i, name in enumerate(names):
                cpu = opts.worker_cpus[i % len(opts.worker_cpus)] if opts.worker_cpus else None
                self.children.start(
                    name, [sys.executable, "-m", "bot.cli", "scheduler",
                           "--interval", f"{opts.interval:g}"], env=env, cpu=cpu)
            await self.wait_workers(names)
            worker_pids = [self.children.pid(n) for n in names]
            platform_pid = self.children.pid(platform_name)
            postmaster = (find_postmaster(make_url(database_url).port or 0)
                          if scenario.startswith("postgres") else None)
            before = self._snapshot([platform_pid, *worker_pids], postmaster)
            released_at = time.time()
            async with engine.begin() as conn:  # the pushes fall due: the clock starts
                await conn.execute(update(Push).where(Push.status == "queued")
                                   .values(next_attempt_at=datetime.now(UTC)))
            deadline = time.monotonic() + opts.drain_limit
            while True:
                await asyncio.sleep(POLL_EVERY)
                for name in names:
                    self.children.check_alive(name)
                counts = await _status_counts(engine)
                unfinished = sum(counts.get(s, 0) for s in ("queued", "sending", "pending"))
                if counts.get("sent", 0) == len(self.planned) or unfinished == 0:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"{scenario}: not drained within {opts.drain_limit:.0f} s "
                                     f"({counts}); worker log:\n"
                                     f"{self.children.log_tail(names[0])}")
            after = self._snapshot([platform_pid, *worker_pids], postmaster)
            polled_seconds = time.time() - released_at
            for name in names:
                self.children.stop(name)
            async with engine.connect() as conn:
                last = (await conn.execute(select(func.max(Push.sent_at)))).scalar()
                channels = dict((await conn.execute(
                    select(Push.channel, func.count()).where(Push.status == "sent")
                    .group_by(Push.channel))).all())
                tries = (await conn.execute(select(func.sum(Push.attempts)))).scalar() or 0
        finally:
            await engine.dispose()
        problems: dict[str, int] = {}
        bad = {k: v for k, v in counts.items() if k != "sent"}
        if bad:
            problems[f"pushes not sent: {bad}"] = sum(bad.values())
        if tries != len(self.planned):
            problems["claims beyond one per push"] = int(tries) - len(self.planned)
        if last is None:
            raise BenchError(f"{scenario}: no push was sent")
        if last.tzinfo is None:  # SQLite keeps the UTC time without its zone
            last = last.replace(tzinfo=UTC)
        seconds = last.timestamp() - released_at
        usage = _usage(before, after, polled_seconds)
        return Result(
            scenario=scenario, workers=workers, pushes=len(self.planned), seconds=seconds,
            msgs_per_s=counts.get("sent", 0) / seconds, custom=channels.get("custom", 0),
            template=channels.get("template", 0), api_calls=0,
            workers_cpu_pct=sum(usage[f"pid{p}"] for p in worker_pids), client_cpu_pct=None,
            platform_cpu_pct=usage["platform"], postgres_cpu_pct=usage.get("postgres"),
            redis_cpu_pct=usage["redis"], machine_busy_pct=usage["machine"],
            problems=problems,
        )

    async def fill(self, engine: AsyncEngine) -> None:
        """Queue every planned push, as the domain does (``add_push``), not yet due."""
        hold = datetime.now(UTC) + timedelta(days=1)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions.begin() as session:
            for push in self.planned:
                queued = add_push(session, account=ACCOUNT, openid=self.openids[push.user],
                                  purpose=PURPOSE, text=push.text, fields=push.fields())
                queued.next_attempt_at = hold

    async def wait_workers(self, names: list[str]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(names)
        while waiting:
            check_stop()
            for name in list(waiting):
                self.children.check_alive(name)
                if "delivering every" in self.children.log_text(name):
                    waiting.remove(name)
            if time.monotonic() > deadline:
                raise BenchError(f"{waiting[0]} did not start within {START_TIMEOUT:.0f} s:\n"
                                 f"{self.children.log_tail(waiting[0])}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(3 * self.options.interval)  # every scheduler past its first tick

    def _snapshot(self, pids: list[int], postmaster: int | None) -> dict[str, float]:
        """CPU seconds so far of each process of interest, and the machine's jiffies."""
        busy, total = machine_busy()
        shot = {"self": cpu_seconds(os.getpid()), "redis": cpu_seconds(self.redis_pid),
                "platform": cpu_seconds(pids[0]), "busy": busy, "total": total}
        for pid in pids[1:]:
            shot[f"pid{pid}"] = cpu_seconds(pid)
        if postmaster is not None:
            shot["postgres"] = tree_cpu_seconds(postmaster)
        return shot

    # -- checks ------------------------------------------------------------------------------

    async def verify(self, base: str) -> dict[str, int]:
        """Every user's inbox holds their pushes, each exactly once, in queued order."""
        expected: dict[int, list[str]] = {}
        by_text = {p.text: p.ticket_no for p in self.planned}
        for push in self.planned:
            expected.setdefault(push.user, []).append(push.ticket_no)
        problems: Counter[str] = Counter()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            for user, tickets in expected.items():
                async with session.get(f"{base}/dev/chat/{user_name(user)}/inbox",
                                       params={"after": "0", "wait": "0"}) as resp:
                    messages = (await resp.json())["messages"]
                seen: list[str] = []
                for message in messages:
                    if message.get("msgtype") == "text":
                        seen.append(by_text.get(message["text"]["content"], "?"))
                    elif message.get("msgtype") == "template":
                        seen.append(message["template"]["data"].get("character_string1", "?"))
                    else:
                        seen.append(f"?{message.get('msgtype')}")
                if seen == tickets:
                    continue
                if sorted(seen) == sorted(tickets):
                    problems["users whose pushes arrived out of order"] += 1
                elif len(seen) > len(tickets) or len(set(seen)) < len(seen):
                    problems["users sent a push twice (or a stranger's)"] += 1
                else:
                    problems["users missing pushes"] += 1
        return dict(problems)

    async def api_calls(self, base: str) -> int:
        async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                    session.get(f"{base}/dev/admin/faults") as resp):
            calls: dict[str, int] = (await resp.json())["calls"]
        return sum(n for path, n in calls.items()
                   if path in ("/cgi-bin/message/custom/send", "/cgi-bin/message/template/send"))


async def _status_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Push.status, func.count()).group_by(Push.status))
        return {status: int(count) for status, count in rows.all()}


def _usage(before: dict[str, float], after: dict[str, float],
           seconds: float) -> dict[str, float]:
    """CPU % over ``seconds`` for every key of the snapshots; ``machine``: busy % of all CPUs."""
    usage = {k: 100 * (after[k] - before[k]) / seconds
             for k in before if k not in ("busy", "total")}
    usage["machine"] = 100 * (after["busy"] - before["busy"]) / max(
        1.0, after["total"] - before["total"])
    return usage


# -- report ----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def table(results: list[Result]) -> str:
    base = next((r.msgs_per_s for r in results if r.scenario == "baseline"), None)
    lines = [
        "| scenario | pushes | seconds | msgs/s | vs baseline | custom / template "
        "| API calls | workers CPU % | platform CPU % | postgres CPU % | redis CPU % "
        "| machine busy % | check |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = "—" if base is None else f"{100 * r.msgs_per_s / base:.0f} %"
        workers = _pct(r.workers_cpu_pct)
        if r.client_cpu_pct is not None:
            workers = f"(client {r.client_cpu_pct:.0f})"
        check = "ok" if not r.problems else "**FAIL**"
        lines.append(
            f"| {r.scenario} | {r.pushes:,} | {r.seconds:.2f} | {r.msgs_per_s:,.0f} | {ratio} "
            f"| {r.custom:,} / {r.template:,} | {r.api_calls:,} | {workers} "
            f"| {r.platform_cpu_pct:.0f} | {_pct(r.postgres_cpu_pct)} "
            f"| {r.redis_cpu_pct:.0f} | {r.machine_busy_pct:.0f} | {check} |")
    return "\n".join(lines)


def report(options: Options, results: list[Result]) -> int:
    print()
    print(f"{options.count:,} pushes over {options.users:,} users per scenario; "
          f"scheduler --interval {options.interval:g}; workers on CPUs "
          f"{','.join(map(str, options.worker_cpus)) or 'any'}, platform on CPU "
          f"{options.platform_cpu if options.platform_cpu is not None else 'any'}, "
          f"bench/client on CPU {options.bench_cpu if options.bench_cpu is not None else 'any'}")
    print(f"machine: {machine_line()}")
    print(table(results))
    status = EXIT_OK
    for r in results:
        for problem, n in r.problems.items():
            print(f"PROBLEM in {r.scenario}: {problem} ({n})")
            status = EXIT_WRONG
    if options.json_path is not None:
        payload = {
            "options": {k: (str(v) if isinstance(v, Path) else v)
                        for k, v in asdict(options).items()},
            "machine": machine_line(),
            "results": [asdict(r) for r in results],
        }
        options.json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return status


# -- entry point -----------------------------------------------------------------------------


async def _main(options: Options, children: Children, work_dir: Path,
                results: list[Result]) -> None:
    """The run, with SIGINT, SIGTERM and SIGHUP cancelling it (children stopped on the way)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal(signum: int) -> None:
        _SIGNALS.append(signum)
        if task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        with contextlib.ExitStack() as stack:
            redis_url, redis_proc = stack.enter_context(servers.redis_process())
            pg_url = None
            if any(s.startswith("postgres") for s in options.scenarios):
                pg_url = await asyncio.to_thread(stack.enter_context,
                                                 servers.postgres_server())
            bench = Bench(options, children, work_dir, redis_url, redis_proc.pid, pg_url)
            try:
                await asyncio.wait_for(bench.run(), options.time_limit)
            finally:
                results.extend(bench.results)
                children.stop_all()
    except asyncio.CancelledError:
        if _SIGNALS:
            raise KeyboardInterrupt(f"signal {_SIGNALS[0]}") from None
        raise
    if _SIGNALS:  # a cancellation swallowed on the way: still an interrupted run
        raise KeyboardInterrupt(f"signal {_SIGNALS[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    if options.bench_cpu is not None:
        try:
            os.sched_setaffinity(0, {options.bench_cpu})
        except OSError as exc:
            print(f"bench: cannot pin to CPU {options.bench_cpu}: {exc}", file=sys.stderr)
            return EXIT_ABORTED
    handle_stop_signals()
    work_dir = Path(tempfile.mkdtemp(prefix="lianxin-outbox-bench-"))
    children = Children(work_dir)
    results: list[Result] = []
    if not run_to_end(_main(options, children, work_dir, results), children, work_dir,
                      time_limit=options.time_limit, keep_logs=options.keep_logs, kept="logs"):
        return EXIT_ABORTED
    return report(options, results)


if __name__ == "__main__":
    sys.exit(main())
