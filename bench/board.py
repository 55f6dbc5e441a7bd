"""The public board's cost per page (docs/BOARD.md): what an anonymous reader can ask of
the public listener, which also answers WeChat.

On a temporary SQLite file with the demo county's catalogue, ``--tickets`` published and
answered tickets (each description and answer about ``--chars`` characters of complaint
text with phone numbers, ID numbers, plates and addresses in it, as redaction meets
them), the real app (``create_app``) serves, in-process, through aiohttp's test client:

- ``page``: ``GET /board`` (20 read in SQL, 20 redacted);
- ``page-5``: ``GET /board?page=5``;
- ``entry``: ``GET /board/{number}``;
- ``search-cold``: ``GET /board?q=…`` with the redaction cache emptied first: the newest
  1,000 tickets redacted off the event loop, then matched;
- ``search-warm``: the same search again (the redacted text kept).

Each request's wall time is taken ``--count`` times per round; the table shows the best
and median round's median, and the event loop's longest stall seen while the requests
ran (what a WeChat callback arriving at that moment would have waited).

    .venv/bin/python bench/board.py [--tickets 1500] [--chars 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from sqlalchemy import update  # noqa: E402

from bot.app import create_app  # noqa: E402
from bot.board import app as board_app  # noqa: E402
from bot.catalogue_cli import DEFAULT_CATALOGUE, load_catalogue  # noqa: E402
from bot.config import Settings  # noqa: E402
from storage import db  # noqa: E402
from storage.catalogue import CatalogueRepository  # noqa: E402
from storage.models import Ticket  # noqa: E402
from storage.tickets import NewTicket, Tickets  # noqa: E402

PIECE = ("楼上漏水三个月了物业一直不管，我叫张三丰，电话138 0013 8000，身份证430121199001011234，"
         "车牌湘A·12345停在幸福小区3栋2单元501室楼下，幸福路18号门口的路灯也坏了。")


async def fill(url: str, tickets: int, chars: int) -> None:
    engine = db.make_engine(url)
    try:
        catalogue = load_catalogue(DEFAULT_CATALOGUE)
        await CatalogueRepository(engine).save(catalogue, source="bench", digest="bench")
        text = (PIECE * (chars // len(PIECE) + 1))[:chars]
        store = Tickets(engine)
        now = datetime.now(UTC)
        for n in range(tickets):
            made, _ = await store.create(NewTicket(
                idempotency_key=f"b{n}", account="default", openid=f"o{n}", kind="投诉",
                category="zfjs", region="chengguan", department="zjj",
                description=f"{n} {text}", due_on=now.date(), public=True))
            async with engine.begin() as conn:
                await conn.execute(update(Ticket).where(Ticket.id == made.id).values(
                    status="replied", answer=f"已答复第{n}件。{text}", answered_at=now,
                    answer_due_on=now.date()))
    finally:
        await engine.dispose()


class Stalls:
    """The event loop's longest stall while running: a 1 ms ticker's worst lateness."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - start - 0.001)

    def __enter__(self) -> Stalls:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def timed(client: TestClient[Any, Any], path: str, count: int,
                before: Callable[[], None] | None = None) -> tuple[float, float]:
    """The median wall time of ``count`` requests (ms), and the worst loop stall (ms)."""
    times = []
    with Stalls() as stalls:
        for _ in range(count):
            if before is not None:
                before()
            start = time.perf_counter()
            answer = await client.get(path)
            await answer.read()
            assert answer.status == 200, (path, answer.status)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), stalls.worst * 1000


def forget() -> None:
    """Empty the board's cache of redacted texts (a code without one: nothing to do)."""
    cached = getattr(board_app, "redacted", None)
    if cached is not None:
        cached.cache_clear()


async def main(args: argparse.Namespace, folder: str) -> None:
    url = f"sqlite+aiosqlite:///{folder}/board.db"
    await fill(url, args.tickets, args.chars)
    settings = Settings(wechat_token="benchtoken", wechat_app_id="wxbench",
                        wechat_app_secret=SecretStr("secret"), database_url=url,
                        store_save_interval=0)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        first = (await (await client.get("/board")).text()).split('href="/board/')[1]
        number = first.split('"')[0]
        scenarios: list[tuple[str, str, Callable[[], None] | None]] = [
            ("page", "/board", None), ("page-5", "/board?page=5", None),
            ("entry", f"/board/{number}", None),
            ("search-cold", "/board?q=路灯", forget),
            ("search-warm", "/board?q=路灯", None)]
        results: dict[str, list[tuple[float, float]]] = {s: [] for s, _, _ in scenarios}
        for round_ in range(args.rounds):
            for name, path, before in scenarios:
                count = max(3, args.count // 10) if name.startswith("search") else args.count
                results[name].append(await timed(client, path, count, before))
            print(f"-- round {round_ + 1}/{args.rounds} done", flush=True)
    finally:
        await client.close()
    print(f"\n{args.tickets} published tickets, ~{args.chars} characters each in the "
          "description and the answer")
    print("| scenario | best round, median ms | median round, median ms | worst loop stall ms |")
    print("|---|---:|---:|---:|")
    for name, rounds in results.items():
        medians = sorted(r[0] for r in rounds)
        print(f"| {name} | {medians[0]:.1f} | {statistics.median(medians):.1f} | "
              f"{max(r[1] for r in rounds):.1f} |")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1500)
    parser.add_argument("--chars", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db.upgrade(f"sqlite+aiosqlite:///{folder}/board.db")  # Alembic runs its own loop
        asyncio.run(main(args, folder))

if __name__ == "__main__":
    cli()
