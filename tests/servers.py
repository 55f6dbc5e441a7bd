"""Real Redis and PostgreSQL servers for the tests, each on a free loopback port."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s")


@contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server; yields its URL. Fails loudly if redis-server is missing."""
    with redis_process() as (url, _):
        yield url


def start_redis(port: int, data: str | None = None) -> subprocess.Popen[bytes]:
    """redis-server on ``port``; with ``data``, an append-only file there (it survives a
    restart), else nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make test` (it installs it)")
    persistence = (["--save", "", "--appendonly", "yes", "--appendfsync", "always",
                    "--dir", data] if data else ["--save", "", "--appendonly", "no"])
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", *persistence],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_port(port, proc, "redis-server")
    return proc


@contextmanager
def redis_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throw-away redis-server and its process (to stop or stall it in a test)."""
    port = free_port()
    proc = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs it)")
    return found[-1]


class PostgresCluster:
    """A throw-away PostgreSQL cluster that a test can stop, start again, stall and resume.

    PostgreSQL refuses to run as root, so as root the cluster belongs to ``postgres``.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="lianxin-pg-")
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*self._as_user, _pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U",
             "lianxin", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"postgresql+asyncpg://lianxin@127.0.0.1:{self.port}/lianxin"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self._as_user, _pg_bin("postgres"), "-D", self.data, "-p", str(self.port),
             "-k", self.data, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc, "postgres")
        # accepting connections can lag the port by a moment
        for _ in range(100):
            ok = subprocess.run(
                [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ).returncode == 0
            if ok:
                break
            time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, the data stays."""
        if self.proc is None:
            return
        self.resume()
        subprocess.run([*self._as_user, _pg_bin("pg_ctl"), "-D", self.data, "-m", "fast",
                        "-w", "stop"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        self.proc.wait(timeout=15)
        self.proc = None

    def stall(self) -> None:
        """Freeze the postmaster and every backend (SIGSTOP): connections hang."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)
        # runuser stops itself when its child is stopped (job control): wake it too
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)

    def _signal_all(self, sig: signal.Signals) -> None:
        """Signal the postmaster (its pid is in postmaster.pid) and its children."""
        head = subprocess.run([*self._as_user, "head", "-1", f"{self.data}/postmaster.pid"],
                              capture_output=True, text=True, check=True).stdout
        postmaster = int(head.strip())
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                                  text=True).stdout.split()
        for pid in [postmaster, *(int(c) for c in children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def create_database(self) -> None:
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "lianxin",
             "lianxin"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        cluster.create_database()
        yield cluster
    finally:
        cluster.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster; yields an asyncpg SQLAlchemy URL."""
    with postgres_cluster() as cluster:
        yield cluster.url
