"""Client CPU per Redis script call: one at a time vs batched in pipelines.

Why the Redis store auto-pipelines the edge's scripts: redis-py spends most of a
command's cost in Python. This starts a throw-away redis-server on a free loopback port,
then makes the same number of EVALSHA calls of a one-line script (SET NX PX) alone with
64 in flight (the baseline: what the store did before) and in pipelines of 4, 16 and 64,
and prints the client's CPU microseconds per call for each.

    .venv/bin/python bench/redis_pipelining.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import time

from redis.asyncio import Redis

SCRIPT = "return redis.call('set', KEYS[1], ARGV[1], 'px', 5000, 'nx')"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def measure(url: str, calls: int) -> list[tuple[str, float]]:
    redis: Redis = Redis.from_url(url)
    rows: list[tuple[str, float]] = []
    try:
        sha = await redis.script_load(SCRIPT)
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with gate:
                await redis.evalsha(sha, 1, f"k{i}", "1")

        started = time.process_time()
        await asyncio.gather(*(one(i) for i in range(calls)))
        rows.append(("alone, 64 in flight (baseline)",
                     (time.process_time() - started) / calls * 1e6))
        await redis.flushdb()
        for size in (4, 16, 64):
            started = time.process_time()
            for first in range(0, calls, size):
                pipe = redis.pipeline(transaction=False)
                for i in range(first, min(calls, first + size)):
                    pipe.evalsha(sha, 1, f"k{i}", "1")
                await pipe.execute()
            rows.append((f"pipelines of {size}", (time.process_time() - started) / calls * 1e6))
            await redis.flushdb()
    finally:
        await redis.aclose()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    options = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server not found (apt-get install -y redis-server)")
        return 2
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        rows = asyncio.run(measure(f"redis://127.0.0.1:{port}/0", options.calls))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"{options.calls:,} EVALSHA calls each; client CPU per call")
    print("| how | µs per call |\n|---|---:|")
    for label, micros in rows:
        print(f"| {label} | {micros:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
