"""The routing catalogue as the bot reads it: from the database, re-checked every ``ttl``.

``lianxin config load`` writes a new catalogue; every worker sees it within ``ttl`` seconds
without a restart. Between checks the last catalogue is served from memory, and when the
database cannot be read the last good one keeps serving (logged), so a blip does not stop
intake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from domain.catalogue import Catalogue
from storage.catalogue import CatalogueRepository

log = logging.getLogger(__name__)


class CatalogueCache:
    def __init__(self, repository: CatalogueRepository, *, ttl: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._repository = repository
        self._ttl = ttl
        self._clock = clock
        self._catalogue: Catalogue | None = None
        self._digest: str | None = None
        self._checked = -float("inf")
        self._refreshing = asyncio.Lock()

    @property
    def current(self) -> Catalogue | None:
        """The catalogue last read (``None`` before the first read or when none is loaded)."""
        return self._catalogue

    def require(self) -> Catalogue:
        """:attr:`current`, for code that runs only once :meth:`get` found one."""
        if self._catalogue is None:
            raise LookupError("no routing catalogue loaded: run `lianxin config load`")
        return self._catalogue

    async def get_or_none(self) -> Catalogue | None:
        """:meth:`get`, or ``None`` (logged) when the catalogue cannot be read: for the
        answers that only name things by it."""
        try:
            return await self.get()
        except Exception:
            log.exception("routing catalogue unreadable")
            return None

    async def get(self) -> Catalogue | None:
        """The current catalogue, read again from the database when ``ttl`` has passed."""
        if self._clock() - self._checked < self._ttl:
            return self._catalogue
        async with self._refreshing:
            if self._clock() - self._checked < self._ttl:  # another task just read it
                return self._catalogue
            try:
                meta = await self._repository.meta()
                if meta is None:
                    self._catalogue, self._digest = None, None
                elif meta.digest != self._digest or self._catalogue is None:
                    self._catalogue = await self._repository.load()
                    self._digest = meta.digest if self._catalogue is not None else None
                    if self._catalogue is not None:
                        log.info("routing catalogue of %s loaded (%s)",
                                 self._catalogue.county, meta.digest[:12])
            except Exception:
                if self._catalogue is None:
                    raise
                log.exception("routing catalogue not re-read; the last one keeps serving")
            self._checked = self._clock()
            return self._catalogue
