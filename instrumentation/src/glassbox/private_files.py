"""Files only this account may change: the audit log, its checkpoints, the spool, the signing key, the state files.

A directory glassbox creates is mode 0700 (every missing parent too), a file 0600, or 0640 where a group reader is
documented (the audit log and its checkpoints, for an auditors' group: give that group read and search access
to the directory yourself, ``chmod 0750``). What already exists is used only when it is safe:

* it is not a symbolic link (the last component is opened with ``O_NOFOLLOW``; a file is opened relative to
  its directory's descriptor, so the directory checked is the one written into);
* it is owned by this process's effective user, or by root (who can change anything anyway);
* neither its group nor others may write to it;
* a private key is not readable by others either;
* a file that must be new (a spool file, a new key) is created with ``O_EXCL``.

Anything else raises :class:`UnsafeFileError` (an :class:`OSError`, so a caller that handles a failing disk
handles a refusal the same way) whose message names the path and the reason.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
GROUP_READABLE_MODE = 0o640
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafeFileError(PermissionError):
    """A file or directory glassbox refuses to use: a symbolic link, another user's, or writable by others."""


def _check(path: str, status: os.stat_result, *, secret: bool = False) -> None:
    """Refuse ``path`` (described by ``status``, from fstat of the opened descriptor) unless it is safe."""
    owner, euid = status.st_uid, os.geteuid()
    if owner not in (euid, 0):
        raise UnsafeFileError(
            errno.EPERM, f"owned by uid {owner}, not by this process's user (uid {euid}) or root", path
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o022:
        raise UnsafeFileError(errno.EPERM, f"writable by its group or by others (mode {mode:04o})", path)
    if secret and mode & 0o007:
        raise UnsafeFileError(errno.EPERM, f"a private key readable by others (mode {mode:04o})", path)


def _open_directory(path: str) -> int:
    try:
        descriptor = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise UnsafeFileError(errno.ELOOP, "a symbolic link, not a directory", path) from None
        raise
    try:
        _check(path, os.fstat(descriptor))
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def open_directory(path: str | Path, create: bool = True) -> int:
    """A descriptor of the directory ``path`` (the caller closes it), after the checks above; missing
    directories, parents included, are created with mode 0700 when ``create``."""
    try:
        return _open_directory(os.fspath(path) or ".")
    except FileNotFoundError:
        if not create:
            raise
    missing = []
    parent = Path(path)
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIRECTORY_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile: checked below like any existing one
    return _open_directory(os.fspath(path))


def open_file(
    path: str | Path,
    flags: int,
    *,
    group_readable: bool = False,
    secret: bool = False,
    new: bool = False,
    create_directory: bool = True,
) -> int:
    """Open ``path`` with ``flags`` (``os.O_*``; add ``os.O_CREAT`` to create it) after checking its directory,
    without following a symbolic link, and check the file itself; returns the descriptor (the caller closes it).

    ``new``: the file must not exist yet (``O_CREAT | O_EXCL``). A file created here is mode 0600, or 0640 when
    ``group_readable``. ``secret``: a private key, also refused when others may read it.
    """
    mode = GROUP_READABLE_MODE if group_readable else FILE_MODE
    if new:
        flags |= os.O_CREAT | os.O_EXCL
    text = os.fspath(path)
    parent, name = os.path.split(text)
    directory = open_directory(parent or ".", create=create_directory and bool(flags & os.O_CREAT))
    try:
        try:
            descriptor = os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=directory)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise UnsafeFileError(errno.ELOOP, "a symbolic link", text) from None
            raise
    finally:
        os.close(directory)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UnsafeFileError(errno.EPERM, "not a regular file", text)
        _check(text, status, secret=secret)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def read_file(path: str | Path, *, secret: bool = False) -> bytes:
    """The whole content of an existing private file (checked as :func:`open_file` does)."""
    descriptor = open_file(path, os.O_RDONLY, secret=secret, create_directory=False)
    with os.fdopen(descriptor, "rb") as file:
        return file.read()


def write_new_file(path: str | Path, data: bytes, *, secret: bool = False) -> None:
    """Create ``path``, which must not exist yet (``O_EXCL``), with ``data``, fsynced; mode 0600."""
    descriptor = open_file(path, os.O_WRONLY, new=True, secret=secret)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
