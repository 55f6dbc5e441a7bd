"""The before/after transcript of docs/CONVERSATION.md: issue 15's elderly citizen files
by voice and numerals, on the citizen desk of tests/test_citizen_desk.py and a fresh
SQLite database. Run from a checkout's root: ``python -m tests.transcript``."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from storage import db
from tests.citizens import fresh_tickets
from tests.test_citizen_desk import Session

STEPS = [("text", "你好"), ("text", "我要投诉。"), ("text", "一"), ("text", "第二个"),
         ("voice", "楼上邻居家漏水三个月了，物业一直不管。"), ("text", "没有照片"),
         ("text", "一三八 〇〇一三 八〇〇〇"), ("text", "不公开"), ("text", "确认。")]



async def main() -> None:
    path = Path(tempfile.mkdtemp()) / "t.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(db.upgrade, url)
    engine = db.make_engine(url)
    await fresh_tickets(engine)
    session = Session(engine, "oGrandpa")
    for kind, text in STEPS:
        if kind == "voice":
            replies = await session.send("voice", {"media_id": "v1", "format": "amr",
                                                   "recognition": text})
            print(f"> [语音] {text}")
        else:
            replies = await session.say(text)
            print(f"> {text}")
        for reply in replies:
            print("\n".join("< " + line for line in reply.splitlines()))
        print()
    await engine.dispose()



if __name__ == "__main__":
    asyncio.run(main())
