"""``Server: lianxin`` on every response, never aiohttp's ``Python/3.x aiohttp/3.x``.

A version in the ``Server`` header tells a scanner which published faults to try.

aiohttp fills the header with its module default ``SERVER_SOFTWARE`` when a response has
none. An ``on_response_prepare`` hook would not be enough: the answers aiohttp writes
itself, to a request its parser refused, reach no application hook. So the default is
replaced, which covers both (``tests/test_edge_hostile.py`` checks an application response
and a parser refusal, so an aiohttp that renames the default fails the suite).
"""

from __future__ import annotations

from aiohttp import web_response

SERVER = "lianxin"


def hide_server_version() -> None:
    """Make every response of this process say ``Server: lianxin`` (idempotent)."""
    vars(web_response)["SERVER_SOFTWARE"] = SERVER
