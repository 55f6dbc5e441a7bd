"""The public board as an aiohttp application to mount at ``/board``: no sign-in, read
only. It shows what ``storage/board.py`` publishes, redacted by ``domain.redact`` at the
moment it is drawn (a better rule applies to everything shown from then on)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.board import BoardEntry
from domain.catalogue import Catalogue
from domain.display import department_name
from domain.redact import names_in, redact
from domain.texts import Texts
from domain.tickets import NUMBER
from domain.workdays import CHINA
from storage.board import Board
from storage.catalogue_cache import CatalogueCache

HERE = Path(__file__).parent
PREFIX = "/board"
PAGE = 20
SCANNED = 1000  # the newest published tickets a search looks through
FILTERS = ("kind", "category", "region", "department")


@dataclass(frozen=True, slots=True)
class Parts:
    """What the board reads, bound at start-up (the engine exists then)."""

    engine: Callable[[], AsyncEngine]
    catalogues: Callable[[], CatalogueCache]
    texts: Texts


PARTS = web.AppKey("board_parts", Parts)


@dataclass(frozen=True, slots=True)
class Shown:
    """A published ticket as the page shows it: redacted, named."""

    number: str
    kind: str
    category: str
    region: str
    department: str
    description: str
    answer: str
    filed: str
    answered: str
    on_time: bool | None


@functools.lru_cache(maxsize=4096)
def redacted(description: str, answer: str) -> tuple[str, str]:
    """The description and the answer as the board shows them (kept for the next page
    that shows or searches them: redaction costs about a millisecond a ticket)."""
    names = names_in(description, answer)  # a name found in one, hidden in both
    return redact(description, names), redact(answer, names)


def _shown(entry: BoardEntry, catalogue: Catalogue | None, texts: Texts) -> Shown:
    description, answer = redacted(entry.description, entry.answer)
    categories = {} if catalogue is None else {c.id: c.name for c in catalogue.categories}
    regions = {} if catalogue is None else {r.id: r.name for r in catalogue.regions}
    return Shown(
        number=entry.number, kind=entry.kind,
        category=categories.get(entry.category, entry.category),
        region=(regions.get(entry.region, entry.region) if entry.region
                else texts("board_no_region")),
        department=(entry.department if catalogue is None
                    else department_name(catalogue, entry.department)),
        description=description, answer=answer,
        filed=f"{entry.created_at.astimezone(CHINA):%Y-%m-%d}",
        answered=f"{entry.answered_at.astimezone(CHINA):%Y-%m-%d}", on_time=entry.on_time)


def _clean(query: Mapping[str, str]) -> dict[str, str]:
    """The filters and search as given, each a short plain text (anything else is
    ignored, never an error)."""
    kept = {}
    for name in (*FILTERS, "q", "page"):
        value = query.get(name, "").strip()
        if value and len(value) <= 64 and value.isprintable():
            kept[name] = value
    return kept


async def index(request: web.Request) -> web.Response:
    parts = request.app[PARTS]
    query = _clean(request.query)
    catalogue = await parts.catalogues().get_or_none()
    board = Board(parts.engine())
    filters: dict[str, Any] = {k: query.get(k) for k in FILTERS}
    page = int(query["page"]) if query.get("page", "").isdecimal() else 1
    page = max(1, min(page, 10_000))
    first = (page - 1) * PAGE
    words = query.get("q", "")
    if words:  # in what is shown, never in what was redacted away: the newest SCANNED
        found = await board.latest(**filters, limit=SCANNED)
        matched = await asyncio.to_thread(  # off the loop that answers WeChat
            lambda: [s for s in (_shown(e, catalogue, parts.texts) for e in found)
                     if words in s.number or words in s.description or words in s.answer])
        total, shown = len(matched), matched[first:first + PAGE]
    else:  # a page of the board: 20 read, 20 redacted
        total = await board.count(**filters)
        shown = [_shown(e, catalogue, parts.texts)
                 for e in await board.latest(**filters, offset=first, limit=PAGE)]
    return aiohttp_jinja2.render_template("board.html", request, {
        "entries": shown, "total": total, "query": query,
        "catalogue": catalogue,
        "kinds": [] if catalogue is None else list(catalogue.deadlines),
        "previous": (urlencode({**query, "page": page - 1}) if page > 1 else None),
        "next": (urlencode({**query, "page": page + 1})
                 if first + PAGE < total else None)})


async def one(request: web.Request) -> web.Response:
    parts = request.app[PARTS]
    number = request.match_info["number"].upper()
    entry = (await Board(parts.engine()).one(number)
             if NUMBER.fullmatch(number) else None)
    if entry is None:
        return aiohttp_jinja2.render_template("missing.html", request, {}, status=404)
    catalogue = await parts.catalogues().get_or_none()
    return aiohttp_jinja2.render_template("entry.html", request, {
        "e": _shown(entry, catalogue, parts.texts)})


@web.middleware
async def headers(request: web.Request,
                  handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPNotFound:
        response = aiohttp_jinja2.render_template("missing.html", request, {}, status=404)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; script-src 'none'; frame-ancestors 'none'")
    return response


def board_app(parts: Parts) -> web.Application:
    app = web.Application(middlewares=[headers])
    app[PARTS] = parts
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                               autoescape=jinja2.select_autoescape(default=True),
                               undefined=jinja2.StrictUndefined)
    texts = parts.texts
    env.globals["t"] = lambda key, **values: texts(key, **{k: str(v)
                                                           for k, v in values.items()})
    env.globals["prefix"] = PREFIX
    app.router.add_static("/static", HERE / "static")
    app.router.add_get("", index)
    app.router.add_get("/", index)
    app.router.add_get("/{number}", one)
    return app
