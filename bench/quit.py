"""How long ``lianxin dev`` (what ``make run`` starts) takes to return after ``/quit`` and
after Ctrl-C, with nothing pending.

Each run starts ``lianxin dev`` in a fresh temporary folder (its own SQLite database and
``.run/`` logs, free ports, the settings of ``config/dev.env``) on a pseudo-terminal, so the
chat runs in the foreground as it does for a user; once the chat's banner shows, it types
``/quit`` (or Ctrl-C, which the terminal turns into SIGINT for the foreground process) and
measures the time until ``lianxin dev`` has exited, its two children stopped. Runs
alternate between the two ways out. Prints each run and the median and maximum per way.

Usage::

    .venv/bin/python bench/quit.py            # 5 runs of each
    .venv/bin/python bench/quit.py --runs 2

Exit status: 0, or 3 when a run could not complete (``lianxin dev`` did not start, did not
exit within 30 s, or exited with an error). Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import select
import signal
import statistics
import sys
import tempfile
import time

from common import REPO_ROOT, free_port, machine_line

BANNER = b"Type /help for commands."
START_TIMEOUT = 60.0
EXIT_TIMEOUT = 30.0


class RunFailed(Exception):
    pass


def dev_env(bot_port: int, platform_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    for line in (REPO_ROOT / "config" / "dev.env").read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
    env.update(LIANXIN_PORT=str(bot_port),
               LIANXIN_WECHAT_API_BASE=f"http://127.0.0.1:{platform_port}",
               PYTHONPATH=str(REPO_ROOT))
    return env


def read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    seen = b""
    while marker not in seen:
        if time.monotonic() > deadline:
            shown = seen.decode(errors="replace")
            raise RunFailed(f"no {marker!r} in time; output so far:\n{shown}")
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the process is gone
                chunk = b""
            if not chunk:
                raise RunFailed(f"lianxin dev ended early:\n{seen.decode(errors='replace')}")
            seen += chunk
    return seen


def one_run(way: str) -> float:
    """Seconds from the /quit (or Ctrl-C) to lianxin dev's exit."""
    bot_port, platform_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="lianxin-quit-") as work:
        pid, fd = pty.fork()
        if pid == 0:  # the child: lianxin dev on the terminal, in the temporary folder
            os.chdir(work)
            os.execve(sys.executable, [sys.executable, "-m", "bot.cli", "dev",
                                       "--platform-port", str(platform_port)],
                      dev_env(bot_port, platform_port))
        try:
            read_until(fd, BANNER, time.monotonic() + START_TIMEOUT)
            asked = time.monotonic()
            os.write(fd, b"/quit\r" if way == "/quit" else b"\x03")
            deadline = asked + EXIT_TIMEOUT
            while True:  # drain the terminal so the process never blocks writing to it
                finished, status = os.waitpid(pid, os.WNOHANG)
                if finished:
                    took = time.monotonic() - asked
                    break
                if time.monotonic() > deadline:
                    raise RunFailed(f"lianxin dev did not exit within {EXIT_TIMEOUT:g} s")
                ready, _, _ = select.select([fd], [], [], 0.005)
                if ready:
                    with contextlib.suppress(OSError):
                        os.read(fd, 4096)
        except BaseException:
            stop(pid)
            raise
        finally:
            os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RunFailed(f"lianxin dev exited with {code}")
    return took


def stop(pid: int) -> None:
    """SIGTERM (lianxin dev then stops its children), SIGKILL if it does not exit."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + EXIT_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each way out (default 5)")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    times: dict[str, list[float]] = {"/quit": [], "Ctrl-C": []}
    try:
        for i in range(args.runs):
            for way in times:
                took = one_run(way)
                times[way].append(took)
                print(f"run {i + 1} {way:7} {took:6.2f} s", flush=True)
    except RunFailed as exc:
        print(f"bench/quit.py: {exc}", file=sys.stderr)
        return 3
    for way, seconds in times.items():
        print(f"{way:7} median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s "
              f"({len(seconds)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
