"""Logs a flood cannot fill: identical lines summarised, client errors without tracebacks.

Anyone on the internet can send the callback URL malformed requests by the thousand. Each
refusal is worth knowing about, not worth a line each:

* :class:`Summary` lets the first :data:`BURST` lines of one kind through per
  :data:`PERIOD`, counts the rest, and at the end of the period writes one line
  "… (and N more like it in the last minute)";
* :class:`ServerLog` is the logger the application's HTTP server writes to (passed as the
  ``logger`` handler argument). aiohttp answers a request its parser cannot read with 400
  and logs it at ERROR with a full traceback; here such a client error becomes one
  WARNING line without traceback, counted by a :class:`Summary`. Anything else (a real
  fault of ours, a 500) is logged exactly as aiohttp logs it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

BURST = 3  # lines of one kind written per period before counting starts
PERIOD = 60.0  # seconds
MAX_KINDS = 512  # kinds tracked at once; the oldest windows are settled beyond it
_DETAIL = 120  # characters of a client error's own message kept in the line


class _Window:
    __slots__ = ("count", "level", "start", "text")

    def __init__(self, start: float, level: int) -> None:
        self.start = start
        self.level = level
        self.count = 0  # lines of this kind in the window, written or not
        self.text = ""  # the last line counted but not written


class Summary:
    """Per kind of line: :data:`BURST` lines per :data:`PERIOD`, then one line counting
    the rest when the period ends.

    The count is written by a timer on the running event loop; without one (a caller
    outside the loop) it is written with the first line of that kind after the period.
    """

    def __init__(self, logger: logging.Logger, *, burst: int | None = None,
                 period: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self.burst = BURST if burst is None else burst
        self.period = PERIOD if period is None else period
        self._clock = clock
        self._windows: dict[Hashable, _Window] = {}

    def log(self, level: int, kind: Hashable, msg: str, *args: object) -> None:
        """Log ``msg % args`` at ``level`` unless this ``kind`` is over its burst."""
        if not self._logger.isEnabledFor(level):
            return
        now = self._clock()
        window = self._windows.get(kind)
        if window is not None and now - window.start >= self.period:
            self._settle(kind, window)
            window = None
        if window is None:
            if len(self._windows) >= MAX_KINDS:
                oldest = min(self._windows, key=lambda k: self._windows[k].start)
                self._settle(oldest, self._windows[oldest])
            window = self._windows[kind] = _Window(now, level)
        window.count += 1
        if window.count <= self.burst:
            self._logger.log(level, msg, *args, stacklevel=2)  # the caller's line
            return
        window.text = msg % args if args else msg
        if window.count == self.burst + 1:  # the first line held back: count until the end
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            loop.call_later(max(0.0, window.start + self.period - now), self._expire, kind,
                            window)

    def flush(self) -> None:
        """Write the counts of every window now (at shutdown)."""
        for kind, window in list(self._windows.items()):
            self._settle(kind, window)

    def _expire(self, kind: Hashable, window: _Window) -> None:
        if self._windows.get(kind) is window:
            self._settle(kind, window)

    def _settle(self, kind: Hashable, window: _Window) -> None:
        del self._windows[kind]
        held = window.count - self.burst
        if held > 0:
            span = "minute" if self.period == 60 else f"{self.period:g} s"
            self._logger.log(window.level, "%s (and %d more like it in the last %s)",
                             window.text, held, span)


def one_line(text: str, limit: int = _DETAIL) -> str:
    """``text`` on one line of printable characters, at most ``limit`` long."""
    flat = " ".join(text.split())
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


_ExcInfo = (
    bool | BaseException
    | tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None] | None
)


def _exception(exc_info: _ExcInfo) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1]
    if exc_info:
        return sys.exc_info()[1]
    return None


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """The HTTP server's logger: a client's malformed request is one short line.

    aiohttp's ``RequestHandler`` logs a request its parser refused as
    ``logger.exception("Error handling request from %s", …, exc_info=exc)`` (at DEBUG for
    non-HTTP bytes on a new connection). Those become one line at WARNING (or the lower
    level aiohttp chose), all kinds sharing one :class:`Summary` budget, so a flood of
    varied garbage still writes :data:`BURST` lines a period. Every other record passes
    through unchanged.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self.summary = Summary(logger)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = _exception(kwargs.get("exc_info"))
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            self.summary.log(min(level, logging.WARNING), "parser",
                             "malformed HTTP request refused (%d %s): %s", exc.code,
                             type(exc).__name__, one_line(exc.message))
            return
        super().log(level, msg, *args, **kwargs)


def server_log() -> ServerLog:
    """A :class:`ServerLog` over aiohttp's own ``aiohttp.server`` logger."""
    return ServerLog(logging.getLogger("aiohttp.server"))
