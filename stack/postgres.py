"""A PostgreSQL cluster of its own, from Debian's ``postgresql`` package: for `make up`, the tests and benchmarks.

The cluster lives in one directory (``data/`` inside it), listens on 127.0.0.1 only, on the port given, with
its Unix socket in the same directory; the superuser is ``glassbox`` with the password given (scram-sha-256).
``initdb`` and the server refuse to run as root, so as root they run as the ``postgres`` user (``setpriv``) and
the directory is given to that user (moved under its home when that user could not reach it).

    cluster = Cluster(directory, port, password)
    cluster.init()                      # once
    process = cluster.start()           # the server, in the foreground of that process
    cluster.wait_ready()
    cluster.create_database("glassbox")
    url = cluster.url("glassbox")       # postgresql://glassbox:...@127.0.0.1:port/glassbox
    urls = cluster.glassbox_database("glassbox")  # migrated; urls["glassbox_app"]: the apps' writer role
    cluster.stop(process)
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stack import processes

SUPERUSER = "glassbox"
SERVICE_USER = "postgres"
# Server settings for throwaway clusters (tests): durability is not what they check.
FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def bin_dir() -> Path | None:
    """The directory of initdb and postgres: GLASSBOX_BIN_DIR, Debian's newest /usr/lib/postgresql/N/bin, PATH."""
    candidates = []
    if extra := os.environ.get("GLASSBOX_BIN_DIR"):
        candidates.append(Path(extra))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    candidates.extend(debian)
    if found := shutil.which("initdb"):
        candidates.append(Path(found).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def pgaudit_installed(directory: Path | None = None) -> bool:
    """Whether the pgaudit extension is installed for the PostgreSQL in ``directory`` (default: :func:`bin_dir`):
    Debian's postgresql-<major>-pgaudit package, which `make postgres` installs."""
    directory = directory or bin_dir()
    if directory is None:
        return False
    return (directory.parent / "lib" / "pgaudit.so").is_file()


# A free TCP port on loopback, for a cluster of its own (the benchmarks take it from here).
free_port = processes.free_port


def missing_reason() -> str:
    return "PostgreSQL (initdb, postgres) not found in GLASSBOX_BIN_DIR, /usr/lib/postgresql/*/bin or on PATH"


def _as_service_user(argv: Sequence[str]) -> list[str]:
    """``argv`` run as the postgres user when this process is root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups", "--", *argv]


def reachable(directory: Path) -> Path:
    """``directory``, or, as root when the postgres user cannot reach it (a parent without o+x, such as a home
    directory), a directory of that user's own named after it."""
    if os.geteuid() != 0:
        return directory
    parents = [p for p in directory.resolve().parents if p.exists()]
    if all(p.stat().st_mode & 0o001 for p in parents):
        return directory
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:10]
    home = Path(pwd.getpwnam(SERVICE_USER).pw_dir) / "glassbox-clusters"
    home.mkdir(parents=True, exist_ok=True)
    _give_to_service_user(home)
    return home / f"{directory.name}-{digest}"


def _give_to_service_user(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVICE_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


class Cluster:
    def __init__(self, directory: Path, port: int, password: str, settings: Sequence[str] = ()) -> None:
        self.directory = reachable(directory)
        self.data = self.directory / "data"
        self.port = port
        self.password = password
        self.settings = tuple(settings)
        found = bin_dir()
        if found is None:
            raise FileNotFoundError(missing_reason())
        self.bin = found

    def init(self) -> None:
        """Create the cluster (once: an existing one is kept)."""
        if (self.data / "PG_VERSION").exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        _give_to_service_user(self.directory)
        password_file = self.directory / "superuser-password"
        password_file.write_text(self.password + "\n")
        _give_to_service_user(password_file)
        try:
            subprocess.run(
                _as_service_user(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        SUPERUSER,
                        "-E",
                        "UTF8",
                        "--auth-host=scram-sha-256",
                        "--auth-local=scram-sha-256",
                        f"--pwfile={password_file}",
                        "--no-instructions",
                    ]
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"initdb failed: {error.stderr.decode(errors='replace')}") from None
        finally:
            password_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        """The server's command line (it runs in the foreground)."""
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.directory}"]
        for setting in self.settings:
            options += ["-c", setting]
        return _as_service_user([str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), *options])

    def start(self, log: Path | None = None) -> subprocess.Popen[Any]:
        log = log or self.directory / "server.log"
        log.touch()
        _give_to_service_user(log)
        return processes.start(self.command(), log)

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://{quote(user, safe='')}:{secret}@127.0.0.1:{self.port}/{database}"

    def wait_ready(self, process: subprocess.Popen[Any] | None = None, timeout: float = 60.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if process is not None and process.poll() is not None:
                tail = (self.directory / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited with status {process.returncode}:\n{tail}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; returns its URL (as the superuser)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def glassbox_database(self, name: str, logins: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
        """Database ``name`` (created unless it exists) with glassbox's schema, migrated as the superuser, and login
        roles that own nothing: ``logins`` maps a role's name to (its group, its password); default: the apps'
        ``glassbox_app`` in glassbox_writer with a random password. Returns each role's URL, and the superuser's
        under ``admin``."""
        import secrets

        import psycopg

        from glassbox.db import create_login_role, migrate

        admin = self.create_database(name)
        logins = logins or {"glassbox_app": ("glassbox_writer", secrets.token_urlsafe(18))}
        urls = {"admin": admin}
        with psycopg.connect(admin, autocommit=True) as connection:
            migrate(connection, roles=True)
            for role, (group, password) in logins.items():
                create_login_role(connection, role, password, group)
                urls[role] = self.url(name, role, password)
        return urls

    def stop(self, process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: clients disconnected, then a clean stop)."""
        processes.stop(process, timeout, signal.SIGINT)
