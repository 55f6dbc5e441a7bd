"""CPU per message of the citizen desk, in-process: the handler alone, without HTTP.

What the callback bench cannot separate from aiohttp and AES. On a temporary SQLite file
with the demo county's catalogue loaded (as `make run` does), one process times:

- ``router-only`` (the baseline): the dispatcher with the event routers and none of the
  citizen's, so every text gets the fallback's help text — what the edge's handler did
  before the citizen desk existed;
- ``idle-text``: the callback bench's message ("您好，我想反映一下小区夜间施工噪音扰民的
  问题…") from a user in no flow, answered by the desk (service words, ticket number,
  keyword suggestion);
- ``idle-digit``: "5" from a user in no flow with no survey open: the shape of a survey
  answer, so the survey router asks the database for the user's open surveys before the
  desk answers (issue 12);
- ``flow-step``: a user in the complaint flow answering the description question (the
  engine, the description parser, the photo prompt);
- ``whole-complaint``: a new citizen's eight messages from 我要反映 to 确认, the last one
  filing the ticket in SQLite; reported per message and per ticket;
- ``relayed``: a citizen whose legal consultation a lawyer holds says something: the
  consultation router finds the mark, asks the database, and writes the message and its
  push to the lawyer (issue 13).

Each conversation is stored as JSON between messages, as the stores do. Rounds alternate
the scenarios; the table shows each one's best and median round. On a shared VM the
median swings by half from one run to the next (another guest's load costs this process
CPU time too); the best round is the steadier figure for comparing two commits.

    .venv/bin/python bench/desk.py [--count 20000] [--tickets 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.catalogue_cli import DEFAULT_CATALOGUE, load_catalogue  # noqa: E402
from domain.messages import Inbound, Outbound  # noqa: E402
from domain.texts import Texts  # noqa: E402
from flows.consultation import ConsultationFlow  # noqa: E402
from flows.engine import Engine  # noqa: E402
from handlers.citizen import CitizenDesk  # noqa: E402
from handlers.consult import ConsultDesk  # noqa: E402
from handlers.context import StateContext  # noqa: E402
from handlers.dispatcher import Dispatcher, Update  # noqa: E402
from handlers.events import deliveries, follows, silent  # noqa: E402
from handlers.lawyer import LawyerDesk  # noqa: E402
from handlers.registry import build_dispatcher  # noqa: E402
from handlers.staff import StaffDesk  # noqa: E402
from handlers.survey import SurveyDesk  # noqa: E402
from storage import db  # noqa: E402
from storage.catalogue import CatalogueRepository  # noqa: E402
from storage.catalogue_cache import CatalogueCache  # noqa: E402
from storage.consultations import Consultations, NewConsultation  # noqa: E402
from storage.lawyers import Lawyers  # noqa: E402
from storage.staff import StaffAccounts  # noqa: E402
from storage.surveys import Surveys  # noqa: E402
from storage.tickets import Tickets  # noqa: E402

IDLE_TEXT = "您好，我想反映一下小区夜间施工噪音扰民的问题，请问应该怎么办理？"
DESCRIPTION = "小区门口的路灯坏了一个星期，晚上很黑，老人孩子出门都不方便"
COMPLAINT = ("我要反映", "1", "1", "2", DESCRIPTION, "跳过", "13800138000", "2", "确认")


class Talk:
    """Sends messages through a handler with the state round-tripped through JSON."""

    def __init__(self, router: Dispatcher) -> None:
        self.router = router
        self.sent = 0

    async def say(self, user: str, text: str, stored: Any, *, silent: bool = False) -> Any:
        self.sent += 1
        state = StateContext(json.loads(stored) if stored else None)
        replies = await self.router(
            Inbound("default", user, "text", {"content": text}, message_id=str(self.sent)),
            state)
        if silent:  # relayed: nothing to answer
            if replies:
                raise SystemExit(f"an answer to {text!r}: {replies[0].text!r}")
        elif not replies or not replies[0].text:
            raise SystemExit(f"no answer to {text!r}")
        return json.dumps(state.get(), ensure_ascii=False) if state.changed else stored


async def timed(messages: int, run: Callable[[], Awaitable[None]]) -> float:
    started = time.process_time()
    await run()
    return (time.process_time() - started) / messages * 1e6


async def main(options: argparse.Namespace, url: str) -> None:
    engine = db.make_engine(url)
    await CatalogueRepository(engine).save(load_catalogue(DEFAULT_CATALOGUE),
                                           source=str(DEFAULT_CATALOGUE), digest="bench")
    texts = Texts.load(ROOT / "config" / "texts.toml")
    async def help_text(update: Update) -> list[Outbound]:
        return [Outbound.of_text(texts("help"))]

    events_only = Dispatcher([deliveries(None), follows(texts, None), silent()],
                             fallback=help_text, engine=Engine([], texts))
    # as the bot builds it (bot/app.py default_handler): the staff and lawyer routers ask
    # every message whether a bound member sent it, the survey router whether it is an
    # answer, the consultation router whether the citizen has one open
    catalogue = CatalogueCache(CatalogueRepository(engine))
    staff = StaffDesk(texts, StaffAccounts(engine), Tickets(engine))
    survey = SurveyDesk(texts, Surveys(engine), catalogue)
    lawyers, consultations = Lawyers(engine), Consultations(engine)
    consultation = ConsultationFlow(catalogue.require, consultations, lawyers, texts)
    desk = CitizenDesk(texts, Tickets(engine), catalogue, consultation=consultation)

    async def reach(account: str, openid: str) -> bool:
        return True

    lawyer_desk = LawyerDesk(texts, lawyers, consultations, catalogue, reach)
    consult = ConsultDesk(texts, consultation, catalogue)
    bare, full = Talk(events_only), Talk(build_dispatcher(
        texts, desk, staff=staff, survey=survey, lawyer=lawyer_desk, consult=consult))
    count, tickets = options.count, options.tickets

    # a citizen whose consultation a lawyer holds (their conversation has the mark)
    await catalogue.get()
    li = await lawyers.add("李明", "某所", "14401201810123456", ["labour"])
    code, _ = await lawyers.invite(li.id)
    await lawyers.bind(code, "default", "oLawyer")
    await consultations.ask(NewConsultation(
        idempotency_key="bench", account="default", openid="oAsker", name="张三",
        area="labour", question="公司拖欠工资三个月了怎么办", left_message=False),
        now=datetime.now(UTC))
    await lawyers.set_duty(li.id, True)
    await consultations.take(li, now=datetime.now(UTC))
    asker = json.dumps({"flow": None, "step": None, "data": {}, "expires_at": None,
                        "marks": {"consult": True}})

    in_flow = None
    for text in COMPLAINT[:4]:  # a user waiting at the description question
        in_flow = await full.say("oInFlow", text, in_flow)

    async def router_only() -> None:
        for i in range(count):
            await bare.say(f"u{i % 1000}", IDLE_TEXT, None)

    async def idle_text() -> None:
        for i in range(count):
            await full.say(f"u{i % 1000}", IDLE_TEXT, None)

    async def idle_digit() -> None:  # "5" from a citizen in no form: a survey answer?
        for i in range(count):
            await full.say(f"u{i % 1000}", "5", None)

    async def relayed() -> None:
        for _ in range(count // 10):  # a write each: a tenth as many
            await full.say("oAsker", "老板说下个月再给，我该怎么办？", asker, silent=True)

    async def flow_step() -> None:
        for _ in range(count):
            await full.say("oInFlow", DESCRIPTION, in_flow)

    serial = iter(range(10**9))

    async def whole_complaint() -> None:
        for _ in range(tickets):
            user, stored = f"oNew{next(serial)}", None
            for text in COMPLAINT:
                stored = await full.say(user, text, stored)

    scenarios: dict[str, tuple[int, Callable[[], Awaitable[None]]]] = {
        "router-only": (count, router_only), "idle-text": (count, idle_text),
        "idle-digit": (count, idle_digit), "flow-step": (count, flow_step),
        "whole-complaint": (tickets * len(COMPLAINT), whole_complaint),
        "relayed": (count // 10, relayed),
    }
    for _, run in scenarios.values():  # warm-up: imports, caches, the SQLite file
        await run() if run is not whole_complaint else None
    results: dict[str, list[float]] = {name: [] for name in scenarios}
    for round_ in range(1, options.rounds + 1):
        for name, (messages, run) in scenarios.items():
            micros = await timed(messages, run)
            results[name].append(micros)
            print(f"-- round {round_}/{options.rounds} {name}: {micros:.1f} µs CPU per message",
                  flush=True)
    await engine.dispose()

    base = statistics.median(results["router-only"])
    print(f"\n{count:,} messages per text scenario, {tickets:,} complaints "
          f"({tickets * len(COMPLAINT):,} messages) per round, {options.rounds} rounds; "
          "CPU time of this process (the SQLite thread included)")
    print("| scenario | µs CPU per message: best round | median round "
          "| median over the baseline | rounds |")
    print("|---|---:|---:|---:|---|")
    for name, values in results.items():
        median = statistics.median(values)
        extra = "—" if name == "router-only" else f"+{median - base:.1f} µs"
        print(f"| {name} | {min(values):.1f} | {median:.1f} | {extra} | "
              + " / ".join(f"{v:.1f}" for v in values) + " |")
    per_ticket = statistics.median(results["whole-complaint"]) * len(COMPLAINT)
    print(f"\nwhole complaint: {per_ticket / 1000:.2f} ms CPU per ticket filed "
          f"({len(COMPLAINT)} messages)")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000,
                        help="messages per text scenario and round (default 20000)")
    parser.add_argument("--tickets", type=int, default=500,
                        help="whole complaints per round (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    database = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='lianxin-desk-')}/bench.db"
    db.upgrade(database)  # Alembic runs its own event loop
    asyncio.run(main(arguments, database))
