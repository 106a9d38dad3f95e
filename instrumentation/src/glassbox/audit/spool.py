"""The fail-open spool: audit events the log could not take, kept on disk until it can.

Each process appends such events to a file of its own, ``GLASSBOX_AUDIT_SPOOL_DIR/spool-<pid>-<random>.jsonl``
(one JSON line per event, fsynced), and holds an exclusive ``flock`` on it while it lives. When the log takes
writes again, the process moves its file's events into the chain, in order, and empties the file. A file whose
lock can be taken belongs to a process that has ended (a crash, a restart, a scale-down): the next process that
sweeps the directory moves its events into the chain and removes it. So a spooled event survives a restart.

An event that cannot reach the spool directory either waits in memory (bounded); past that bound it is dropped.
The caller counts both. A process that dies between writing a spooled event into the log and emptying its
spool file leaves that event to be written a second time by the sweep: same event ``id``, a later ``seq``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from glassbox.audit.chain import canonical

MEMORY_LIMIT = 10_000
SWEEP_SECONDS = 60.0
PATTERN = "spool-*.jsonl"

Append = Callable[[Mapping[str, Any]], Any]
AppendMany = Callable[[Sequence[Mapping[str, Any]]], Any]
# Events moved in one call of a log's append_many (one transaction of the central log).
BATCH = 500


def _move(events: Sequence[Mapping[str, Any]], append: Append, append_many: AppendMany | None) -> None:
    if append_many is not None:
        append_many(events)
    else:
        for event in events:
            append(event)


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
        try:
            total += len(_events(path.read_bytes())[0])
        except OSError:
            continue
    return total


class Spool:
    """One process's spool: its file in ``directory``, a bounded memory queue, and sweeps of dead processes'."""

    def __init__(self, directory: Path, on_unreadable: Callable[[int], None], memory_limit: int = MEMORY_LIMIT) -> None:
        self.directory = directory
        self.memory: deque[dict[str, Any]] = deque()
        self.memory_limit = memory_limit
        # Told how many lines of a swept file could not be read (a process killed mid-write tore one).
        self.on_unreadable = on_unreadable
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
        except OSError:
            if len(self.memory) >= self.memory_limit:
                return "dropped"
            self.memory.append(dict(event))
            return "memory"

    def _own(self) -> int:
        if self._descriptor is not None and self._pid == os.getpid():
            return self._descriptor
        self.after_fork()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
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

    def drain(self, append: Append, append_many: AppendMany | None = None) -> int:
        """Move this process's waiting events into the log, then, when a sweep is due, those of ended
        processes. Returns how many moved; an append that fails is re-raised and what is left stays.
        ``append_many`` (a log that writes a batch atomically) moves them BATCH at a time."""
        moved = self._drain_own(append, append_many)
        while self.memory:
            batch = [self.memory[i] for i in range(min(len(self.memory), BATCH if append_many else 1))]
            _move(batch, append, append_many)
            for _ in batch:
                self.memory.popleft()
            moved += len(batch)
        if self.sweep_due():
            self._last_sweep = time.monotonic()
            moved += self._sweep(append, append_many)
        return moved

    def _drain_own(self, append: Append, append_many: AppendMany | None) -> int:
        if not self._on_disk or self._descriptor is None or self._pid != os.getpid():
            return 0
        size = os.fstat(self._descriptor).st_size
        data = os.pread(self._descriptor, size - self._moved_bytes, self._moved_bytes)
        lines = data.split(b"\n")[:-1]
        step = BATCH if append_many else 1
        for start in range(0, len(lines), step):
            chunk = lines[start : start + step]
            _move([json.loads(line) for line in chunk], append, append_many)
            self._moved_bytes += sum(len(line) + 1 for line in chunk)
            self._on_disk -= len(chunk)
        os.ftruncate(self._descriptor, 0)
        self._moved_bytes, self._on_disk = 0, 0
        return len(lines)

    def _orphans(self) -> list[Path]:
        """Spool files of other processes, oldest first (a file another sweep removes meanwhile is skipped)."""
        found = []
        try:
            paths = [p for p in self.directory.glob(PATTERN) if p != self._path]
        except OSError:
            return []
        for path in paths:
            try:
                found.append((path.stat().st_mtime, path))
            except OSError:
                continue
        return [path for _, path in sorted(found)]

    def _sweep(self, append: Append, append_many: AppendMany | None) -> int:
        moved = 0
        for path in self._orphans():
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except OSError:
                continue  # another process swept it first
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
                        _move([json.loads(line) for line in chunk], append, append_many)
                        done += len(chunk)
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
