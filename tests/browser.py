"""A real browser for the console and board tests: the distribution's Chromium (installed
by ``make test`` with apt-get), driven by Playwright's Python client. Playwright never
downloads a browser here: it is given the executable. Screenshots go to
``$LIANXIN_SCREENSHOTS`` when set (``make screenshots`` writes ``docs/console/``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

# the flags a headless Chromium needs as root on a machine with no network beyond loopback
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def chromium() -> str:
    """The distribution's Chromium (``LIANXIN_CHROMIUM`` to use another); a clear failure,
    never a skip, when there is none: ``make test`` installs it."""
    found = os.environ.get("LIANXIN_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    assert found, "no Chromium: `make test` installs the distribution's (apt-get chromium)"
    return found


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


async def page_of(launched: Browser, viewport: dict[str, int] | None = None) -> Page:
    """A page in a fresh context (its own cookies), Chinese locale."""
    context = await launched.new_context(viewport=viewport or DESKTOP,  # type: ignore[arg-type]
                                         locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    return await context.new_page()


async def shot(page: Page, name: str) -> None:
    """A screenshot for the docs, when ``LIANXIN_SCREENSHOTS`` names a folder."""
    folder = os.environ.get("LIANXIN_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def sign_in(page: Page, base: str, login: str, password: str) -> None:
    await page.goto(f"{base}/console/login")
    await page.get_by_label("登录名").fill(login)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录", exact=True).click()
    await page.wait_for_load_state()


async def overflows(page: Page) -> Any:
    """How far the page is wider than the window (0: no sideways scrolling)."""
    return await page.evaluate(
        "document.documentElement.scrollWidth - window.innerWidth")


async def unlabelled(page: Page) -> Any:
    """The controls a screen reader could not name: no label, no aria-label."""
    return await page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !e.getAttribute('aria-labelledby'))
        .map(e => e.name || e.id)""")
