"""The fail-open spool: audit events the log could not take, kept on disk until it can.

Each process appends such events to a file of its own, ``GLASSBOX_AUDIT_SPOOL_DIR/spool-<pid>-<random>.jsonl``
(one JSON line per event, fsynced; a private file, created with ``O_EXCL`` in a directory of mode 0700), and
holds an exclusive ``flock`` on it while it lives. When the log takes writes again, the process moves its file's
events into the chain, in order, a batch at a time, and empties the file: the caller's ``hold`` (the app's audit
lock) is taken around each batch only, never around the whole spool. A file whose lock can be taken belongs to
a process that has ended (a crash, a restart, a scale-down): the next process that sweeps the directory moves its
events into the chain and removes it. So a spooled event survives a restart. A spool file of another user, a
symbolic link, or one others may write, is never read into the chain.

An event that cannot reach the spool directory either waits in memory (bounded); past that bound it is dropped.
The caller counts both. A process that dies between writing a spooled event into the log and emptying its
spool file leaves that event to be written a second time by the sweep: same event ``id``, a later ``seq``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from glassbox import private_files
from glassbox.audit.chain import canonical

MEMORY_LIMIT = 10_000
SWEEP_SECONDS = 60.0
PATTERN = "spool-*.jsonl"
READ_BLOCK = 65536

Append = Callable[[Mapping[str, Any]], Any]
AppendMany = Callable[[Sequence[Mapping[str, Any]]], Any]
Hold = Callable[[], AbstractContextManager[Any]]
Moved = Callable[[list[Any]], None]
# Events moved in one call of a log's append_many (one transaction of the central log).
BATCH = 500


def _move(events: Sequence[Mapping[str, Any]], append: Append, append_many: AppendMany | None) -> list[Any]:
    """Append ``events``; returns the records the log returned."""
    if append_many is not None:
        return list(append_many(events) or [])
    return [append(event) for event in events]


def _events(data: bytes) -> tuple[list[bytes], int]:
    """The whole lines of a spool file, and how many lines are unreadable or torn."""
    lines, bad = [], 0
    for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        if not line:
            continue
        try:
            json.loads(line)
        except ValueError:
            bad += 1
            continue
        lines.append(line)
    return lines, bad


def waiting(directory: Path) -> int:
    """Events waiting in every spool file of ``directory``, of live and ended processes (for `audit verify`)."""
    total = 0
    for path in directory.glob(PATTERN) if directory.is_dir() else []:
        try:  # what a sweep would refuse to move (a link, another user's file) does not wait to be moved
            total += len(_events(private_files.read_file(path))[0])
        except OSError:
            continue
    return total


class Spool:
    """One process's spool: its file in ``directory``, a bounded memory queue, and sweeps of dead processes'."""

    def __init__(
        self,
        directory: Path,
        on_unreadable: Callable[[int], None],
        memory_limit: int = MEMORY_LIMIT,
        on_refused: Callable[[OSError], None] | None = None,
    ) -> None:
        self.directory = directory
        self.memory: deque[dict[str, Any]] = deque()
        self.memory_limit = memory_limit
        # Told how many lines of a swept file could not be read (a process killed mid-write tore one).
        self.on_unreadable = on_unreadable
        # Told when a spool file or the directory is refused as unsafe (glassbox.private_files).
        self.on_refused = on_refused
        self._pid = 0
        self._descriptor: int | None = None
        self._path: Path | None = None
        self._on_disk = 0
        self._moved_bytes = 0  # the start of this process's file already moved into the log
        self._last_sweep: float | None = None

    # ------------------------------------------------------------------ putting
    def pending(self) -> int:
        """Events of this process not yet in the log."""
        return self._on_disk + len(self.memory)

    def put(self, event: Mapping[str, Any]) -> str:
        """Keep ``event`` for later: ``disk``, ``memory``, or ``dropped`` (memory full too)."""
        try:
            descriptor = self._own()
            os.write(descriptor, canonical(event) + b"\n")
            os.fsync(descriptor)
            self._on_disk += 1
            return "disk"
        except OSError as error:
            self._refused(error)
            if len(self.memory) >= self.memory_limit:
                return "dropped"
            self.memory.append(dict(event))
            return "memory"

    def _refused(self, error: OSError) -> None:
        if isinstance(error, private_files.UnsafeFileError) and self.on_refused is not None:
            self.on_refused(error)

    def _own(self) -> int:
        if self._descriptor is not None and self._pid == os.getpid():
            return self._descriptor
        self.after_fork()
        path = self.directory / f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        descriptor = private_files.open_file(path, os.O_RDWR | os.O_APPEND, new=True)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise
        self._descriptor, self._path, self._pid = descriptor, path, os.getpid()
        return descriptor

    def after_fork(self) -> None:
        """In a forked child: the parent's file, lock and queued events stay the parent's."""
        if self._descriptor is not None and self._pid != os.getpid():
            os.close(self._descriptor)  # the parent's descriptor keeps its lock
            self._descriptor, self._path, self._on_disk, self._moved_bytes = None, None, 0, 0
            self.memory.clear()

    def close(self) -> None:
        """Let go of this process's file: what waits in it is left to the next sweep of the directory."""
        if self._descriptor is not None and self._pid == os.getpid():
            os.close(self._descriptor)
        self._descriptor, self._path, self._on_disk, self._moved_bytes = None, None, 0, 0

    # ------------------------------------------------------------------ draining
    def sweep_due(self) -> bool:
        return self._last_sweep is None or time.monotonic() - self._last_sweep >= SWEEP_SECONDS

    def drain(
        self,
        append: Append,
        append_many: AppendMany | None = None,
        hold: Hold = contextlib.nullcontext,
        on_moved: Moved | None = None,
    ) -> int:
        """Move this process's waiting events into the log, then, when a sweep is due, those of ended
        processes. Returns how many moved; an append that fails is re-raised and what is left stays.
        ``append_many`` (a log that writes a batch atomically) moves them BATCH at a time, else one at a time;
        ``hold`` is entered around each batch (a lock the caller shares with the other writers of the spool) and
        ``on_moved`` is told each batch's records after it is let go."""
        moved = 0
        while True:
            with hold():
                records = self.step(append, append_many)
            if records is None:
                break
            moved += len(records)
            if on_moved is not None:
                on_moved(records)
        if self.sweep_due():
            self._last_sweep = time.monotonic()
            moved += self._sweep(append, append_many, hold, on_moved)
        return moved

    def step(self, append: Append, append_many: AppendMany | None = None) -> list[Any] | None:
        """Move the next batch of this process's waiting events (its file first, then memory) and return the
        records written; None when nothing of this process waits. Call it under the lock ``put`` is called under."""
        size = BATCH if append_many else 1
        if self._on_disk and self._descriptor is not None and self._pid == os.getpid():
            lines, end = self._next_lines(size)
            records: list[Any] | None = None
            if lines:
                events, bad = [], 0
                for line in lines:
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        bad += 1
                records = _move(events, append, append_many) if events else []
                if bad:
                    self.on_unreadable(bad)
                self._moved_bytes = end
                self._on_disk -= len(lines)
            if not lines or self._moved_bytes >= os.fstat(self._descriptor).st_size:
                os.ftruncate(self._descriptor, 0)
                self._moved_bytes, self._on_disk = 0, 0
            if records is not None:
                return records
        if self.memory:
            batch = [self.memory[i] for i in range(min(len(self.memory), size))]
            records = _move(batch, append, append_many)
            for _ in batch:
                self.memory.popleft()
            return records
        return None

    def _next_lines(self, count: int) -> tuple[list[bytes], int]:
        """Up to ``count`` whole lines of this process's file after what was moved, and the offset after them."""
        assert self._descriptor is not None
        data, offset = b"", self._moved_bytes
        while data.count(b"\n") < count:
            chunk = os.pread(self._descriptor, READ_BLOCK, offset + len(data))
            if not chunk:
                break
            data += chunk
        lines = data.split(b"\n")[:-1][:count]
        return [line for line in lines if line], offset + sum(len(line) + 1 for line in lines)

    def _orphans(self) -> list[Path]:
        """Spool files of other processes, oldest first (a file another sweep removes meanwhile is skipped)."""
        found = []
        try:
            paths = [p for p in self.directory.glob(PATTERN) if p != self._path]
        except OSError:
            return []
        for path in paths:
            try:
                found.append((path.lstat().st_mtime, path))
            except OSError:
                continue
        return [path for _, path in sorted(found)]

    def _sweep(self, append: Append, append_many: AppendMany | None, hold: Hold, on_moved: Moved | None) -> int:
        moved = 0
        for path in self._orphans():
            try:
                descriptor = private_files.open_file(path, os.O_RDWR, create_directory=False)
            except OSError as error:
                self._refused(error)
                continue  # refused, or another process swept it first
            try:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive and will move them itself
                lines, bad = _events(os.pread(descriptor, os.fstat(descriptor).st_size, 0))
                done, step = 0, BATCH if append_many else 1
                try:
                    for start in range(0, len(lines), step):
                        chunk = lines[start : start + step]
                        with hold():
                            records = _move([json.loads(line) for line in chunk], append, append_many)
                        done += len(chunk)
                        if on_moved is not None:
                            on_moved(records)
                except Exception:
                    if done:  # keep only what is still to move
                        os.ftruncate(descriptor, 0)
                        os.pwrite(descriptor, b"".join(line + b"\n" for line in lines[done:]), 0)
                        os.fsync(descriptor)
                    raise
                moved += done
                if bad:
                    self.on_unreadable(bad)
                os.ftruncate(descriptor, 0)  # a process that opened it before the unlink finds it empty
                path.unlink(missing_ok=True)
            finally:
                os.close(descriptor)
        return moved
