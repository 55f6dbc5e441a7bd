"""Running ``lianxin`` as an operator does, for the command-line tests: a fresh SQLite
database migrated to head, an environment without the caller's ``LIANXIN_*`` settings,
and the command in a child process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from storage import db

ROOT = Path(__file__).resolve().parents[1]


def cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a command: ``LIANXIN_DATABASE_URL`` on a new migrated SQLite
    file in ``tmp_path``, and ``settings`` (``LIANXIN_…`` names) on top."""
    url = f"sqlite+aiosqlite:///{tmp_path}/lianxin-cli.db"
    db.upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    env.update(LIANXIN_DATABASE_URL=url, **settings)
    return env


async def lianxin(*args: str, env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    """``lianxin ARGS…``: its exit status, standard output and standard error."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode())
    return proc.returncode or 0, out.decode(), err.decode()
