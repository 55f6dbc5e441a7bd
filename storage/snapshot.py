"""The in-process store kept across restarts: a snapshot file and a journal of open forms.

Without Redis everything the edge remembers — conversation states, nonces, dedupe marks,
cached replies, customer-service windows, consents — lives in one process's
:class:`~storage.memory.MemoryStore`. :class:`KeptStore` keeps it in files beside the
database (``lianxin.db`` → ``lianxin.db.store.json`` and friends, :func:`files_for`):

* **Snapshot** (``….store.json``): entries with their expiry as wall-clock time (the
  store's clock is ``time.monotonic()``, which means nothing to another process). Written
  atomically (a temporary file, fsync, ``os.replace``; mode 0600, it holds personal data):
  *complete* at start-up and at a graceful stop (marked ``clean`` then); and every
  ``interval`` seconds while the store changes, in the background (encoded and written in
  a thread, from a copy taken in one step), with the *lasting* keys only — not the
  per-message ones (nonces, dedupe marks, cached replies, locks), whose number grows with
  the traffic of the last ten minutes and would make every save cost that much. Read back
  at start-up; expired entries are dropped, and so are locks: their holders died with the
  process.
* **Journal** (``….store.journal``, and ``.journal.1`` from before the last snapshot): a
  line ``SEQ OPEN KEY`` appended (a plain ``write``, no fsync: it must survive the process,
  not the machine) whenever a conversation state with an open form is written, or one that
  had a form is written without it. Nothing else is journaled, so a message outside a form
  costs a string comparison. Each snapshot records the last ``SEQ`` it contains.

After a stop that was not graceful (``kill -9``, a crash) the snapshot is up to
``interval`` seconds old, and holds no nonces or dedupe marks. The journal lines after it
name exactly the users whose form changed since: their last line says whether a form was
open when the process died. If it was, the saved state is older than what the citizen last
answered (or there is none): it is replaced by the ``lost`` state, which makes the bot say
once that the form was lost to a restart instead of reading the next answer against an
older question. If the form had been closed (filed, cancelled), the stale saved state is
dropped. Everyone else gets their state back as saved, and a citizen who never had a form
is never told anything.

One process keeps one set of files (an ``flock`` on ``….store.lock``); a second process
on the same database runs with a store that is not kept, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import itertools
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from storage.memory import MemoryStore

log = logging.getLogger(__name__)

FORMAT = "lianxin-store"
VERSION = 1
DEFAULT_BASE = "lianxin.store"  # in the working directory, on a database other than SQLite
_CHUNK = 2000  # entries encoded per call, so the event loop's thread gets the GIL between


@dataclass(frozen=True, slots=True)
class StoreFiles:
    snapshot: Path
    journal: Path
    previous_journal: Path
    lock: Path


def files_for(database_url: str) -> StoreFiles | None:
    """Where the in-process store is kept for a database: beside a SQLite file
    (``lianxin.db`` → ``lianxin.db.store.json``), ``./lianxin.store.json`` on another
    database; ``None`` for an in-memory SQLite database, which keeps nothing either."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        base = DEFAULT_BASE
    elif not url.database or url.database == ":memory:" or "mode=memory" in str(url):
        return None
    else:
        base = f"{url.database}.store"
    return StoreFiles(Path(f"{base}.json"), Path(f"{base}.journal"),
                      Path(f"{base}.journal.1"), Path(f"{base}.lock"))


@dataclass(frozen=True, slots=True)
class Forms:
    """What the journal follows, told by the application (storage does not know the shape
    of a conversation): the state keys' ``prefix``, whether a state's JSON text holds an
    open form (``is_open``: called on every state write, so no parsing), and the state that
    replaces a form lost in a crash (``lost``, given the saved state's text if any), kept
    ``lost_ttl`` seconds."""

    prefix: str
    is_open: Callable[[str], bool]
    lost: Callable[[str | None], str]
    lost_ttl: float


class SnapshotError(Exception):
    """The snapshot file cannot be used; the text says why."""


@dataclass(slots=True)
class Snapshot:
    entries: dict[str, tuple[str, float | None]]  # key → (JSON text, seconds left)
    seq: int  # the last journal line it contains
    clean: bool  # written at a graceful stop
    complete: bool  # with the transient entries too (not a background save)
    written_at: float
    skipped: int  # entries that were not readable


def read_snapshot(path: Path, *, skip: tuple[str, ...] = (), unchecked: tuple[str, ...] = (),
                  now: float | None = None) -> Snapshot | None:
    """The snapshot at ``path``, without expired entries or keys starting with ``skip``;
    ``None`` if there is none; :class:`SnapshotError` if it is not one. Every value must
    be JSON text, else it is skipped — but values under the ``unchecked`` prefixes are not
    parsed: short-lived and many (nonces), they would make start-up cost seconds."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(f"cannot read it: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SnapshotError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnapshotError("not a lianxin store snapshot")
    if doc.get("version") != VERSION:
        raise SnapshotError(f"version {doc.get('version')!r}, this release reads {VERSION}")
    seq, written_at = doc.get("journal_seq"), doc.get("written_at")
    values, expiries = doc.get("values"), doc.get("expires")
    if not (isinstance(seq, int) and seq >= 0 and isinstance(doc.get("clean"), bool)
            and isinstance(doc.get("complete"), bool)
            and isinstance(written_at, (int, float)) and _finite(written_at)
            and isinstance(values, dict) and isinstance(expiries, dict)):
        raise SnapshotError("its header is damaged")
    wall = time.time() if now is None else now
    entries: dict[str, tuple[str, float | None]] = {}
    skipped = 0
    for key, text in values.items():
        expires = expiries.get(key)
        if not (isinstance(text, str) and (expires is None or _finite(expires))
                and (key.startswith(unchecked) or _json(text))):
            skipped += 1
        elif key.startswith(skip):
            continue
        elif expires is None:
            entries[key] = (text, None)
        elif expires > wall:  # an expired entry is dropped here, not restored to lapse
            entries[key] = (text, expires - wall)
    return Snapshot(entries, seq, doc["clean"], doc["complete"], float(written_at), skipped)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_journal(paths: tuple[Path, ...], *, after: int,
                 prefix: str) -> tuple[dict[str, bool], int]:
    """Per key under ``prefix``, whether its last line after ``after`` had a form open;
    and the highest sequence number seen. Lines that do not parse (a torn last line) are
    skipped."""
    last: dict[str, tuple[int, bool]] = {}
    top = after
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("in-process store: journal %s unreadable (%s)", path,
                        exc.strerror or exc)
            continue
        for line in data.split(b"\n")[:-1]:  # a last line without its newline is torn
            parts = line.split(b" ", 2)
            if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in (b"0", b"1"):
                continue
            seq = int(parts[0])
            try:
                key = parts[2].decode("utf-8")
            except UnicodeDecodeError:
                continue
            top = max(top, seq)
            if seq > after and key.startswith(prefix) and seq > last.get(key, (0, False))[0]:
                last[key] = (seq, parts[1] == b"1")
    return {key: opened for key, (_, opened) in last.items()}, top


def write_snapshot(path: Path, values: dict[str, str], expires: dict[str, float], *,
                   seq: int, clean: bool, complete: bool, written_at: float) -> None:
    """Write atomically: a temporary file (mode 0600) beside ``path``, fsync, rename.
    ``expires``: wall-clock expiry of the keys of ``values`` that have one."""
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    header = encoder.encode({"format": FORMAT, "version": VERSION, "written_at": written_at,
                             "clean": clean, "complete": complete, "journal_seq": seq})
    text = "".join((header[:-1], ',"values":', _object(encoder, values), ',"expires":',
                    _object(encoder, expires), "}"))
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.",
                                     suffix=".tmp")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(path.parent)


def _object(encoder: json.JSONEncoder, mapping: dict[str, Any]) -> str:
    """``mapping`` as a JSON object, encoded a chunk at a time: in a thread, the event
    loop gets the GIL back between chunks instead of waiting for the whole encoding."""
    items = iter(mapping.items())
    parts = []
    while chunk := dict(itertools.islice(items, _CHUNK)):
        parts.append(encoder.encode(chunk)[1:-1])
    return "{" + ",".join(parts) + "}"


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Journal:
    """Appends ``SEQ OPEN KEY`` for the state writes that open, change or close a form;
    the store calls :meth:`wrote` (it is the store's :class:`~storage.memory.Watcher`)."""

    def __init__(self, files: StoreFiles, forms: Forms, seq: int) -> None:
        self.prefix = forms.prefix
        self.seq = seq
        self._is_open = forms.is_open
        self._files = files
        self._fd: int | None = None
        self._rotated_at = seq  # every line of the previous journal is at most this
        self._failing = False

    def open(self, *, fresh: bool) -> None:
        """Start appending; ``fresh`` removes both journals first (a snapshot that
        contains everything they say has just been written)."""
        if fresh:
            self.remove()
        self._fd = self._open_file()

    def _open_file(self) -> int | None:
        try:
            fd = os.open(self._files.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)
            return fd
        except OSError as exc:
            self._fault("cannot open", exc)
            return None

    def wrote(self, key: str, new: str | None, old: str | None) -> None:
        is_open = self._is_open
        opened = new is not None and is_open(new)
        if not opened and (old is None or not is_open(old)):
            return  # no form before or after: nothing a restart could lose
        self.seq += 1
        if self._fd is None:
            return
        try:
            os.write(self._fd, f"{self.seq} {1 if opened else 0} {key}\n".encode())
        except OSError as exc:
            self._fault("cannot write", exc)
        else:
            self._failing = False

    def rotate(self, saved_seq: int) -> None:
        """At a snapshot: what comes next goes to a new journal, and the current one
        becomes the previous — unless the previous still holds lines no saved snapshot
        contains (the last write failed), then both stay as they are."""
        if self._fd is None or self._rotated_at > saved_seq:
            return
        try:
            os.replace(self._files.journal, self._files.previous_journal)
        except OSError as exc:
            self._fault("cannot rotate", exc)
            return
        os.close(self._fd)
        self._fd = self._open_file()
        self._rotated_at = self.seq

    def close(self, *, remove: bool) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove:
            self.remove()

    def remove(self) -> None:
        for path in (self._files.journal, self._files.previous_journal):
            with contextlib.suppress(OSError):
                path.unlink()

    def _fault(self, what: str, exc: OSError) -> None:
        if not self._failing:  # once per run of failures, not once per message
            log.error("in-process store: %s journal %s (%s); forms lost in a crash may "
                      "not be announced", what, self._files.journal, exc.strerror or exc)
        self._failing = True


class KeptStore:
    """A :class:`MemoryStore` kept in files across restarts (see the module's text).

    :meth:`open` restores it, :meth:`keep` saves it while it changes, :meth:`close`
    saves it at a graceful stop.
    """

    def __init__(self, store: MemoryStore, files: StoreFiles, journal: Journal,
                 lock_fd: int) -> None:
        self.store = store
        self.files = files
        self._journal = journal
        self._lock_fd = lock_fd
        self._saving = asyncio.Lock()
        self._saved_seq = -1  # the journal line the snapshot on disk contains
        self._saved_changes = -1
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, store: MemoryStore, files: StoreFiles, forms: Forms, *,
                   transient: tuple[str, ...] = (),
                   skip: tuple[str, ...] = ()) -> KeptStore | None:
        """Restore ``store`` from ``files`` and start journaling; ``None`` (logged) when
        another process keeps these files. ``transient``: prefixes of the per-message keys,
        left out of the background saves (they cost what the traffic of the last minutes
        left); ``skip``: prefixes never restored (locks: their holders are gone)."""
        lock_fd = _lock(files.lock)
        if lock_fd is None:
            return None
        _remove_temporaries(files.snapshot)
        snapshot: Snapshot | None = None
        problem = ""
        try:
            snapshot = read_snapshot(files.snapshot, skip=skip, unchecked=transient)
        except SnapshotError as exc:
            problem = str(exc)
            try:
                os.replace(files.snapshot, f"{files.snapshot}.corrupt")
                problem += f"; kept as {files.snapshot}.corrupt"
            except OSError:
                pass
        after = snapshot.seq if snapshot is not None else 0
        last, top = read_journal((files.previous_journal, files.journal), after=after,
                                 prefix=forms.prefix)
        entries = snapshot.entries if snapshot is not None else {}
        lost = 0
        for key, opened in last.items():
            saved = entries.pop(key, None)  # older than the citizen's last answer
            if opened:
                entries[key] = (forms.lost(None if saved is None else saved[0]),
                                forms.lost_ttl)
                lost += 1
        count = store.restore((key, text, left) for key, (text, left) in entries.items())
        _report(files.snapshot, snapshot, problem, count, lost)
        journal = Journal(files, forms, top)
        kept = cls(store, files, journal, lock_fd)
        # what was read is now on disk as a snapshot, so the old journals can go; if that
        # write fails they stay, and still name the forms the older snapshot lacks
        journal.open(fresh=await kept.save(clean=False, complete=True))
        store.track(transient=transient, watcher=journal)
        return kept

    async def save(self, *, clean: bool = False, complete: bool = True) -> bool:
        """Write the store as it is now (``complete=False``: its lasting keys only);
        ``False`` (logged) if the write failed."""
        async with self._saving:
            changes = self.store.changes
            values, expires, clock = self.store.image(lasting_only=not complete)
            wall = time.time()
            seq = self._journal.seq
            self._journal.rotate(self._saved_seq)
            try:
                await asyncio.to_thread(self._write, values, expires, clock, wall, seq,
                                        clean, complete)
            except OSError as exc:
                log.error("in-process store: cannot save %s (%s); a restart now loses what "
                          "changed since the last save", self.files.snapshot,
                          exc.strerror or exc)
                return False
            self._saved_seq = seq
            self._saved_changes = changes
            return True

    def _write(self, values: dict[str, str], expires: dict[str, float], clock: float,
               wall: float, seq: int, clean: bool, complete: bool) -> None:
        at_wall = {key: wall + (at - clock) for key, at in expires.items()}
        write_snapshot(self.files.snapshot, values, at_wall, seq=seq, clean=clean,
                       complete=complete, written_at=wall)

    def keep(self, interval: float) -> None:
        """Save the lasting keys every ``interval`` seconds while they change, until
        :meth:`close`."""
        self._task = asyncio.create_task(self._keep(interval), name="store-snapshot")

    async def _keep(self, interval: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            if self.store.changes == self._saved_changes:
                continue
            try:
                await self.save(complete=False)
            except Exception:
                log.exception("in-process store: background save failed")

    async def close(self) -> None:
        """The graceful stop: the last save, of everything, marked clean; then the journals
        go. Once."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._task is not None:
            await self._task  # never cancelled mid-write: an older file could land last
        saved = await self.save(clean=True, complete=True)
        self.store.untrack()
        self._journal.close(remove=saved)
        if saved:
            log.info("in-process store: saved %d entries to %s", len(self.store),
                     self.files.snapshot)
        os.close(self._lock_fd)


def _lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        log.error("in-process store: cannot open %s (%s); the store is not kept across "
                  "restarts", path, exc.strerror or exc)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        log.warning("in-process store: another process keeps %s; this one's store is not "
                    "kept across restarts", path)
        return None
    return fd


def _remove_temporaries(snapshot: Path) -> None:
    """Temporary files of writes a crash interrupted (only the lock holder writes)."""
    with contextlib.suppress(OSError):
        for leftover in snapshot.parent.glob(f"{glob.escape(snapshot.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _report(path: Path, snapshot: Snapshot | None, problem: str, count: int,
            lost: int) -> None:
    """One line at start-up saying what was restored."""
    lost_note = (f"; {lost} form(s) changed after it and lost, their citizens will be told"
                 if lost else "")
    if problem:
        log.error("in-process store: %s is unusable (%s); starting empty%s", path, problem,
                  lost_note)
    elif snapshot is None:
        log.info("in-process store: nothing saved at %s; starting empty%s", path, lost_note)
    else:
        age = max(0.0, time.time() - snapshot.written_at)
        how = "at a graceful stop" if snapshot.clean else "while running (the process did " \
            "not stop gracefully" + ("" if snapshot.complete else "; nonces, dedupe marks " \
            "and cached replies are not in a background save") + ")"
        skipped = f", {snapshot.skipped} unreadable entries skipped" if snapshot.skipped else ""
        log.log(logging.INFO if snapshot.clean else logging.WARNING,
                "in-process store: restored %d entries from %s, saved %.0f s ago %s%s%s",
                count, path, age, how, skipped, lost_note)
