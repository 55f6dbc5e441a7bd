"""10,000 hostile and mutated requests against a real `lianxin serve`: no 5xx, no traceback,
and at most one short log line per request.

The requests start from real ones (a verification GET and signed, encrypted messages) and
are mutated the way the fault campaign mutated them: query values replaced by non-ASCII
text, broken percent-escapes, huge or repeated parameters, a nonce holding ``]]>``,
bodies truncated, flipped, replaced by junk or by other XML, headers that lie.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.wechat.codec import sha1_signature
from devplatform.state import PlatformState
from tests.citizens import SIGNER
from tests.conftest import TOKEN
from tests.faults.conftest import Workers, prepare_database, worker_env
from tests.wechat import event_xml, text_xml

REQUESTS = 10_000
CONCURRENCY = 16
SEED = 20261130

ODD_VALUES = ["é", "%FF", "%", "%E4%B8", "%zz", "]]>", "<xml>", "%01", "%00", "1e9",
              "-1", "99999999999999999999", "Ａ", "²", "+", "a" * 5000, "%C0%AF", "😀"]


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def _mutate_query(rng: random.Random, params: dict[str, str]) -> str:
    keys = list(params)
    choice = rng.randrange(6)
    if choice == 0:  # a value replaced by something odd, sent as raw bytes
        key = rng.choice(keys)
        raw = {k: quote(v, safe="") for k, v in params.items()}
        raw[key] = rng.choice(ODD_VALUES)
        return "&".join(f"{k}={v}" for k, v in raw.items())
    if choice == 1:  # a parameter dropped
        dropped = rng.choice(keys)
        return _query({k: v for k, v in params.items() if k != dropped})
    if choice == 2:  # a parameter repeated with another value
        key = rng.choice(keys)
        return _query(params) + f"&{key}={quote(rng.choice(ODD_VALUES), safe='')}"
    if choice == 3:  # a huge value
        key = rng.choice(keys)
        return _query({**params, key: "9" * rng.choice((100, 10_000, 60_000))})
    if choice == 4:  # a valid signature over an odd nonce (it is echoed in the reply)
        nonce = rng.choice(["]]>", "a]]>b", "<x>", "é", "n" * 65])
        ts = params["timestamp"]
        return _query({**params, "nonce": nonce,
                       "signature": sha1_signature(TOKEN, ts, nonce)})
    return _query(params)  # untouched query: the body or headers carry the mutation


def _mutate_body(rng: random.Random, body: bytes) -> bytes:
    choice = rng.randrange(7)
    if choice == 0 and body:
        return body[: rng.randrange(len(body))]
    if choice == 1 and body:
        data = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
    if choice == 3:
        return rng.choice([b"<xml><a>&ent;</a></xml>", b"<!DOCTYPE x [<!ENTITY e 'x'>]><xml/>",
                           b"<xml>\x01</xml>", b"<xml>" * 500, "<xml>é".encode("latin-1"),
                           b"<xml><Encrypt><![CDATA[%%%]]></Encrypt></xml>"])
    if choice == 4:
        return body.replace(b"<Encrypt>", b"<Encrypt><![CDATA[AAAA]]>")
    return body


async def _one(session: aiohttp.ClientSession, base: str, rng: random.Random) -> int:
    now = int(time.time())
    if rng.random() < 0.2:  # address verification
        nonce = str(rng.randrange(10**9))
        params = {"signature": sha1_signature(TOKEN, str(now), nonce),
                  "timestamp": str(now), "nonce": nonce, "echostr": "e"}
        url = URL(f"{base}/wechat?{_mutate_query(rng, params)}", encoded=True)
        async with session.get(url) as resp:
            await resp.read()
            return resp.status
    user = f"oHostile{rng.randrange(50)}"
    xml = rng.choice([text_xml(user, rng.choice(["帮助", "你好", "]]>", "我要反映", "1"])),
                      event_xml(user, "TEMPLATESENDJOBFINISH").replace(
                          "</xml>", "<MsgID>99999999999999999999</MsgID>"
                          "<Status>success</Status></xml>"),
                      event_xml(user, "subscribe")])
    signed = SIGNER.sign(xml)
    url = URL(f"{base}/wechat?{_mutate_query(rng, signed.params)}", encoded=True)
    headers = {"Content-Type": "text/xml"}
    if rng.random() < 0.05:
        headers["Content-Encoding"] = rng.choice(["gzip", "br", "x-unknown"])
    body = _mutate_body(rng, signed.body.encode("utf-8"))
    async with session.post(url, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


async def test_ten_thousand_hostile_requests_get_no_5xx_and_flood_no_log(
    workers: Workers, platform: tuple[str, PlatformState], tmp_path: Path,
) -> None:
    base, _ = platform
    env = worker_env(f"sqlite+aiosqlite:///{tmp_path}/hostile.db", base)
    prepare_database(env)
    bot = await workers.start(env, "bot")
    rng = random.Random(SEED)
    statuses: dict[int, int] = {}
    queue = [random.Random(rng.random()) for _ in range(REQUESTS)]

    async def client() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while queue:
                try:
                    status = await _one(session, bot.url, queue.pop())
                except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                    # a 60 kB query line: refused (400) and closed by the HTTP parser
                    status = 0
                statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    assert sum(statuses.values()) == REQUESTS
    assert not [s for s in statuses if s >= 500], statuses
    log = bot.output()
    assert "Traceback" not in log, log[-5000:]
    lines = [line for line in log.splitlines() if "aiohttp.access" not in line]
    assert len(lines) <= REQUESTS // 10, (len(lines), statuses, "\n".join(lines[-40:]))
