"""Callback throughput benchmark: lianxin's edge against a bare wechatpy baseline.

Drives running servers from this process with safe-mode (``encrypt_type=aes``) text messages
and prints, per scenario, msgs/s, p50/p99 latency, the load generator's own CPU share and the
server's, and the ratio to the baseline measured in the same run:

* ``baseline``: ``bench/baseline_server.py``, a bare aiohttp handler that verifies, decrypts,
  parses and answers an encrypted TextReply with wechatpy and does nothing else;
* ``lianxin-memory``: ``lianxin serve`` (default handler) on in-process stores;
* ``lianxin-redis``: the same with ``LIANXIN_REDIS_URL`` pointing at a redis-server this
  script starts on a free port (``--save '' --appendonly no``) and stops at the end.

Each server runs as one process pinned to ``--server-cpu`` (``taskset``); the generator runs
here, pinned to ``--client-cpu``. Every request (signed query, encrypted body, unique nonce and
MsgId, current timestamp) is built before the timed phase. Every answer must be HTTP 200 and
an encrypted reply whose ``MsgSignature`` holds and that decrypts to a text reply addressed to
the sender; anything else counts as an error.

Usage::

    .venv/bin/python bench/callback.py            # full run: 20,000 messages per scenario
    .venv/bin/python bench/callback.py --quick    # short run

Exit status: 0 all targets met, 1 a target missed, 2 requests failed, 3 the run could not
complete (a server did not start, time limit, interrupted). Only 127.0.0.1 is ever contacted;
child processes are stopped on every way out, and die with this process if it is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import xmltodict
from common import (
    HOST,
    REPO_ROOT,
    START_TIMEOUT,
    BenchError,
    Children,
    cpu_seconds,
    free_port,
    handle_stop_signals,
    new_aes_key,
    run_to_end,
    wait_http_ready,
)
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.messages import TextMessage
from yarl import URL

BASELINE_SERVER = REPO_ROOT / "bench" / "baseline_server.py"

# Credentials of the benchmark's own made-up account; nothing here is a real account.
TOKEN = "lianxinbench2024"
APP_ID = "wx0123456789bench"
APP_SECRET = "bench-secret-not-a-real-one"
ACCOUNT_ID = "gh_0123456789ab"
MESSAGE_TEXT = "您好，我想反映一下小区夜间施工噪音扰民的问题，请问应该怎么办理？"

SCENARIOS = ("baseline", "lianxin-memory", "lianxin-redis")
TARGETS = {"lianxin-memory": 0.70, "lianxin-redis": 0.50}

HEADERS = {"Content-Type": "text/xml; charset=utf-8"}

EXIT_OK, EXIT_TARGET, EXIT_ERRORS, EXIT_ABORTED = 0, 1, 2, 3


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    count: int
    warmup: int
    concurrency: int
    users: int
    scenarios: tuple[str, ...]
    rounds: int
    server_cpu: int | None
    client_cpu: int | None
    redis_cpu: int | None
    request_timeout: float
    time_limit: float
    seed: int
    json_path: Path | None
    keep_logs: bool


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/callback.py",
        description="Safe-mode callback throughput: lianxin (memory, Redis) vs a wechatpy "
        "baseline, in one run.",
    )
    parser.add_argument("--count", type=int, default=20_000,
                        help="timed messages per scenario (default 20000)")
    parser.add_argument("--warmup", type=int, default=2_000,
                        help="untimed warm-up messages per scenario (default 2000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every scenario; the table shows each scenario's "
                        "median round (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="short run: one round of 2000 timed and 300 warm-up messages")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="requests in flight (default 64)")
    parser.add_argument("--users", type=int, default=1_000,
                        help="distinct senders (default 1000)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    parser.add_argument("--server-cpu", type=int, default=0,
                        help="CPU the server is pinned to (default 0; -1: no pinning)")
    parser.add_argument("--client-cpu", type=int, default=1,
                        help="CPU the generator is pinned to (default 1; -1: no pinning)")
    parser.add_argument("--redis-cpu", type=int, default=1,
                        help="CPU redis-server is pinned to (default 1, beside the generator, "
                        "so the lianxin process has its core to itself; -1: no pinning)")
    parser.add_argument("--request-timeout", type=float, default=10.0,
                        help="seconds before a request counts as failed (default 10)")
    parser.add_argument("--time-limit", type=float, default=900.0,
                        help="seconds the whole run may take (default 900)")
    parser.add_argument("--seed", type=int, default=20240601,
                        help="seed for the sender of each message")
    parser.add_argument("--json", type=Path, default=None, dest="json_path",
                        help="also write the results as JSON to this file")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the temp directory with server logs and the database")
    args = parser.parse_args(argv)
    count, warmup, rounds = ((2_000, 300, 1) if args.quick
                             else (args.count, args.warmup, args.rounds))
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or not scenarios:
        parser.error(f"unknown scenario {unknown[0] if unknown else '(none)'}")
    if count < 1 or warmup < 0 or rounds < 1 or args.concurrency < 1 or args.users < 1:
        parser.error("--count, --rounds, --concurrency and --users must be positive, "
                     "--warmup >= 0")

    def cpu(value: int) -> int | None:
        return None if value < 0 else value

    return Options(
        count=count, warmup=warmup, concurrency=args.concurrency, users=args.users,
        scenarios=scenarios, rounds=rounds, server_cpu=cpu(args.server_cpu),
        client_cpu=cpu(args.client_cpu), redis_cpu=cpu(args.redis_cpu),
        request_timeout=args.request_timeout, time_limit=args.time_limit, seed=args.seed,
        json_path=args.json_path, keep_logs=args.keep_logs,
    )


# -- redis -----------------------------------------------------------------------------------

async def wait_redis_ready(children: Children, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        children.check_alive("redis")
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                if (await asyncio.wait_for(reader.readline(), 1.0)).startswith(b"+PONG"):
                    return
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        if time.monotonic() > deadline:
            raise BenchError(f"redis-server did not answer PING within {START_TIMEOUT:.0f} s:\n"
                             f"{children.log_tail('redis')}")
        await asyncio.sleep(0.05)


# -- requests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request, ready to send: what WeChat would POST for one text message."""

    url: URL
    body: bytes
    user: str
    nonce: str


def _signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


class RequestFactory:
    """Builds signed, encrypted callbacks; MsgIds and nonces never repeat within a run."""

    def __init__(self, aes_key: str, users: int, seed: int) -> None:
        self._prp = PrpCrypto(WeChatCrypto(TOKEN, aes_key, APP_ID).key)
        self._users = [f"oBench{i:06d}" + hashlib.sha1(str(i).encode()).hexdigest()[:16]
                       for i in range(users)]
        self._rng = random.Random(seed)
        self._serial = int(time.time() * 1000) * 1000

    def build(self, port: int, count: int) -> list[Prepared]:
        timestamp = str(int(time.time()))
        prepared: list[Prepared] = []
        for _ in range(count):
            self._serial += 1
            user = self._rng.choice(self._users)
            nonce = str(self._serial)
            inner = (
                f"<xml><ToUserName><![CDATA[{ACCOUNT_ID}]]></ToUserName>"
                f"<FromUserName><![CDATA[{user}]]></FromUserName>"
                f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{MESSAGE_TEXT}]]></Content>"
                f"<MsgId>{self._serial}</MsgId></xml>"
            )
            encrypted = self._prp.encrypt(inner, APP_ID).decode("ascii")
            query = (
                f"signature={_signature(TOKEN, timestamp, nonce)}&timestamp={timestamp}"
                f"&nonce={nonce}&openid={user}&encrypt_type=aes"
                f"&msg_signature={_signature(TOKEN, timestamp, nonce, encrypted)}"
            )
            body = (f"<xml><ToUserName><![CDATA[{ACCOUNT_ID}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode("ascii")
            url = URL(f"http://{HOST}:{port}/wechat?{query}", encoded=True)
            prepared.append(Prepared(url, body, user, nonce))
        return prepared


# -- load generator --------------------------------------------------------------------------


@dataclass(slots=True)
class Phase:
    """What came back for each request of one phase, indexed like the requests."""

    latencies: list[float]
    statuses: list[int]  # 0: no HTTP answer (see ``transport_errors``)
    bodies: list[bytes]
    transport_errors: Counter[str]
    wall: float = 0.0
    cpu: float = 0.0


async def drive(session: aiohttp.ClientSession, requests: list[Prepared],
                concurrency: int) -> Phase:
    """Send every request with ``concurrency`` in flight; closed loop, no pacing."""
    n = len(requests)
    phase = Phase([0.0] * n, [0] * n, [b""] * n, Counter())
    indexes = iter(range(n))  # shared by the workers: each takes the next unsent request
    clock = time.perf_counter

    async def worker() -> None:
        for i in indexes:
            request = requests[i]
            started = clock()
            try:
                async with session.post(request.url, data=request.body,
                                        headers=HEADERS) as resp:
                    phase.bodies[i] = await resp.read()
                    phase.statuses[i] = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                phase.transport_errors[type(exc).__name__] += 1
            phase.latencies[i] = clock() - started

    cpu_before, wall_before = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    phase.wall = time.perf_counter() - wall_before
    phase.cpu = time.process_time() - cpu_before
    return phase


# -- checking answers ------------------------------------------------------------------------


class ReplyChecker:
    """Checks that an answer is a valid encrypted text reply to the request's sender."""

    def __init__(self, aes_key: str) -> None:
        self._crypto = WeChatCrypto(TOKEN, aes_key, APP_ID)

    def problem(self, request: Prepared, status: int, body: bytes) -> str | None:
        if status == 0:
            return None  # counted as a transport error already
        if status != 200:
            return f"HTTP {status}"
        try:
            outer = xmltodict.parse(body)["xml"]
            inner = self._crypto.decrypt_message(
                body.decode("utf-8"), outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]
            )
            reply = parse_message(inner)
        except Exception as exc:
            return f"not an encrypted reply ({type(exc).__name__})"
        if outer["Nonce"] != request.nonce:
            return "reply nonce differs from the request's"
        if not isinstance(reply, TextMessage) or not reply.content:
            return "reply is not a non-empty text"
        if reply.target != request.user or reply.source != ACCOUNT_ID:
            return "reply addressed to someone else"
        return None

    def errors(self, requests: list[Prepared], phase: Phase) -> Counter[str]:
        found: Counter[str] = Counter(phase.transport_errors)
        for request, status, body in zip(requests, phase.statuses, phase.bodies, strict=True):
            problem = self.problem(request, status, body)
            if problem is not None:
                found[problem] += 1
        return found


# -- scenarios -------------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    scenario: str
    round: int
    messages: int
    seconds: float
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    generator_cpu_pct: float
    server_cpu_pct: float
    redis_cpu_pct: float | None
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of ``values`` (0 < share <= 1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Bench:
    def __init__(self, options: Options, children: Children, work_dir: Path) -> None:
        self.options = options
        self.children = children
        self.work_dir = work_dir
        self.aes_key = new_aes_key()
        self.factory = RequestFactory(self.aes_key, options.users, options.seed)
        self.checker = ReplyChecker(self.aes_key)
        self.database_url = f"sqlite+aiosqlite:///{work_dir / 'lianxin.db'}"
        self.results: list[Result] = []

    def lianxin_env(self, port: int, redis_url: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
        env.update({
            "LIANXIN_WECHAT_TOKEN": TOKEN,
            "LIANXIN_WECHAT_APP_ID": APP_ID,
            "LIANXIN_WECHAT_APP_SECRET": APP_SECRET,
            "LIANXIN_WECHAT_AES_KEY": self.aes_key,
            # nothing should call the WeChat API here; if anything does, it stays local
            "LIANXIN_WECHAT_API_BASE": f"http://{HOST}:9",
            "LIANXIN_DATABASE_URL": self.database_url,
            "LIANXIN_HOST": HOST,
            "LIANXIN_PORT": str(port),
        })
        if redis_url is not None:
            env["LIANXIN_REDIS_URL"] = redis_url
        return env

    def upgrade_database(self) -> None:
        """Migrate and load the routing catalogue, as ``make run`` does: the bot then reads
        the catalogue on its hot path (the message names 噪音, a catalogue keyword)."""
        for command in (["db", "upgrade"], ["config", "load"]):
            done = subprocess.run(
                [sys.executable, "-m", "bot.cli", *command], cwd=REPO_ROOT,
                env=self.lianxin_env(free_port(), None), capture_output=True, text=True,
                timeout=120, check=False,
            )
            if done.returncode != 0:
                raise BenchError(f"lianxin {' '.join(command)} failed:\n"
                                 f"{done.stdout}{done.stderr}")

    async def run(self) -> None:
        if any(s.startswith("lianxin") for s in self.options.scenarios):
            self.upgrade_database()
        for round_no in range(1, self.options.rounds + 1):
            for scenario in self.options.scenarios:
                await self.one(scenario, round_no)

    async def one(self, scenario: str, round_no: int) -> None:
        where = f"round {round_no}/{self.options.rounds} {scenario}"
        print(f"-- {where}: starting", flush=True)
        result = await self.scenario(scenario, round_no)
        self.results.append(result)
        print(f"-- {where}: {result.msgs_per_s:,.0f} msgs/s, p50 {result.p50_ms:.1f} ms,"
              f" p99 {result.p99_ms:.1f} ms, generator CPU "
              f"{result.generator_cpu_pct:.0f} %, server CPU "
              f"{result.server_cpu_pct:.0f} %, errors {result.error_count}", flush=True)

    async def scenario(self, scenario: str, round_no: int) -> Result:
        opts = self.options
        port = free_port()
        redis_port: int | None = None
        try:
            if scenario == "baseline":
                argv = [sys.executable, str(BASELINE_SERVER), "--port", str(port),
                        "--token", TOKEN, "--aes-key", self.aes_key, "--app-id", APP_ID]
                self.children.start(scenario, argv, cpu=opts.server_cpu)
            else:
                redis_url = None
                if scenario == "lianxin-redis":
                    redis_port = free_port()
                    redis_url = f"redis://{HOST}:{redis_port}/0"
                    self.start_redis(redis_port)
                    await wait_redis_ready(self.children, redis_port)
                self.children.start(scenario, [sys.executable, "-m", "bot.cli", "serve"],
                                    env=self.lianxin_env(port, redis_url), cpu=opts.server_cpu)
            await wait_http_ready(self.children, scenario, f"http://{HOST}:{port}/healthz")
            return await self.measure(scenario, round_no, port)
        finally:
            self.children.stop(scenario)
            self.children.stop("redis")

    def start_redis(self, port: int) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise BenchError("redis-server not found (apt-get install -y redis-server)")
        self.children.start(
            "redis",
            [server, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--protected-mode", "yes", "--daemonize", "no"],
            cpu=self.options.redis_cpu,
        )

    async def measure(self, scenario: str, round_no: int, port: int) -> Result:
        opts = self.options
        server_pid = self.children.pid(scenario)
        redis_pid = self.children.pid("redis") if scenario == "lianxin-redis" else None
        connector = aiohttp.TCPConnector(limit=opts.concurrency, limit_per_host=opts.concurrency)
        timeout = aiohttp.ClientTimeout(total=opts.request_timeout)
        errors: Counter[str] = Counter()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            if opts.warmup:
                warm = self.factory.build(port, opts.warmup)
                errors += self.checker.errors(warm, await drive(session, warm, opts.concurrency))
            requests = self.factory.build(port, opts.count)
            server_cpu = cpu_seconds(server_pid)
            redis_cpu = cpu_seconds(redis_pid) if redis_pid is not None else 0.0
            phase = await drive(session, requests, opts.concurrency)
            server_cpu = cpu_seconds(server_pid) - server_cpu
            if redis_pid is not None:
                redis_cpu = cpu_seconds(redis_pid) - redis_cpu
        self.children.check_alive(scenario)
        errors += self.checker.errors(requests, phase)
        answered = [lat for lat, st in zip(phase.latencies, phase.statuses, strict=True) if st]
        return Result(
            scenario=scenario,
            round=round_no,
            messages=opts.count,
            seconds=round(phase.wall, 3),
            msgs_per_s=opts.count / phase.wall,
            p50_ms=percentile(answered, 0.50) * 1000 if answered else math.nan,
            p99_ms=percentile(answered, 0.99) * 1000 if answered else math.nan,
            generator_cpu_pct=100 * phase.cpu / phase.wall,
            server_cpu_pct=100 * server_cpu / phase.wall,
            redis_cpu_pct=100 * redis_cpu / phase.wall if redis_pid is not None else None,
            errors=dict(errors),
        )


# -- report ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """One scenario over every round: its median round, and what any round went through."""

    scenario: str
    median: Result
    rates: list[float]
    errors: Counter[str]
    ratio: float | None  # median msgs/s over the baseline's median msgs/s
    ratios: list[float]  # per round, against the same round's baseline
    verdict: str  # PASS, FAIL, or "" when there is no target or no baseline


def summarise(results: list[Result]) -> list[Summary]:
    by_scenario: dict[str, list[Result]] = {}
    for r in results:
        by_scenario.setdefault(r.scenario, []).append(r)
    baselines = {r.round: r for r in by_scenario.get("baseline", [])}
    base_median = (_median(by_scenario["baseline"]).msgs_per_s if baselines else None)
    out: list[Summary] = []
    for scenario, rounds in by_scenario.items():
        median = _median(rounds)
        errors: Counter[str] = Counter()
        for r in rounds:
            errors.update(r.errors)
        ratio = median.msgs_per_s / base_median if base_median else None
        ratios = [r.msgs_per_s / baselines[r.round].msgs_per_s
                  for r in rounds if r.round in baselines]
        verdict = ""
        if scenario in TARGETS and ratio is not None:
            ok = ratio >= TARGETS[scenario] and not errors
            verdict = "PASS" if ok else "FAIL"
        out.append(Summary(scenario, median, [r.msgs_per_s for r in rounds], errors, ratio,
                           ratios, verdict))
    return out


def _median(rounds: list[Result]) -> Result:
    """The round with the median throughput (the lower one of the middle two if even)."""
    ordered = sorted(rounds, key=lambda r: r.msgs_per_s)
    return ordered[(len(ordered) - 1) // 2]


def table(summaries: list[Summary]) -> str:
    header = ("| scenario | msgs/s | p50 ms | p99 ms | generator CPU % | server CPU % "
              "| errors | vs baseline | target | result |")
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in summaries:
        r = s.median
        server = f"{r.server_cpu_pct:.0f}"
        if r.redis_cpu_pct is not None:
            server += f" (+ redis {r.redis_cpu_pct:.0f})"
        target = f"≥ {100 * TARGETS[s.scenario]:.0f} %" if s.scenario in TARGETS else "—"
        if s.scenario == "baseline":
            ratio = "100 %"
        elif s.ratio is None:
            ratio = "no baseline"
        else:
            ratio = f"{100 * s.ratio:.1f} %"
        lines.append(
            f"| {s.scenario} | {r.msgs_per_s:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
            f"| {r.generator_cpu_pct:.0f} | {server} | {sum(s.errors.values())} | {ratio} "
            f"| {target} | {s.verdict or '—'} |"
        )
    return "\n".join(lines)


def report(options: Options, results: list[Result]) -> int:
    summaries = summarise(results)
    print()
    print(f"{options.count:,} timed messages per scenario and round after {options.warmup:,} "
          f"warm-up, {options.rounds} round(s), {options.concurrency} in flight, "
          f"{options.users:,} users; server on CPU {options.server_cpu}, generator on CPU "
          f"{options.client_cpu}, redis-server on CPU {options.redis_cpu}")
    if options.rounds > 1:
        print("each row is the scenario's median round; vs baseline = median over median")
    print(table(summaries))
    if options.rounds > 1:
        for s in summaries:
            rates = ", ".join(f"{rate:,.0f}" for rate in s.rates)
            line = f"  {s.scenario}: msgs/s per round {rates}"
            if s.scenario != "baseline" and s.ratios:
                line += ("; vs the same round's baseline "
                         + ", ".join(f"{100 * x:.1f} %" for x in s.ratios))
            print(line)
    status = EXIT_OK
    if any(r.generator_cpu_pct >= 90 for r in results):
        print("note: the generator used >= 90 % of its core: it may be the bottleneck")
    if any(r.server_cpu_pct < 90 for r in results):
        print("note: a server used < 90 % of its core in some round: it was not saturated "
              "there (machine noise, or the generator could not keep up)")
    if any(s.scenario in TARGETS and s.ratio is None for s in summaries):
        print("note: no baseline in this run, so no target is judged")
    if any(s.verdict == "FAIL" for s in summaries):
        status = EXIT_TARGET
    failed = [s for s in summaries if s.errors]
    if failed:
        status = EXIT_ERRORS
        for s in failed:
            detail = ", ".join(f"{n} × {what}" for what, n in sorted(s.errors.items()))
            print(f"ERRORS in {s.scenario}: {sum(s.errors.values())} ({detail})")
    if options.json_path is not None:
        payload: dict[str, Any] = {
            "options": {k: (str(v) if isinstance(v, Path) else v)
                        for k, v in asdict(options).items()},
            "results": [asdict(r) for r in results],
            "summary": [
                {"scenario": s.scenario, "median_round": s.median.round,
                 "msgs_per_s": s.median.msgs_per_s, "ratio": s.ratio, "ratios": s.ratios,
                 "errors": dict(s.errors), "result": s.verdict or None}
                for s in summaries
            ],
        }
        options.json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return status


# -- entry point -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    if options.client_cpu is not None:
        try:
            os.sched_setaffinity(0, {options.client_cpu})
        except OSError as exc:
            print(f"bench: cannot pin the generator to CPU {options.client_cpu}: {exc}",
                  file=sys.stderr)
            return EXIT_ABORTED
    handle_stop_signals()
    work_dir = Path(tempfile.mkdtemp(prefix="lianxin-bench-"))
    children = Children(work_dir)
    bench = Bench(options, children, work_dir)
    if not run_to_end(asyncio.wait_for(bench.run(), options.time_limit), children, work_dir,
                      time_limit=options.time_limit, keep_logs=options.keep_logs,
                      kept="logs and database"):
        return EXIT_ABORTED
    return report(options, bench.results)


if __name__ == "__main__":
    sys.exit(main())
