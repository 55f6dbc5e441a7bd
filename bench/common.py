"""Helpers shared by the benchmarks (``bench/callback.py``, ``bench/outbox.py``).

Child processes (started pinned, logged, stopped on every way out and killed with the bench),
CPU accounting from /proc, free loopback ports, readiness checks, signal handling and a line
describing the machine. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class BenchError(Exception):
    """The run cannot go on (a child failed to start, a step failed); the text says why."""


def new_aes_key() -> str:
    """A fresh EncodingAESKey: 43 characters of base64 for 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode("ascii").rstrip("=")


# -- processes and CPU -----------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _child_setup(cpu: int | None, pin_here: bool) -> Callable[[], None]:
    """Runs in the child before exec: die with the bench, and pin if taskset is missing."""
    libc = ctypes.CDLL(None, use_errno=True)

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if pin_here and cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return setup


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1])."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process, from /proc."""
    fields = stat_fields(pid)
    if fields is None:
        raise BenchError(f"process {pid} is gone")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Children:
    """Every process the bench starts itself; :meth:`stop_all` runs on every way out."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self._taskset = shutil.which("taskset")

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
              cpu: int | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` as ``name`` (log in ``name.log``), pinned to ``cpu`` if given."""
        log_path = self._log_dir / f"{name}.log"
        command = list(argv)
        if cpu is not None and self._taskset:
            command = [self._taskset, "-c", str(cpu), *command]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_child_setup(cpu, pin_here=self._taskset is None),
            )
        self._procs[name] = (proc, log_path)
        return proc

    def log_text(self, name: str) -> str:
        entry = self._procs.get(name)
        if entry is None or not entry[1].exists():
            return ""
        return entry[1].read_text(errors="replace")

    def log_tail(self, name: str, lines: int = 20) -> str:
        return "\n".join(self.log_text(name).splitlines()[-lines:])

    def pid(self, name: str) -> int:
        """The pid of a running child; :class:`BenchError` if it has exited."""
        self.check_alive(name)
        return self._procs[name][0].pid

    def check_alive(self, name: str) -> None:
        proc, _ = self._procs[name]
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with status {proc.returncode}:\n"
                             f"{self.log_tail(name)}")

    def stop(self, name: str) -> None:
        entry = self._procs.pop(name, None)
        if entry is None:
            return
        proc, _ = entry
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def names(self) -> list[str]:
        return list(self._procs)

    def stop_all(self) -> None:
        """Stop every child, the last started first (clients before the servers they call)."""
        for name in reversed(list(self._procs)):
            self.stop(name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_http_ready(children: Children, name: str, url: str, *,
                          check: Callable[[], None] | None = None) -> None:
    """Wait until ``url`` answers 200, the child ``name`` being alive all along.

    ``check`` runs before every try (to stop the wait early, say once a signal came).
    """
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
        while True:
            if check is not None:
                check()
            children.check_alive(name)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            if time.monotonic() > deadline:
                raise BenchError(f"{name} did not answer {url} within {START_TIMEOUT:.0f} s:\n"
                                 f"{children.log_tail(name)}")
            await asyncio.sleep(0.05)


# -- signals ---------------------------------------------------------------------------------


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def handle_stop_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt, so every way out cleans up."""
    # Ctrl-C interrupts even when started in the background, where SIGINT comes ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)


# -- report ----------------------------------------------------------------------------------


def machine_line() -> str:
    """CPUs, CPU model, memory, Python, commit and time of the run, on one line."""
    model = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True,
                                   check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    memory = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    return (f"nproc {os.cpu_count()}, {model}, {memory}, Python {platform.python_version()}, "
            f"commit {commit or '?'}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


# -- entry point -----------------------------------------------------------------------------


def run_to_end(run: Coroutine[Any, Any, None], children: Children, work_dir: Path, *,
               time_limit: float, keep_logs: bool, kept: str) -> bool:
    """Run ``run`` to its end; False, once stderr says why, if the run could not complete.

    Every child is stopped on every way out; ``work_dir`` (holding ``kept``) is removed
    unless ``keep_logs``.
    """
    try:
        asyncio.run(run)
    except TimeoutError:
        print(f"bench: time limit of {time_limit:.0f} s reached", file=sys.stderr)
        return False
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return False
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return False
    finally:
        children.stop_all()
        if keep_logs:
            print(f"bench: {kept} kept in {work_dir}", file=sys.stderr)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return True
